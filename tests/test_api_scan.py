"""The fast path's byte reader (``_fastpath_py.scan``, twin and compiled) against the decoder it stands in for.

``scan`` may decline (None) any body; what it reads must be exactly what the dict path reads from the decoder's
tree (:func:`project` below is that reading, written on the decoded dicts): the same envelope values, the items'
amounts converted by the dict path's own ``_kopecks`` / ``_thousandths``, and nothing from a body the decoder
refuses. Then ``validate_decoded(..., scanned=True)`` must give the dict path's answer (tests in
test_api_validate_fastpath do that on its corpora). Corpora here: the fast-path test's random valid receipts in
several JSON layouts; byte-level mutations of them (cuts, inserted and flipped bytes, control characters, bad
UTF-8, repeated keys); hand-picked number and structure traps. ``FISCAL_CORE_FASTPATH_CASES`` sizes them.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from test_api_validate import FFD, INN
from test_api_validate_fastpath import FAST, N, canonical, dumps, receipt

from fiscal_core.api import _fastpath_py as twin
from fiscal_core.api import validate as selector

TOP = ("service", "receipt", "external_id", "timestamp", "ism_optional", "source_id", "group_code", "operation")
BODY_SCALARS = ("total", "cashier", "internet")
ITEM_RAW = ("payment_method", "payment_object", "measure", "wholesale", "measurement_unit", "nomenclature_code",
            "mark_code", "mark_processing_mode", "planned_status")  # fmt: skip


@pytest.fixture(params=sorted(FAST))
def fast(request: pytest.FixtureRequest) -> Any:
    module = FAST[request.param]
    module.bind(selector._module)
    return module


def _flat(d: Any, names: tuple[str, ...]) -> Any:
    return {k: d[k] for k in names if k in d}


def project(obj: Any) -> Any:
    """What the dict path reads of a decoded request, in scan()'s layout (items as rows)."""
    top = {k: obj[k] for k in TOP if k in obj}
    if type(top.get("service")) is dict:
        top["service"] = _flat(top["service"], ("callback_url",))
    body = top.get("receipt")
    if type(body) is not dict:
        return top
    out: dict[str, Any] = {k: body[k] for k in ("company", "client", "payments", "vats", *BODY_SCALARS) if k in body}
    if type(out.get("company")) is dict:
        out["company"] = _flat(out["company"], twin._COMPANY_NAMES)
    if type(out.get("client")) is dict:
        out["client"] = _flat(out["client"], ("email", "phone"))
    for key in ("payments", "vats"):
        if type(out.get(key)) is list:
            out[key] = [_flat(e, ("type", "sum")) for e in out[key]]
    rows = []
    for it in body.get("items") or []:
        vat = it.get("vat")
        if vat is not None:
            vat = (vat.get("type"), -2 if vat.get("sum") is None else twin._kopecks(vat["sum"]))
        raw = [it.get(k) for k in ITEM_RAW]
        if type(raw[6]) is dict:  # mark_code: the fields the spec's marking rules read
            raw[6] = _flat(raw[6], twin._MARK_FIELDS)
        rows.append(
            (
                it.get("name"),
                twin._kopecks(it.get("price")),
                twin._thousandths(it.get("quantity")),
                twin._kopecks(it.get("sum")),
                vat,
                *raw,
            )
        )
    if "items" in body:
        out["items"] = rows
    top["receipt"] = out
    return top


def agree(fast: Any, data: bytes) -> bool:
    """Assert ``scan`` reads ``data`` as the decoder does (or declines it); True when it read it."""
    got = fast.scan(data)
    if fast is not twin:
        assert got == twin.scan(data), data  # the compiled reader and its twin: the same answer
    if got is None:
        return False
    decoded = twin.decode(data)
    assert type(decoded) is dict, f"scan read a body the decoder refuses: {data!r}"
    assert got == project(decoded), data
    return True


def layouts(rng: random.Random, body: dict[str, Any]) -> list[bytes]:
    """One request in the layouts clients send: compact, pretty, spaced, keys reordered, unknown keys added."""
    body = json.loads(json.dumps(body, default=str))  # Decimal amounts as the strings dumps() sends them as
    shuffled = json.loads(json.dumps(body), object_pairs_hook=lambda pairs: dict(rng.sample(pairs, len(pairs))))
    extra = json.loads(json.dumps(body))
    extra["x_meta"] = {"a": [1, 2.5e3, {"b": None, "c": [True, False, "ok"]}], "d": -0.0}
    extra["receipt"]["x_note"] = "plain ascii"
    for it in extra["receipt"]["items"]:
        it["x_sku"] = [rng.randint(0, 10**6)]
    return [
        dumps(rng, body),
        json.dumps(body, ensure_ascii=False, indent=2).encode(),
        json.dumps(body, ensure_ascii=False, separators=(" , ", " :\t")).encode(),
        json.dumps(shuffled, ensure_ascii=False).encode(),
        json.dumps(extra, ensure_ascii=False).encode(),
        b"\xef\xbb\xbf" + json.dumps(body, ensure_ascii=False).encode() + b"\r\n",
    ]


def test_scan_reads_every_layout_as_the_decoder_does(fast: Any) -> None:
    rng = random.Random(11)
    read = total = 0
    for k in range(max(N // 6, 50)):
        version = 5 if k % 2 else 4
        body, _ = receipt(rng, version)
        for data in layouts(rng, body):
            total += 1
            read += agree(fast, data)
    # Declined here: the layout with ASCII escapes (half of dumps()), and nothing else.
    assert read >= 0.75 * total, (read, total)


def mutations(rng: random.Random, data: bytes) -> list[bytes]:
    n = len(data)
    i = rng.randrange(n)
    j = rng.randrange(n)
    key = data.find(b'"', rng.randrange(n))
    out = [
        data[:i],
        data[:i] + data[i + 1 :],
        data[:i] + bytes([rng.randrange(256)]) + data[i:],
        data[:i] + bytes([data[i] ^ (1 << rng.randrange(8))]) + data[i + 1 :],
        data[:i]
        + rng.choice([b"\x00", b"\x1f", b"\\", b'"', b"\xff", b"\xc3", b"\xed\xa0\x80", b" ", b"-", b"0", b"e"])
        + data[i:],
        data[:i] + data[j:],
        data + rng.choice([b"x", b"{}", b",", b"\x00", b" \n"]),
    ]
    if key >= 0:  # a key said twice: the same member spliced in again next to itself
        end = data.find(b",", key)
        if end > key:
            out.append(data[:end] + b"," + data[key:end] + data[end:])
    return out


def test_scan_never_reads_what_the_decoder_refuses_or_reads_otherwise(fast: Any) -> None:
    rng = random.Random(12)
    for k in range(max(N // 3, 100)):
        body, _ = receipt(rng, 5 if k % 2 else 4)
        for data in mutations(rng, dumps(rng, body)):
            agree(fast, data)


TRAPS = [
    b'{"receipt": {"items": [{"price": -0, "quantity": -0.0, "sum": 0}]}}',
    b'{"receipt": {"items": [{"price": 1E2, "quantity": 1e0, "sum": 100.00e0}]}}',
    b'{"receipt": {"items": [{"price": 123456789012345678901234567890, "quantity": 1, "sum": 1}]}}',
    b'{"receipt": {"items": [{"price": 01, "quantity": 1, "sum": 1}]}}',
    b'{"receipt": {"items": [{"price": 1., "quantity": 1, "sum": 1}]}}',
    b'{"receipt": {"items": [{"price": .5, "quantity": 1, "sum": 1}]}}',
    b'{"receipt": {"items": [{"price": "1.50", "quantity": "0.5", "sum": " 1"}]}}',
    b'{"receipt": {"items": [{"price": true, "quantity": null, "sum": false}]}}',
    b'{"receipt": {"items": [{"price": "1.00\xc0", "quantity": 1, "sum": 1}]}}',
    b'{"receipt": {"items": [{"vat": {"type": "vat20", "sum": "\xd0\xb0"}}]}}',
    b'{"source_id": 123456789012345678901, "external_id": "a"}',
    b'{"external_id": "a", "external_id": "b"}',
    b'{"receipt": {"items": [{"name": "a", "name": "b"}]}}',
    b'{"receipt": {"items": [{"name": "\\u0430"}]}}',
    b'{"receipt": {"items": [{"n\\u0061me": "a"}]}}',
    b'{"receipt": {"items": [{"mark_code": {"gs1m": "x"}}]}}',
    b'{"receipt": {"items": [{"mark_code": null, "agent_info": null}]}}',
    b'{"receipt": {"agent_info": {"type": 1}}}',
    b'{"receipt": {"client": {"inn": "7700000000"}}}',
    b'{"receipt": {"client": null, "company": null, "vats": null, "payments": null}}',
    b'{"receipt": {"items": null}}',
    b'{"receipt": {"items": [1]}}',
    b'{"receipt": {"items": [{"vat": "vat20"}]}}',
    b'{"receipt": {"items": [{"vat": {"type": "vat20", "sum": null, "x": [1]}}]}}',
    b'{"service": null, "receipt": {}}',
    b'{"service": "x"}',
    b'{"x": ' + b"[" * 40 + b"]" * 40 + b"}",
    b'{"x": ' + b"[" * 20 + b"]" * 20 + b"}",
    b'{"x": "\xd0\xb0"}',
    b'{"external_id": "\xd0\xb0\xff"}',
    b'{"external_id": "a"} x',
    b'{"external_id": "a"}\t \n',
    b"\xef\xbb\xbf{}",
    b"",
    b"[]",
    b'{"a":1,}',
    b'{"a" 1}',
    b'{"a":"\x01"}',
    b'{"receipt": {"items": [{"mark_code": "x", "mark_processing_mode": 0, "planned_status": "2"}]}}',
    b'{"receipt": {"items": [{"mark_code": {"gs1m": "eA==", "other": [1, {"a": null}]}}]}}',
    b'{"receipt": {"items": [{"mark_code": {"gs1m": 5, "ean13": null}}]}}',
    b'{"receipt": {"items": [{"mark_code": {"gs1m": {"a": 1}}}]}}',
]


@pytest.mark.parametrize("data", TRAPS, ids=range(len(TRAPS)))
def test_traps(fast: Any, data: bytes) -> None:
    agree(fast, data)


def test_what_scan_declines_on_purpose(fast: Any) -> None:
    declined = [
        TRAPS[k]
        for k in (3, 4, 5, 8, 9, 10, 11, 12, 13, 14, 17, 18, 20, 21, 22, 26, 28, 29, 30, 33, 34, 35, 36, 37, 41)
    ]
    for data in declined:
        assert fast.scan(data) is None, data
    assert fast.scan(TRAPS[0]) == {"receipt": {"items": [(None, 0, -1, 0, None, *[None] * 9)]}}
    assert fast.scan(TRAPS[39])["receipt"]["items"][0][11] == {"gs1m": "eA=="}
    assert fast.scan(TRAPS[19]) == {"receipt": {"client": None, "company": None, "vats": None, "payments": None}}


def test_the_scanned_items_are_validated_as_the_decoded_ones(fast: Any) -> None:
    """The same Validated (or None) from both readings, on the random valid receipts (a smoke check here: the
    fast-path test runs every corpus through both)."""
    rng = random.Random(13)
    scanned = 0
    for k in range(200):
        version = 5 if k % 2 else 4
        body, sno = receipt(rng, version)
        data = json.dumps(body, ensure_ascii=False, default=str).encode()
        read = fast.scan(data)
        if read is None:
            continue
        scanned += 1
        args = (version, "sell", INN, FFD[version], sno, "p.")
        want = fast.validate_decoded(fast.decode(data), *args)
        got = fast.validate_decoded(read, *args, True)
        assert got == want, data
    assert scanned > 100


def test_the_selector_scans_only_with_the_compiled_reader() -> None:
    assert (selector.scan is not None) == (selector.FAST_IMPLEMENTATION == "native")


def outcome(check: Any, data: bytes, args: dict[str, Any]) -> Any:
    try:
        return canonical(check(data, **args))
    except selector.RequestInvalid as exc:
        return ("invalid", exc.atol_code, str(exc))


def test_the_selector_reads_large_bodies_with_scan_and_answers_as_the_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    if selector.scan is None:
        pytest.skip("the twin fast path decodes: scan is only used compiled")
    read: list[int] = []
    real = selector.scan

    def spy(raw: bytes) -> Any:
        read.append(len(raw))
        return real(raw)

    monkeypatch.setattr(selector, "scan", spy)
    rng = random.Random(14)
    sizes = []
    for k in range(60):
        version = 5 if k % 2 else 4
        body, sno = receipt(rng, version)
        data = json.dumps(body, ensure_ascii=False, default=str).encode()
        sizes.append(len(data))
        args = {"version": version, "operation": "sell", "group_inn": INN, "group_ffd": FFD[version], "group_sno": sno}
        assert outcome(selector.validate, data, args) == outcome(selector.validate_spec, data, args), data
    assert read == [n for n in sizes if n >= selector.SCAN_FROM]
    assert 0 < len(read) < len(sizes)


def _item_body(unit: str, method: str, vat: str) -> bytes:
    item = {"name": "Товар", "price": 1, "quantity": 1, "sum": 1, "vat": {"type": vat}, "payment_method": method,
            "measurement_unit": unit}  # fmt: skip
    return json.dumps({"receipt": {"items": [item]}}, ensure_ascii=False).encode()


def test_repeated_short_item_texts_are_read_as_one_object(fast: Any) -> None:
    """A payment method, VAT type or unit seen before comes back as the same str (decoded and hashed once)."""
    first = fast.scan(_item_body("шт", "full_payment", "vat20"))["receipt"]["items"][0]
    again = fast.scan(_item_body("шт", "full_payment", "vat20"))["receipt"]["items"][0]
    assert (first[9], first[5], first[4][0]) == ("шт", "full_payment", "vat20")
    assert again[9] is first[9] and again[5] is first[5] and again[4][0] is first[4][0]
    long_unit = "Упаковка по 10 штук"  # 36 bytes of UTF-8: above the cache's limit, decoded each time
    a = fast.scan(_item_body(long_unit, "full_payment", "vat20"))["receipt"]["items"][0][9]
    b = fast.scan(_item_body(long_unit, "full_payment", "vat20"))["receipt"]["items"][0][9]
    assert a == b == long_unit and a is not b


def test_short_item_texts_that_share_a_slot_are_each_read_as_written(fast: Any) -> None:
    """Thousands of distinct short units (more than the cache has slots, so texts collide and replace each
    other), read in a shuffled order twice: every one exactly as the decoder reads it, bad UTF-8 still refused."""
    rng = random.Random(17)
    alphabet = "abcxyzABC019 .-шткгмлупЁё²“"
    units = sorted({"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 14))) for _ in range(6000)})
    units += ["", "a" * 24, "a" * 25, "ш" * 12, "ш" * 13]
    bodies = [(u, _item_body(u, "full_payment", "vat20")) for u in units]
    for _ in range(2):
        rng.shuffle(bodies)
        for unit, data in bodies:
            assert fast.scan(data)["receipt"]["items"][0][9] == unit, unit
    bad = _item_body("шт", "full_payment", "vat20").replace("шт".encode(), b"\xd1\xd1")
    assert fast.scan(bad) is None
    assert fast.scan(_item_body("шт", "full_payment", "vat20"))["receipt"]["items"][0][9] == "шт"
