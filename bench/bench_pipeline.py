"""The in-process path of one receipt behind the HTTP layer (issue 5): request bytes → journal → fiscal document.

Three stages, each per receipt, on the sandbox fleet in a temporary data directory (4 + 4 emulated registers):
- ``validate``: an ATOL v4 request body (2 items, CP866 substitutions) to the FFD receipt, plus the journal
  entry (msgpack of the document);
- ``journal``: ``Intake.accept`` in group commits of 50 (durable LMDB: idempotency check, journal, pending);
- ``fiscalize``: the worker's pipeline (``Pipeline._step``: pending scan, fleet route, drive prepare and seal,
  one durable drive commit with the intake links, outcome write with the feed) over a batch of 2,000.
Single thread, no HTTP: the figures add up to the CPU a receipt costs a worker beside the HTTP layer's own.

And the change feed (issue 5), ``feed_page``: one page of 1,000 finished 10-item receipts as
``GET /api/v1/results?after=`` renders it (``Intake.feed``, a native result with its QR string per row, the JSON),
without HTTP: what a bulk sender's reading of its results costs the event loop per receipt.

And the whole in-process path in one figure (issue 8), ``request_to_document``: seeded ATOL v5 ``sell`` bodies of
10 and 100 items (Cyrillic names, weighed and marked goods, 10 % and 22 % VAT; ``bench_validate.atol_json``) →
validate → journal in group commits of 50 → the fiscal pipeline → the signed document stored in the drive and
its outcome in the feed (checked after the run). The composed path runs on the implementation the process
selected (the id says which): ``FISCAL_CORE_NO_EXTENSIONS=1 make bench`` measures it on the pure-Python twins.
"""

from __future__ import annotations

import pathlib
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from fiscal_core.api import views
from fiscal_core.api.intake import Entry, Intake, NewEntry
from fiscal_core.api.pipeline import Pipeline
from fiscal_core.api.validate import validate
from fiscal_core.registers import sandbox

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench_validate import atol_json
from conftest import per_item

from fiscal_core import samples
from fiscal_core.crypto import magma
from fiscal_core.drive import seal
from fiscal_core.ffd import receipt_body, tlv

BODY = (
    '{"external_id": "@@ID@@", "timestamp": "01.06.2026 13:45:00", "service": {"callback_url": ""}, '
    '"receipt": {"client": {"email": "kkt@kkt.ru"}, "company": {"email": "chek@romashka.ru", "sno": "osn", '
    '"inn": "5544332219", "payment_address": "http://magazin.ru/"}, "items": [{"name": "колбаса «Клинский» '
    'Брауншвейгская с/к в/с", "price": 1000.00, "quantity": 0.3, "sum": 300.00, "measurement_unit": "кг", '
    '"payment_method": "full_payment", "payment_object": "commodity", "vat": {"type": "vat22"}}, {"name": '
    '"яйцо Окское куриное С0 белое", "price": 100.00, "quantity": 1.0, "sum": 100.00, "measurement_unit": '
    '"Упаковка 10 шт.", "payment_method": "full_payment", "payment_object": "commodity", "vat": {"type": '
    '"vat10"}}], "payments": [{"type": 1, "sum": 400.0}], "total": 400.0}}'
)
_serial = iter(range(10**9))


def bodies(n: int) -> list[bytes]:
    return [BODY.replace("@@ID@@", f"b{next(_serial)}").encode() for _ in range(n)]


def check(raw: bytes) -> Any:
    return validate(raw, version=4, operation="sell", group_inn="5544332219", group_ffd="1.05", group_sno=63)


def entry(v: Any) -> NewEntry:
    e = Entry("sandbox", "sandbox-v4", v.external_id, "sell", 4, "01.06.2026 13:45:00", "",
              b"", False, v.packed, time.time(), sums=v.sums)  # fmt: skip  # as Service._entry journals it
    return NewEntry(views.new_uuid(), e)


@pytest.fixture(scope="module")
def data() -> Iterator[pathlib.Path]:
    with tempfile.TemporaryDirectory() as tmp:
        sandbox.provision(tmp)
        yield pathlib.Path(tmp)


def bench_validate(benchmark: Any) -> None:
    raws = bodies(200)

    def run() -> None:
        for raw in raws:
            entry(check(raw))

    benchmark.pedantic(run, rounds=30, warmup_rounds=2)
    per_item(benchmark, len(raws), "receipt")


def bench_journal(benchmark: Any, data: pathlib.Path) -> None:
    with Intake(data / "journal-bench") as intake:
        template = [check(raw) for raw in bodies(50)]

        def setup() -> tuple[tuple[list[NewEntry]], dict[str, Any]]:
            batch = [entry(msgspec.structs.replace(v, external_id=f"j{next(_serial)}")) for v in template]
            return (batch,), {}

        benchmark.pedantic(intake.accept, setup=setup, rounds=60, warmup_rounds=2)
        per_item(benchmark, 50, "receipt")


def bench_fiscalize(benchmark: Any, data: pathlib.Path) -> None:
    n = 2000
    with Intake(data / "intake") as intake:
        p = Pipeline(str(data), intake)
        try:
            docs = [check(raw) for raw in bodies(n)]

            def setup() -> tuple[tuple[()], dict[str, Any]]:
                news = [entry(msgspec.structs.replace(v, external_id=f"f{next(_serial)}")) for v in docs]
                p.handoff([(e.uuid, e.entry, v.document) for e, v in zip(news, docs, strict=True)])
                intake.accept(news)
                p.settle(list({e.entry.group for e in news}), [])
                return (), {}

            def run() -> None:
                target = p.processed + n
                while p.processed < target:
                    p._step(time.time())

            benchmark.pedantic(run, setup=setup, rounds=8, warmup_rounds=1)
            per_item(benchmark, n, "receipt")
        finally:
            p.fleet.close()


#: "native" when every native module of the composed path is in use, "py" when none is, "mixed" otherwise.
_IMPLS = {tlv.IMPLEMENTATION, receipt_body.IMPLEMENTATION, seal.IMPLEMENTATION, magma.IMPLEMENTATION}
COMPOSED = _IMPLS.pop() if len(_IMPLS) == 1 else "mixed"
V5 = {n: [atol_json(r, 5, k) for k, r in enumerate(samples.receipts(64, n, seed=7, ffd=4))] for n in (10, 100)}


def check_v5(raw: bytes) -> Any:
    return validate(raw, version=5, operation="sell", group_inn="5544332219", group_ffd="1.2", group_sno=63)


def entry_v5(v: Any) -> NewEntry:
    e = Entry("sandbox", "sandbox-v5", v.external_id, "sell", 5, "23.11.2026 12:00:00", "",
              b"", False, v.packed, time.time(), sums=v.sums)  # fmt: skip  # as Service._entry journals it
    return NewEntry(views.new_uuid(), e)


@pytest.mark.parametrize("items", [10, 100])
@pytest.mark.parametrize("impl", [COMPOSED])
def bench_request_to_document(benchmark: Any, data: pathlib.Path, impl: str, items: int) -> None:
    n = 500 if items == 10 else 100
    templates = [V5[items][k % 64] for k in range(n)]
    last: list[bytes] = []
    benchmark.group = f"request-to-document-{items}"
    with Intake(data / f"e2e-{items}") as intake:
        p = Pipeline(str(data), intake)
        try:

            def setup() -> tuple[tuple[list[bytes]], dict[str, Any]]:
                raws = []
                for k, raw in enumerate(templates):
                    ext = f'"external_id":"e2e-{next(_serial)}"'.encode()
                    raws.append(raw.replace(f'"external_id":"order-{k % 64}"'.encode(), ext, 1))
                return (raws,), {}

            def run(raws: list[bytes]) -> None:
                target = p.processed + len(raws)
                for k in range(0, len(raws), 50):
                    checked = [check_v5(raw) for raw in raws[k : k + 50]]
                    news = [entry_v5(v) for v in checked]
                    p.handoff([(e.uuid, e.entry, v.document) for e, v in zip(news, checked, strict=True)])
                    acc = intake.accept(news)
                    p.settle(list({e.entry.group for e in news}), [])
                    last[:] = [acc[-1].uuid]
                while p.processed < target:
                    p._step(time.time())

            benchmark.pedantic(run, setup=setup, rounds=10 if items == 10 else 6, warmup_rounds=1)
            per_item(benchmark, n, "receipt")
            report = intake.report(last[0])  # the last receipt of the last round: fiscalized and stored
            assert report is not None and report[1] is not None and report[1].status == "done", report
        finally:
            p.fleet.close()


def bench_feed_page(benchmark: Any, data: pathlib.Path) -> None:
    from fiscal_core.api.intake import Outcome

    n = 1000
    encode = msgspec.json.Encoder().encode
    with Intake(data / "feed") as intake:
        news = [entry_v5(check_v5(V5[10][k % 64].replace(b'"order-', f'"feed-{k}-'.encode(), 1))) for k in range(n)]
        accepted = intake.accept(news)
        at = time.time()
        done = [(e.uuid, msgspec.structs.replace(e.entry, seq=a.seq),
                 Outcome("done", at, "0000000001000001", "9999078900000001", "0000000001012345", k + 2,
                         3_000_000_000 + k, 1, k + 1, "2026-11-23T12:00:00", 100_000 + k, 3))
                for k, (e, a) in enumerate(zip(news, accepted, strict=True))]  # fmt: skip
        intake.finish(done)

        def page() -> bytes:
            rows = intake.feed("sandbox", 0, n)
            return encode({"results": [views.native_result(u, e, o) for _, u, e, o in rows], "next": rows[-1][0]})

        body = benchmark.pedantic(page, rounds=30, warmup_rounds=2)
        per_item(benchmark, n, "row")
        got = msgspec.json.decode(body)["results"]
        assert len(got) == n and got[-1]["fiscal"]["fd_number"] == n + 1 and got[0]["fiscal"]["qr"].startswith("t=")
