"""The baseline: the ATOL v5 single-receipt endpoint written the common way — FastAPI, pydantic, uvicorn (issue 8).

    FISCAL_CORE_NO_EXTENSIONS=1 FC_BASELINE_DATA=/tmp/baseline \\
        uvicorn --app-dir bench/baselines fastapi_app:app --port 8090 --no-access-log

What it does per ``POST /possystem/v5/{group}/sell``, synchronously in the request (a ``def`` endpoint, so
FastAPI runs it in its thread pool, one fiscal drive behind a lock as one device would be):
1. pydantic parses and validates the ATOL body (typed models, ``Decimal`` money, ``Literal`` enums);
2. the body is mapped to the project's receipt model (``fiscal_core.ffd.receipt.Receipt``);
3. the project's emulated fiscal drive builds the TLV document, computes the fiscal sign and the message MAC,
   and the document, the ATOL report and the external_id index are written in **one durable LMDB commit**
   (sync + metasync, as the drive always commits) — one fsync per receipt, the way a typical service
   commits one transaction per request. Grouping commits across requests is what fiscal_core adds; a
   baseline that fsynced twice (document, then report) would only make the ratio larger.
``GET /possystem/v5/{group}/report/{uuid}`` reads the stored report; ``POST /possystem/v5/getToken`` answers a
fixed token for the sandbox login. The codec is the pure-Python one: ``FISCAL_CORE_NO_EXTENSIONS=1`` is set
here before ``fiscal_core`` is imported (the project's twins: TLV, receipt body, Magma MAC, CRC — the code a
Python service without native extensions runs). Access logs are off (``--no-access-log``) so the baseline is
not charged for printing them. It answers ``status: wait`` like ATOL; the report is ``done`` at once.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import threading
import time
import uuid as uuidlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

os.environ.setdefault("FISCAL_CORE_NO_EXTENSIONS", "1")

from fastapi import FastAPI, Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from fiscal_core import samples
from fiscal_core.drive.drive import FiscalDrive
from fiscal_core.ffd import enums
from fiscal_core.ffd import receipt as model

TOKEN = "baseline-sandbox-token"
GROUP = "sandbox-v5"
VAT = {
    "none": enums.VatRate.NO_VAT,
    "vat0": enums.VatRate.VAT0,
    "vat5": enums.VatRate.VAT5,
    "vat7": enums.VatRate.VAT7,
    "vat10": enums.VatRate.VAT10,
    "vat20": enums.VatRate.VAT20,
    "vat22": enums.VatRate.VAT22,
    "vat105": enums.VatRate.VAT5_105,
    "vat107": enums.VatRate.VAT7_107,
    "vat110": enums.VatRate.VAT10_110,
    "vat120": enums.VatRate.VAT20_120,
    "vat122": enums.VatRate.VAT22_122,
}


class Vat(BaseModel):
    type: Literal["none", "vat0", "vat5", "vat7", "vat10", "vat20", "vat22", "vat105", "vat107", "vat110", "vat120",
                  "vat122"]  # fmt: skip


class MarkCode(BaseModel):
    gs1m: str


class Item(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    price: Decimal = Field(ge=0, le=Decimal("42949672.95"), decimal_places=2)
    quantity: Decimal = Field(gt=0, le=99999.999, decimal_places=6)
    sum: Decimal = Field(ge=0, le=Decimal("42949672.95"), decimal_places=2)
    measure: int = Field(ge=0, le=255)
    payment_method: Literal["full_prepayment", "prepayment", "advance", "full_payment", "partial_payment", "credit",
                            "credit_payment"]  # fmt: skip
    payment_object: int = Field(ge=1, le=33)
    vat: Vat
    mark_code: MarkCode | None = None
    mark_processing_mode: str | None = None


class Payment(BaseModel):
    type: int = Field(ge=0, le=9)
    sum: Decimal = Field(ge=0, le=Decimal("99999999.99"), decimal_places=2)


class Company(BaseModel):
    email: str | None = Field(default=None, max_length=64)
    sno: Literal["osn", "usn_income", "usn_income_outcome", "esn", "patent"] | None = None
    inn: str = Field(pattern=r"^(\d{10}|\d{12})$")
    payment_address: str = Field(max_length=256)


class Client(BaseModel):
    email: str | None = Field(default=None, max_length=64)
    phone: str | None = Field(default=None, max_length=64)


class ReceiptBody(BaseModel):
    client: Client
    company: Company
    items: list[Item] = Field(min_length=1, max_length=100)
    payments: list[Payment] = Field(min_length=1, max_length=10)
    total: Decimal = Field(ge=0, le=Decimal("99999999.99"), decimal_places=2)
    cashier: str | None = Field(default=None, max_length=64)


class Service(BaseModel):
    callback_url: str | None = Field(default=None, max_length=256)


class SellRequest(BaseModel):
    external_id: str = Field(min_length=1, max_length=256)
    timestamp: str
    service: Service | None = None
    receipt: ReceiptBody


class TokenRequest(BaseModel):
    login: str
    password: str = Field(alias="pass")


def kopecks(rub: Decimal) -> int:
    return int((rub * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def to_receipt(req: SellRequest) -> model.Receipt:
    items = []
    for it in req.receipt.items:
        qty: int | Decimal = int(it.quantity) if it.quantity == it.quantity.to_integral_value() else it.quantity
        fields: dict[str, Any] = {
            "name": it.name,
            "price": kopecks(it.price),
            "quantity": qty,
            "sum": kopecks(it.sum),
            "vat": VAT[it.vat.type],
            "subject": enums.ItemSubject(it.payment_object),
            "method": enums.PaymentMethod.FULL_SETTLEMENT,
            "measure": enums.MeasureUnit(it.measure),
        }
        if it.mark_code is not None:
            full = base64.b64decode(it.mark_code.gs1m).decode("ascii")
            fields.update(
                marking=model.MarkingCode(kind=1305, code=full.split("\x1d")[0]),
                marking_mode=int(it.mark_processing_mode or 0),
                check_result=15,  # a real service takes it from the marking check (ОИСМ); the emulator's answer
            )
        items.append(model.Item(**fields))
    total = kopecks(req.receipt.total)
    return model.Receipt(
        settlement_sign=enums.SettlementSign(1),  # приход
        tax_system=enums.TaxSystem.OSN,
        items=tuple(items),
        payments=model.Payments(electronic=sum(kopecks(p.sum) for p in req.receipt.payments if p.type == 1)),
        total=total,
        client_contact=req.receipt.client.email or req.receipt.client.phone,
        cashier=req.receipt.cashier,
        internet=True,
    )


class Store:
    """One emulated fiscal drive and two extra LMDB databases in its environment: reports and external_ids."""

    def __init__(self, path: str) -> None:
        if os.path.exists(os.path.join(path, "data.mdb")):
            self.drive = FiscalDrive.open(path)
        else:
            self.drive = FiscalDrive.create(path, samples.identity(ffd=4), capacity=10_000_000)
            self.drive.open_shift("Кассир Иванова А.П.")
        env = self.drive.store.env
        self.reports = env.open_db(b"baseline_reports")
        self.external_ids = env.open_db(b"baseline_external_ids")
        self.lock = threading.Lock()

    def find(self, external_id: str) -> bytes | None:
        with self.drive.store.env.begin(db=self.external_ids) as txn:
            found = txn.get(external_id.encode())
            return bytes(found) if found is not None else None

    def report(self, uuid: str) -> dict[str, Any] | None:
        with self.drive.store.env.begin(db=self.reports) as txn:
            raw = txn.get(uuid.encode())
            return json.loads(bytes(raw)) if raw is not None else None

    def fiscalize(self, req: SellRequest, receipt: model.Receipt) -> str:
        uuid = str(uuidlib.uuid4())
        drive = self.drive
        with self.lock:
            prepared = drive.prepare([(3, receipt)], keep_going=False)
            (issued,) = prepared.issued
            when = dt.datetime.fromtimestamp(prepared.now_utc).strftime("%d.%m.%Y %H:%M:%S")
            report = {
                "uuid": uuid,
                "error": None,
                "status": "done",
                "payload": {
                    "total": receipt.total / 100,
                    "fn_number": drive.fn_number,
                    "shift_number": issued.shift_number,
                    "receipt_datetime": when,
                    "fiscal_receipt_number": issued.receipt_number,
                    "fiscal_document_number": issued.fd_number,
                    "fiscal_document_attribute": issued.fiscal_sign,
                },
                "timestamp": when,
                "group_code": GROUP,
                "external_id": req.external_id,
            }
            with drive.store.write() as txn:
                drive.write_prepared(txn, prepared)
                txn.put(uuid.encode(), json.dumps(report, ensure_ascii=False).encode(), db=self.reports)
                txn.put(req.external_id.encode(), uuid.encode(), db=self.external_ids)
            drive.applied(prepared)
        return uuid


STATE: dict[str, Store] = {}


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    STATE["store"] = Store(os.environ.get("FC_BASELINE_DATA", "./baseline-data"))
    yield
    STATE.pop("store").drive.store.close()


app = FastAPI(title="ATOL v5 sell, the common way (baseline)", lifespan=lifespan)


def atol_error(status: int, code: int, text: str, **extra: Any) -> JSONResponse:
    body = {"error": {"code": code, "text": text, "type": "system"}, "status": "fail", **extra}
    return JSONResponse(body, status_code=status)


def now_text() -> str:
    return time.strftime("%d.%m.%Y %H:%M:%S")


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/possystem/v5/getToken")
def get_token(body: TokenRequest) -> Any:
    if body.login != "sandbox" or body.password != "sandbox":
        return atol_error(401, 12, "Неверный логин или пароль")
    return {"token": TOKEN, "error": None, "timestamp": now_text()}


@app.post("/possystem/v5/{group}/sell")
def sell(group: str, body: SellRequest, token: str = Header(default="")) -> Any:
    if token != TOKEN:
        return atol_error(401, 11, "Токен не действителен")
    if group != GROUP:
        return atol_error(400, 20, f"Группа ККТ {group} не найдена")
    store = STATE["store"]
    known = store.find(body.external_id)
    if known is not None:
        return atol_error(400, 33, f"В системе существует чек с external_id : {body.external_id}", uuid=known.decode())
    uuid = store.fiscalize(body, to_receipt(body))
    return {"uuid": uuid, "timestamp": now_text(), "error": None, "status": "wait"}


@app.get("/possystem/v5/{group}/report/{uuid}")
def report(group: str, uuid: str, token: str = Header(default="")) -> Any:
    if token != TOKEN:
        return atol_error(401, 11, "Токен не действителен")
    found = STATE["store"].report(uuid)
    if found is None or found["group_code"] != group:
        return atol_error(404, 34, "Состояние чека не найдено")
    return found
