"""End to end over a real socket against ``fiscal-core serve`` (issue 5 acceptance).

One server process for the module (a second tenant provisioned with the CLI beside the sandbox); each test
talks HTTP to it. Shown here: v4 and v5, every operation type, submit → report ``done`` with every payload
field; the QR built from the payload verifies through the receipt check; the reference's ATOL examples (with
today's VAT types); the online-shop prepayment pair; the error contract (a test per documented code); tenant
isolation; the bulk API, change feed and many-results call; signed callbacks; metrics and OpenAPI; and the
drive archives verify afterwards.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import http.server
import json
import pathlib
import re
import socket
import subprocess
import sys
import threading
import time
import uuid as uuidlib
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from apiclient import ROOT, Client, Server

from fiscal_core.api import _fastpath_py, validate
from fiscal_core.ffd import qr

V4_EXAMPLE = {
    "external_id": "17052917561851307",
    "receipt": {
        "client": {"email": "kkt@kkt.ru"},
        "company": {
            "email": "chek@romashka.ru",
            "sno": "osn",
            "inn": "5544332219",
            "payment_address": "http://magazin.ru/",
        },
        "items": [
            {
                "name": "колбаса Клинский Брауншвейгская с/к в/с",
                "price": 1000.00,
                "quantity": 0.3,
                "sum": 300.00,
                "measurement_unit": "кг",
                "payment_method": "full_payment",
                "payment_object": "commodity",
                "vat": {"type": "vat20"},
            },
            {
                "name": "яйцо Окское куриное С0 белое",
                "price": 100.00,
                "quantity": 1.0,
                "sum": 100.00,
                "measurement_unit": "Упаковка 10 шт.",
                "payment_method": "full_payment",
                "payment_object": "commodity",
                "vat": {"type": "vat10"},
            },
        ],
        "payments": [{"type": 1, "sum": 400.0}],
        "vats": [{"type": "vat20", "sum": 50.0}, {"type": "vat10", "sum": 9.09}],
        "total": 400.0,
    },
    "service": {"callback_url": ""},
    "timestamp": "01.02.2017 13:45:00",
}

V5_EXAMPLE = {
    "external_id": "ord-42",
    "timestamp": "01.02.2026 13:45:00",
    "ism_optional": True,
    "service": {"callback_url": ""},
    "receipt": {
        "client": {"email": "buyer@example.com"},
        "company": {
            "email": "chek@shop.example",
            "sno": "osn",
            "inn": "5544332219",
            "payment_address": "https://shop.example",
        },
        "items": [
            {
                "name": "Кроссовки",
                "price": 5000.0,
                "quantity": 1,
                "sum": 5000.0,
                "measure": 0,
                "payment_method": "full_payment",
                "payment_object": 33,
                "vat": {"type": "vat22"},
                "mark_processing_mode": "0",
                "mark_code": {"gs1m": "MDEwNDYwNzQyODc1ODk2MDIxNWNnNXhSPQ=="},
            }
        ],
        "payments": [{"type": 1, "sum": 5000.0}],
        "vats": [{"type": "vat22", "sum": 901.64}],
        "total": 5000.0,
    },
}

PAYLOAD_FIELDS = {
    "fiscal_receipt_number",
    "shift_number",
    "receipt_datetime",
    "total",
    "fn_number",
    "ecr_registration_number",
    "fiscal_document_number",
    "fiscal_document_attribute",
    "fns_site",
    "ofd_inn",
    "ofd_receipt_url",
}
GROUP = {"v4": "sandbox-v4", "v5": "sandbox-v5"}


def cli(data: pathlib.Path, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "fiscal_core", *args, "--data", str(data)], check=True, cwd=ROOT, capture_output=True
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("serve") / "data"
    cli(data, "fleet", "sandbox")
    cli(data, "tenant", "add", "--login", "other", "--password", "pw2", "--inn", "7707083893", "--name", "ООО Другой")
    cli(data, "group", "add", "--tenant", "other", "--code", "other-v5", "--ffd", "1.2", "--capabilities", "marked")
    cli(data, "register", "add", "--group", "other-v5", "--count", "1")
    srv = Server(data).start()
    try:
        yield srv
    finally:
        code = srv.stop()
        assert code == 0, srv.log.read_text()[-3000:]


@pytest.fixture
def api(server: Server) -> Iterator[Client]:
    c = server.client()
    yield c
    c.close()


def sell(version: str, external_id: str | None = None, **receipt: Any) -> dict[str, Any]:
    body = copy.deepcopy(V4_EXAMPLE if version == "v4" else V5_EXAMPLE)
    body["external_id"] = external_id or uuidlib.uuid4().hex
    body["receipt"].update(receipt)
    return body


def basket(version: str, n: int = 12) -> dict[str, Any]:
    """A plain ``n``-item sale, large enough (over ``validate.SCAN_FROM`` bytes) for the fast path's byte reader."""
    body = sell(version)
    items = []
    for k in range(n):
        item: dict[str, Any] = {"name": f"Товар «{k}» — весовой", "price": 10.5 + k, "quantity": 2,
                                "sum": 21.0 + 2 * k, "payment_method": "full_payment",
                                "vat": {"type": "vat22" if k % 2 else "vat10"}}  # fmt: skip
        item.update({"payment_object": 1, "measure": 0} if version == "v5" else {"measurement_unit": "шт"})
        items.append(item)
    total = sum(it["sum"] for it in items)
    body["receipt"].update(items=items, payments=[{"type": 1, "sum": total}], total=total)
    body["receipt"].pop("vats")
    return body


def correction(version: str) -> dict[str, Any]:
    ext = uuidlib.uuid4().hex
    if version == "v4":
        return {
            "external_id": ext,
            "timestamp": "01.06.2026 10:00:00",
            "correction": {
                "company": {"sno": "osn", "inn": "5544332219", "payment_address": "http://magazin.ru/"},
                "correction_info": {"type": "self", "base_date": "01.06.2026", "base_number": "1"},
                "payments": [{"type": 1, "sum": 100.0}],
                "vats": [{"type": "vat20", "sum": 16.67}],
            },
        }
    body = sell("v5", ext)
    rec = body.pop("receipt")
    rec["items"] = [
        {
            "name": "Услуга",
            "price": 100.0,
            "quantity": 1,
            "sum": 100.0,
            "measure": 0,
            "payment_method": "full_payment",
            "payment_object": 4,
            "vat": {"type": "vat22"},
        }
    ]
    rec["payments"] = [{"type": 1, "sum": 100.0}]
    rec["vats"] = [{"type": "vat22", "sum": 18.03}]
    rec["total"] = 100.0
    rec["correction_info"] = {"type": "self", "base_date": "01.06.2026"}
    body["correction"] = rec
    return body


def submit(api: Client, version: str, op: str, body: dict[str, Any], group: str | None = None) -> str:
    status, got = api.post(f"/possystem/{version}/{group or GROUP[version]}/{op}", body)
    assert status == 200, got
    assert got["status"] == "wait" and got["error"] is None
    return str(got["uuid"])


OPS = [
    ("v4", "sell"), ("v4", "sell_refund"), ("v4", "buy"), ("v4", "buy_refund"),
    ("v4", "sell_correction"), ("v4", "buy_correction"),
    ("v5", "sell"), ("v5", "sell_refund"), ("v5", "buy"), ("v5", "buy_refund"),
    ("v5", "sell_correction"), ("v5", "buy_correction"), ("v5", "sell_refund_correction"),
    ("v5", "buy_refund_correction"),
]  # fmt: skip


@pytest.mark.parametrize(("version", "op"), OPS)
def test_every_operation_ends_done_with_every_payload_field_and_a_verifiable_qr(
    api: Client, version: str, op: str
) -> None:
    api.login(version)
    body = correction(version) if "correction" in op else sell(version)
    uuid = submit(api, version, op, body)
    report = api.wait_done(version, GROUP[version], uuid)
    assert report["status"] == "done", report
    assert report["uuid"] == uuid and report["group_code"] == GROUP[version]
    assert report["external_id"] == body["external_id"] and report["device_code"]
    payload = report["payload"]
    assert set(payload) >= PAYLOAD_FIELDS
    assert len(payload["fn_number"]) == 16 and len(payload["ecr_registration_number"]) == 16
    assert payload["fiscal_document_number"] >= 1 and payload["fiscal_receipt_number"] >= 1
    when = time.strptime(payload["receipt_datetime"], "%d.%m.%Y %H:%M:%S")
    expected_total = 400.0 if version == "v4" and "correction" not in op else 100.0 if "correction" in op else 5000.0
    assert payload["total"] == expected_total
    # The QR string built from the payload verifies through the receipt check.
    sign = {"sell": 1, "sell_refund": 2, "buy": 3, "buy_refund": 4}[op.replace("_correction", "") or "sell"]
    params = qr.QrParams(
        t=__import__("datetime").datetime(*when[:6]),
        s=round(payload["total"] * 100),
        fn=payload["fn_number"],
        i=payload["fiscal_document_number"],
        fp=payload["fiscal_document_attribute"],
        n=sign,
        seconds=True,
    )
    status, checked = api.get("/api/v1/check?" + qr.format(params))
    assert status == 200, checked
    assert checked["verified"] is True and checked["form"] == (31 if "correction" in op else 3)
    # ofd_receipt_url points at the same check.
    url = payload["ofd_receipt_url"]
    status, again = api.get(url[url.index("/api/v1/check") :])
    assert status == 200 and again["verified"]
    # A forged fiscal sign does not verify.
    forged = qr.format(qr.QrParams(params.t, params.s, params.fn, params.i, (params.fp + 1) % 2**32, params.n, True))
    status, bad = api.get("/api/v1/check?" + forged)
    assert status == 404 and bad["error"]["fields"][0]["path"] == "fp"


def test_reference_examples_are_accepted_with_todays_vat(api: Client) -> None:
    api.login("v4")
    report = api.wait_done("v4", "sandbox-v4", submit(api, "v4", "sell", sell("v4")))
    assert report["status"] == "done" and report["payload"]["total"] == 400.0
    api.login("v5")
    report = api.wait_done("v5", "sandbox-v5", submit(api, "v5", "sell", sell("v5")))
    assert report["status"] == "done" and report["payload"]["total"] == 5000.0


def test_online_shop_prepayment_then_delivery_offset(api: Client, server: Server) -> None:
    api.login("v5")
    item = {
        "name": "Кроссовки",
        "price": 5000.0,
        "quantity": 1,
        "sum": 5000.0,
        "measure": 0,
        "payment_object": 1,
        "vat": {"type": "vat22"},
    }
    pre = sell("v5", items=[{**item, "payment_method": "full_prepayment"}], payments=[{"type": 1, "sum": 5000.0}])
    done1 = api.wait_done("v5", "sandbox-v5", submit(api, "v5", "sell", pre))
    full = sell("v5", items=[{**item, "payment_method": "full_payment"}], payments=[{"type": 2, "sum": 5000.0}])
    done2 = api.wait_done("v5", "sandbox-v5", submit(api, "v5", "sell", full))
    docs = []
    for done in (done1, done2):
        p = done["payload"]
        t = __import__("datetime").datetime.strptime(p["receipt_datetime"], "%d.%m.%Y %H:%M:%S")
        text = qr.format(
            qr.QrParams(t, 500000, p["fn_number"], p["fiscal_document_number"], p["fiscal_document_attribute"], 1, True)
        )
        status, checked = api.get("/api/v1/check?" + text)
        assert status == 200, checked
        docs.append(json.dumps(checked["document"], ensure_ascii=False))
    # 1214 = 1 (full prepayment) paid electronically, then 1214 = 4 (full settlement) paid by the advance (1215).
    first, second = (json.loads(d) for d in docs)

    def find(obj: Any, key: str) -> list[Any]:
        out = []
        if isinstance(obj, dict):
            for k, v in obj.items():
                if k == key:
                    out.append(v)
                out += find(v, key)
        elif isinstance(obj, list):
            for v in obj:
                out += find(v, key)
        return out

    assert find(first, "paymentType") == [1] and find(first, "ecashTotalSum") == [500000]
    assert find(second, "paymentType") == [4] and find(second, "prepaidSum") == [500000]


def test_duplicate_external_id_returns_the_original_uuid_with_code_33(api: Client) -> None:
    api.login("v5")
    body = sell("v5")
    uuid = submit(api, "v5", "sell", body)
    api.wait_done("v5", "sandbox-v5", uuid)
    status, got = api.post("/possystem/v5/sandbox-v5/sell", body)
    assert status == 400 and got["error"]["code"] == 33 and got["uuid"] == uuid
    assert got["status"] == "done" and got["payload_differs"] is False
    changed = copy.deepcopy(body)
    changed["receipt"]["client"] = {"email": "other@example.com"}
    status, got = api.post("/possystem/v5/sandbox-v5/sell", changed)
    assert status == 400 and got["uuid"] == uuid and got["payload_differs"] is True


def _read_responses(sock: socket.socket, n: int) -> list[tuple[int, dict[str, Any]]]:
    """``n`` HTTP/1.1 responses with Content-Length bodies, read off a raw socket in order."""
    buf = b""
    out: list[tuple[int, dict[str, Any]]] = []
    while len(out) < n:
        head_end = buf.find(b"\r\n\r\n")
        if head_end >= 0:
            head = buf[:head_end].decode("latin-1")
            length = int(re.search(r"(?im)^content-length:\s*(\d+)", head).group(1))  # type: ignore[union-attr]
            if len(buf) >= head_end + 4 + length:
                body = buf[head_end + 4 : head_end + 4 + length]
                out.append((int(head.split(" ", 2)[1]), json.loads(body)))
                buf = buf[head_end + 4 + length :]
                continue
        chunk = sock.recv(65536)
        assert chunk, f"the server closed the connection after {len(out)} responses"
        buf += chunk
    return out


def test_pipelined_registrations_in_one_write_are_answered_in_order_each_on_its_own(api: Client) -> None:
    """Requests that arrive together are validated and journaled together (one loop iteration, one journal
    unit); each still gets its own answer, in request order: a valid one ``wait``, an invalid one 32 with its
    field, a repeat of the first (same external_id, same batch) 33 with the first's uuid."""
    token = api.login("v4")
    first = sell("v4")
    bad = sell("v4", total=-5)
    other = sell("v4")
    bodies = [first, bad, copy.deepcopy(first), other]
    raw = b"".join(
        b"POST /possystem/v4/sandbox-v4/sell HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Token: %s\r\nContent-Length: %d\r\n\r\n%s" % (token.encode(), len(b), b)
        for b in (json.dumps(x, ensure_ascii=False).encode() for x in bodies)
    )
    with socket.create_connection(("127.0.0.1", api.port), timeout=30) as sock:
        sock.sendall(raw)
        answers = _read_responses(sock, len(bodies))
    (s1, a1), (s2, a2), (s3, a3), (s4, a4) = answers
    assert s1 == 200 and a1["status"] == "wait" and a1["error"] is None
    assert s2 == 400 and a2["error"]["code"] == 32
    assert any(f["path"] == "receipt.total" for f in a2["error"]["fields"]), a2
    assert s3 == 400 and a3["error"]["code"] == 33 and a3["uuid"] == a1["uuid"] and a3["payload_differs"] is False
    assert s4 == 200 and a4["status"] == "wait" and a4["uuid"] != a1["uuid"]
    for a in (a1, a4):
        assert api.wait_done("v4", "sandbox-v4", a["uuid"])["status"] == "done"


def atol_error(status: int, body: Any, code: int, http_status: int) -> dict[str, Any]:
    assert status == http_status, body
    err = body["error"]
    assert err["code"] == code and err["error_id"] and err["text"] and err["type"], body
    return err  # type: ignore[no-any-return]


def test_error_contract(api: Client) -> None:
    # 12: wrong password (POST and GET).
    atol_error(*api.post("/possystem/v4/getToken", {"login": "sandbox", "pass": "nope"}), 12, 401)
    atol_error(*api.get("/possystem/v4/getToken?login=sandbox&pass=nope"), 12, 401)
    # 10: no token.
    api.token = None
    atol_error(*api.post("/possystem/v4/sandbox-v4/sell", sell("v4")), 10, 401)
    # 11: expired or unknown token.
    api.token = "bm9wZQ.bm9wZQ"
    atol_error(*api.post("/possystem/v4/sandbox-v4/sell", sell("v4")), 11, 401)
    api.login("v4")
    status, got = api.get("/possystem/v4/getToken?login=sandbox&pass=sandbox")
    assert status == 200 and got["token"] and got["error"] is None
    # 20: a group that is not the token's.
    atol_error(*api.post("/possystem/v5/other-v5/sell", sell("v5")), 20, 401)
    atol_error(*api.post("/possystem/v5/no-such-group/sell", sell("v5")), 20, 401)
    # 21: v4 on an FFD 1.2 group.
    atol_error(*api.post("/possystem/v4/sandbox-v5/sell", sell("v4")), 21, 401)
    # 30: bad or unknown uuid.
    atol_error(*api.get("/possystem/v4/sandbox-v4/report/not-a-uuid"), 30, 400)
    atol_error(*api.get(f"/possystem/v4/sandbox-v4/report/{uuidlib.uuid4()}"), 30, 400)
    # 31: an operation v4 does not have.
    atol_error(*api.post("/possystem/v4/sandbox-v4/sell_refund_correction", correction("v4")), 31, 400)
    # 32: a field error names its path; nothing is stored.
    bad = sell("v4")
    bad["receipt"]["items"][1]["vat"]["type"] = "vat18"
    err = atol_error(*api.post("/possystem/v4/sandbox-v4/sell", bad), 32, 400)
    assert err["fields"][0]["path"] == "receipt.items[1].vat.type" and err["retryable"] is False
    wrong_sum = sell("v4")
    wrong_sum["receipt"]["items"][0]["sum"] = 301.0
    err = atol_error(*api.post("/possystem/v4/sandbox-v4/sell", wrong_sum), 32, 400)
    assert any(f["path"] == "receipt.items[0].sum" for f in err["fields"])
    status, _ = api.get(f"/possystem/v4/sandbox-v4/report/{uuidlib.uuid4()}")
    # 40: malformed JSON; 41: not JSON at all.
    atol_error(*api.post("/possystem/v4/sandbox-v4/sell", b'{"external_id": '), 40, 400)
    status, data, _ = api.request("POST", "/possystem/v4/sandbox-v4/sell", b"x=1", {"Content-Type": "text/plain"})
    atol_error(status, json.loads(data), 41, 415)


def test_code_34_while_a_receipt_waits(server: Server, tmp_path: pathlib.Path) -> None:
    """A hardware-speed group (1 receipt/s) keeps a receipt waiting long enough to see code 34."""
    data = tmp_path / "data"
    cli(data, "fleet", "sandbox")
    cli(data, "group", "add", "--tenant", "sandbox", "--code", "slow-v4", "--ffd", "1.05")
    cli(data, "register", "add", "--group", "slow-v4", "--count", "1", "--profile", "hardware")
    with Server(data) as srv:
        c = srv.client()
        c.login("v4")
        uuids = [submit(c, "v4", "sell", sell("v4"), group="slow-v4") for _ in range(3)]
        status, got = c.get(f"/possystem/v4/slow-v4/report/{uuids[-1]}")
        assert status == 200 and got["status"] == "wait" and got["error"]["code"] == 34 and got["payload"] is None
        assert c.wait_done("v4", "slow-v4", uuids[-1], timeout=30)["status"] == "done"
        c.close()


def test_a_tenant_never_reaches_another_tenants_groups_or_receipts(api: Client, server: Server) -> None:
    api.login("v5")
    mine = submit(api, "v5", "sell", sell("v5"))
    other = server.client()
    other.login("v5", "other", "pw2")
    body = sell("v5")
    body["receipt"]["company"]["inn"] = "7707083893"
    theirs = submit(other, "v5", "sell", body, group="other-v5")
    # B cannot write to A's group, nor read A's receipt through its own group or A's.
    atol_error(*other.post("/possystem/v5/sandbox-v5/sell", sell("v5")), 20, 401)
    atol_error(*other.get(f"/possystem/v5/sandbox-v5/report/{mine}"), 20, 401)
    atol_error(*other.get(f"/possystem/v5/other-v5/report/{mine}"), 30, 400)
    status, got = other.get(f"/api/v1/receipts/{mine}")
    assert status == 404
    status, got = other.post("/api/v1/results", {"uuids": [mine, theirs]})
    assert next(r["status"] for r in got["results"]) == "unknown"
    status, got = other.post(
        "/api/v1/receipts", {"receipts": [{**sell("v5"), "group_code": "sandbox-v5", "operation": "sell"}]}
    )
    assert status == 200 and got["accepted"] == 0 and got["results"][0]["error"]["code"] == "group_not_yours"
    other.wait_done("v5", "other-v5", theirs)
    status, feed = other.get("/api/v1/results?after=0&limit=10000")
    assert {r["uuid"] for r in feed["results"]} == {theirs}
    status, regs = other.get("/api/v1/registers")
    assert {r["group_code"] for r in regs["registers"]} == {"other-v5"}
    other.close()


def test_bulk_submit_results_and_change_feed(api: Client) -> None:
    api.login("v5")
    status, head = api.get("/api/v1/results?after=0&limit=10000")
    cursor = head["next"]
    items = []
    for k in range(60):
        version = "v4" if k % 2 else "v5"
        item = {**sell(version), "group_code": GROUP[version], "operation": "sell"}
        if k % 10 == 3:
            item["receipt"]["total"] = 1.0  # invalid: total mismatch
        items.append(item)
    items.append(dict(items[0]))  # the same external_id twice in one request
    # Large receipts (read by the byte reader), one of them with a total the fast path must refuse as the spec does.
    big = [{**basket(version), "group_code": GROUP[version], "operation": "sell"} for version in ("v4", "v5", "v4")]
    big[2]["receipt"]["total"] += 5
    for b in big:  # the server reads these with the byte reader (with the compiled fast path)
        raw = json.dumps(b, ensure_ascii=False).encode()
        assert len(raw) >= validate.SCAN_FROM and _fastpath_py.scan(raw) is not None
    items += big
    status, got = api.post("/api/v1/receipts", {"receipts": items})
    assert status == 200, got
    results = got["results"]
    assert len(results) == 64
    bad = [k for k, r in enumerate(results) if "error" in r]
    assert bad == [k for k in range(60) if k % 10 == 3] + [63]
    assert all(f["path"].startswith(f"receipts[{k}].") for k in bad for f in results[k]["error"]["fields"])
    assert any(f["path"] == "receipts[63].receipt.total" for f in results[63]["error"]["fields"]), results[63]
    assert results[60]["uuid"] == results[0]["uuid"] and results[60]["duplicate"] is True
    uuids = {r["uuid"] for r in results[:60] + results[61:63] if "uuid" in r}
    assert got["accepted"] == len(uuids) == 56
    for k in (61, 62):  # « », — substituted in every name, each reported at its own path
        paths = [f["path"] for f in results[k]["warnings"]["fields"]]
        assert paths == [f"receipts[{k}].receipt.items[{j}].name" for j in range(12)], results[k]
    seen: set[str] = set()
    deadline = time.monotonic() + 30
    while seen != uuids and time.monotonic() < deadline:
        status, feed = api.get(f"/api/v1/results?after={cursor}&limit=1000&wait=5")
        assert status == 200
        for r in feed["results"]:
            assert r["status"] == "done" and r["fiscal"]["qr"].startswith("t=")
            seen.add(r["uuid"])
        cursor = feed["next"]
    assert seen == uuids
    status, many = api.post("/api/v1/results", {"uuids": sorted(uuids)})
    assert [r["uuid"] for r in many["results"]] == sorted(uuids)
    assert all(r["status"] == "done" for r in many["results"])
    # msgpack both ways.
    import msgspec

    body = msgspec.msgpack.encode({"receipts": [{**sell("v5"), "group_code": "sandbox-v5", "operation": "sell"}]})
    status, data, headers = api.request("POST", "/api/v1/receipts", body, {"Content-Type": "application/msgpack"})
    assert status == 200 and headers["content-type"].startswith("application/msgpack")
    assert msgspec.msgpack.decode(data)["accepted"] == 1


def test_bulk_receipts_are_fiscalized_with_their_own_documents(api: Client) -> None:
    """Every accepted receipt of a bulk request is fiscalized with its own document (its body is encoded ahead,
    beside its journal entry). Each carries its own total here (1–9 items, v4 and v5 in turn, some refused), and
    the fiscal data of every uuid must give that total back."""
    api.login("v5")
    items, totals = [], []
    for k in range(75):
        version = "v4" if k % 3 else "v5"
        item = {**basket(version, 1 + k % 9), "group_code": GROUP[version], "operation": "sell"}
        if k % 11 == 5:
            item["receipt"]["total"] += 1  # refused: its neighbours must not shift into its place
        items.append(item)
        totals.append(round(item["receipt"]["total"] * 100))
    status, got = api.post("/api/v1/receipts", {"receipts": items})
    assert status == 200, got
    results = got["results"]
    assert [k for k, r in enumerate(results) if "error" in r] == [k for k in range(75) if k % 11 == 5]
    want = {r["uuid"]: totals[k] for k, r in enumerate(results) if "uuid" in r}
    assert got["accepted"] == len(want) == 68
    deadline = time.monotonic() + 30
    while True:
        status, many = api.post("/api/v1/results", {"uuids": sorted(want)})
        assert status == 200
        if all(r["status"] == "done" for r in many["results"]) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert {r["uuid"]: r["fiscal"]["total"] for r in many["results"]} == want


def _plain_bulk_element(external_id: str, payment_object: int, mark: str | None = None) -> dict[str, Any]:
    """A bulk element of the native reader's shape (bench/api_load.py's): two lines of one piece, e-mails,
    electronic payment; ``mark``: both lines marked goods with that gs1m code's tail."""
    lines = []
    for k in range(2):
        line: dict[str, Any] = {"name": f"Товар {k}", "price": 12.5, "quantity": 1, "sum": 12.5, "measure": 0,
                                "payment_method": "full_payment", "payment_object": payment_object,
                                "vat": {"type": "vat22"}}  # fmt: skip
        if mark is not None:
            code = f"010460123400{k:02d}0421{mark}\x1d91EE10\x1d92{'A' * 44}"
            line.update(mark_processing_mode="0", mark_code={"gs1m": base64.b64encode(code.encode()).decode()})
        lines.append(line)
    return {
        "group_code": "sandbox-v5",
        "operation": "sell",
        "external_id": external_id,
        "timestamp": "01.06.2026 10:00:00",
        "receipt": {
            "client": {"email": "buyer@example.com"},
            "company": {"email": "shop@example.com", "sno": "osn", "inn": "5544332219", "payment_address": "shop.ru"},
            "items": lines,
            "payments": [{"type": 1, "sum": 25.0}],
            "total": 25.0,
        },
    }


def test_bulk_goods_the_group_has_no_registers_for_are_refused(api: Client) -> None:
    """A bulk receipt of excise goods (1212 = 2) on sandbox-v5, whose registers take marked goods but not excise
    ones, is refused with ATOL's code 32 and the path of its items, before anything is journaled; the same
    receipt of ordinary or marked goods is accepted and fiscalized. (With the native core these elements take
    the native reader, which reports the goods' capability bits; with the twins, the spec's check.)"""
    api.login("v5")
    run = uuidlib.uuid4().hex[:8]
    items = [
        _plain_bulk_element(f"caps-plain-{run}", 1),
        _plain_bulk_element(f"caps-excise-{run}", 2),
        _plain_bulk_element(f"caps-marked-{run}", 33, mark="ABCdef9"),
    ]
    status, got = api.post("/api/v1/receipts", {"receipts": items})
    assert status == 200, got
    plain, excise, marked = got["results"]
    assert got["accepted"] == 2 and "uuid" in plain and "uuid" in marked, got
    error = excise["error"]
    assert error["atol_code"] == 32 and error["retryable"] is False, error
    assert error["fields"] == [{"path": "receipts[1].receipt.items", "code": "capability_missing", "message": "excise"}]
    deadline = time.monotonic() + 30
    while True:
        status, many = api.post("/api/v1/results", {"uuids": [plain["uuid"], marked["uuid"]]})
        assert status == 200
        if all(r["status"] == "done" for r in many["results"]) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert [r["fiscal"]["total"] for r in many["results"]] == [2500, 2500], many


class _Receiver(http.server.BaseHTTPRequestHandler):
    got: ClassVar[list[tuple[dict[str, str], bytes]]] = []
    fail_first: ClassVar[list[bool]] = [True]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.fail_first and self.fail_first.pop():
            self.send_response(500)
        else:
            type(self).got.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_callbacks_are_signed_and_retried(api: Client) -> None:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        api.login("v5")
        body = sell("v5")
        body["service"] = {"callback_url": f"http://127.0.0.1:{httpd.server_address[1]}/cb"}
        uuid = submit(api, "v5", "sell", body)
        deadline = time.monotonic() + 30
        while not _Receiver.got and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _Receiver.got, "no callback arrived"
        headers, raw = _Receiver.got[0]
        report = json.loads(raw)
        assert report["uuid"] == uuid and report["status"] == "done"
        _, key = api.get("/api/v1/callback-key")
        expected = "sha256=" + hmac.new(bytes.fromhex(key["key_hex"]), raw, hashlib.sha256).hexdigest()
        assert headers["x-fiscal-signature"] == expected
        # The receiver has the body before the server has its answer: the log says "delivered" a moment later.
        while True:
            _status, log = api.get(f"/api/v1/deliveries/{uuid}")
            results = [d["result"] for d in log["deliveries"]]
            if results[-1:] == ["delivered"] or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert results[0] == "retry" and results[-1] == "delivered", log
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def _registered(metrics: str, status: int) -> int:
    """The sum of ``fiscal_http_requests_total`` for ATOL registrations answered with ``status``."""
    total = 0
    for line in metrics.splitlines():
        if line.startswith("fiscal_http_requests_total{") and f'route="atol_register",status="{status}"' in line:
            total += int(line.rsplit(" ", 1)[1])
    return total


def _stages(metrics: str) -> dict[str, tuple[int, float]]:
    """``fiscal_request_stage_seconds``: (count, sum) by stage."""
    out: dict[str, list[float]] = {}
    for line in metrics.splitlines():
        for kind, at in (("_count{", 0), ("_sum{", 1)):
            if line.startswith("fiscal_request_stage_seconds" + kind):
                stage = line.split('stage="')[1].split('"')[0]
                out.setdefault(stage, [0, 0.0])[at] = float(line.rsplit(" ", 1)[1])
    return {k: (int(v[0]), v[1]) for k, v in out.items()}


def test_metrics_and_openapi(api: Client) -> None:
    status, data, headers = api.request("GET", "/metrics")
    text = data.decode()
    assert status == 200 and headers["content-type"].startswith("text/plain")
    assert "fiscal_http_requests_total" in text and "fiscal_drive_fill_ratio" in text
    # Every answered request is counted by route class and status, and its latency lands in the histogram.
    before_ok, before_bad = _registered(text, 200), _registered(text, 400)
    stages_before = _stages(text)
    assert set(stages_before) == {"validate", "queued", "commit", "answer"}, stages_before
    api.login("v4")
    for _ in range(3):
        assert api.post("/possystem/v4/sandbox-v4/sell", sell("v4"))[0] == 200
    assert api.post("/possystem/v4/sandbox-v4/sell", sell("v4", total=-1))[0] == 400
    # A bulk request counts its journaled receipts (2 here; its refused item is not journaled).
    items = [{**sell("v5"), "group_code": "sandbox-v5", "operation": "sell"} for _ in range(2)]
    items.append({**sell("v5", total=-1), "group_code": "sandbox-v5", "operation": "sell"})
    status, got = api.post("/api/v1/receipts", {"receipts": items})
    assert status == 200 and got["accepted"] == 2, got
    text = api.request("GET", "/metrics")[1].decode()
    assert (_registered(text, 200), _registered(text, 400)) == (before_ok + 3, before_bad + 1)
    # Each journaled request went through every stage once; the 400 was refused before the journal.
    stages = _stages(text)
    for stage, (count, total) in stages.items():
        assert count == stages_before[stage][0] + 5, (stage, stages_before, stages)
        assert total > stages_before[stage][1], (stage, stages_before, stages)
    # Where the worker's CPU goes, by thread (Linux /proc): the loop, the journal writer and the pipeline.
    cpu = {
        ln.split('thread="')[1].split('"')[0]: float(ln.rsplit(" ", 1)[1])
        for ln in text.splitlines()
        if ln.startswith("fiscal_thread_cpu_seconds_total{")
    }
    assert {"MainThread", "journal-writer", "fiscal-pipeline"} <= set(cpu) and cpu["MainThread"] > 0, cpu
    count = [
        ln for ln in text.splitlines() if ln.startswith("fiscal_http_request_seconds_count{") and "atol_register" in ln
    ]
    assert count and int(count[0].rsplit(" ", 1)[1]) >= 4
    assert "fiscal_ofd_unsent_documents" in text and 'queue="journal_pending"' in text
    # One worker: every receipt it journaled reached its pipeline in memory, none was decoded back.
    (read_back,) = [ln for ln in text.splitlines() if ln.startswith("fiscal_pipeline_read_back_total{")]
    assert read_back.endswith(" 0"), read_back
    status, doc = api.get("/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.")
    for path in (
        "/possystem/v4/{group_code}/sell",
        "/possystem/v5/{group_code}/buy_refund_correction",
        "/api/v1/receipts",
        "/api/v1/results",
        "/api/v1/check",
    ):
        assert path in doc["paths"], path


def test_every_document_reaches_the_embedded_ofd(server: Server, api: Client) -> None:
    api.login("v4")
    api.wait_done("v4", "sandbox-v4", submit(api, "v4", "sell", sell("v4")))
    unsent = api.wait_ofd_sent()
    assert unsent and not any(unsent.values()), unsent
    _, data, _ = api.request("GET", "/metrics")
    confirmed = [
        ln for ln in data.decode().splitlines() if 'fiscal_ofd_documents_total{worker="0",outcome="confirmed"}' in ln
    ]
    assert confirmed and int(confirmed[0].split()[-1]) > 0


def test_drive_archives_verify_after_the_run(server: Server, api: Client) -> None:
    api.login("v4")
    api.wait_done("v4", "sandbox-v4", submit(api, "v4", "sell", sell("v4")))
    shards = sorted((server.data / "shards").glob("*")) if (server.data / "shards").exists() else []
    stores = [p for p in server.data.rglob("data.mdb") if "intake" not in p.parts and "ofd" not in p.parts]
    confirmed = 0
    assert stores, list(server.data.rglob("*"))
    for store in stores:
        done = subprocess.run(
            [sys.executable, "-m", "fiscal_core", "drive", "verify", str(store.parent)],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        confirmed += sum(int(n) for n in re.findall(r"(\d+) confirmed by the OFD", done.stdout))
    assert confirmed > 0  # the OFD's confirmations are stored in the drives and verify with them
    assert shards is not None


def test_a_group_provisioned_while_the_server_runs_is_served(api: Client, server: Server) -> None:
    cli(server.data, "group", "add", "--tenant", "sandbox", "--code", "late-v4", "--ffd", "1.05")
    cli(server.data, "register", "add", "--group", "late-v4", "--count", "2")
    api.login("v4")
    deadline = time.monotonic() + 30
    while True:
        status, got = api.post("/possystem/v4/late-v4/sell", sell("v4"))
        if status == 200 or time.monotonic() > deadline:
            break
        # Not known to the API yet (401, 20), or reloaded between the two commands: a group with no register (503).
        assert (status, got["error"]["code"]) in {(401, 20), (503, 1)}, got
        time.sleep(0.5)
    assert status == 200, got
    report = api.wait_done("v4", "late-v4", got["uuid"], timeout=30)
    assert report["status"] == "done" and report["group_code"] == "late-v4"


def test_the_capacity_plan_over_http(api: Client) -> None:
    status, plan = api.post("/api/v1/plan", {"daily": 1_000_000, "peak": 200, "start": "2026-01-01"})
    assert status == 200, plan
    assert plan["binding"] == "drive" and plan["registers"] == plan["by_drive"] + 1 > plan["by_speed"]
    assert 0 < plan["utilisation"] < 1 and plan["p99_wait_s"] >= 0
    status, bad = api.post("/api/v1/plan", {"daily": -1, "peak": 200})
    assert status == 400 and bad["error"]["fields"][0]["path"] == "daily"
