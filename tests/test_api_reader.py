"""The native bulk reader (``fiscal_core._native._reader``) against its twin, ``validate.read_validated_py``.

For every bulk element the native reader answers, its ``(ctx, Validated)`` must be the twin's, field for field
and the msgpack byte for byte; for the shape it is built for (the common v5 sale, ``_reader``'s rules) it must
answer whenever the twin does. The corpora:
- the fast path's random receipts (both versions, every shape the fast path takes) and their mutations;
- receipts of the reader's own shape with the values varied where its checks have edges (amount forms, texts
  beyond ASCII and Russian, item VAT sums, fractional quantities, change in cash, whitespace) and their
  mutations;
- hand-made traps at the edges of what it reads, and the bulk benchmark's bodies.
``FISCAL_CORE_FASTPATH_CASES=N`` sets each random corpus's size, as for the fast path's tests.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import random
import sys
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_api_validate import FFD, INN, INN2, item, sell
from test_api_validate_fastpath import _GS1_CODES, OPERATIONS, N, _gs1m_values, canonical, receipt
from test_api_validate_twins import mutate

from fiscal_core import _impl, samples
from fiscal_core.api import atol
from fiscal_core.api import validate as selector
from fiscal_core.ffd import _receipt_body_py as body_spec
from fiscal_core.ffd.enums import FfdVersion
from fiscal_core.ffd.receipt import Receipt

try:
    from fiscal_core._native import _reader
except ImportError:
    if _impl.REQUIRE_EXTENSIONS:
        raise
    pytest.skip("the native core is not built", allow_module_level=True)

_reader.bind(selector._module)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import api_load  # noqa: E402  (bench/, for the benchmark's own bodies)

GROUP = "g-test"


#: The drive identities a group's bodies are written for: the sandbox's, one with every optional tag the body
#: takes from it (1036 automat number, 1108 internet only) and a long seller name, and None (a group this
#: process does not fiscalize: no body).
IDENTITIES = [
    samples.identity(),
    msgspec.structs.replace(
        samples.identity(user_name='ООО "Маркетплейс №1" ' + "и партнёры " * 20),
        automat_number="AUTO-0000001",
        internet_only=True,
        settlement_address="https://market.example/очень/длинный/адрес",
    ),
    None,
]


def contexts(version: int, group_sno: int | None, identity: Any = IDENTITIES[0]) -> Any:
    ctx = (version, INN, FFD[version], group_sno, object(), identity)

    def resolve(code: str, operation: str) -> Any:
        return ctx if code == GROUP else None

    return resolve


def both(
    data: bytes, version: int, group_sno: int | None = None, prefix: str = "receipts[3].", identity: Any = None
) -> tuple[Any, Any]:
    """The native answer and the twin's for ``data``, after asserting the native one is None or the twin's: the
    same Validated, the msgpack row byte for byte, the same capabilities and the same body, and the row and the
    body those the pure-Python spec gives for the document the row holds."""
    if identity is None:
        identity = IDENTITIES[len(data) % len(IDENTITIES)]
        if identity is not None and version == 4:  # a group's drive has the group's FFD
            identity = msgspec.structs.replace(identity, ffd_version=FfdVersion.FFD_105)
    resolve = contexts(version, group_sno, identity)
    got = _reader.read_validated(data, resolve, prefix)
    want = selector.read_validated_py(data, resolve, prefix)
    if got is not None:
        assert want is not None, f"the native reader took what the fast path does not: {data!r}"
        assert got[0] is want[0]
        assert got[1].document is None and want[1].document is None
        assert canonical(got[1]) == canonical(want[1]), data
        assert got[1].packed == want[1].packed, data
        assert got[2] == want[2] and got[3] == want[3], data
        doc = msgspec.msgpack.decode(got[1].packed, type=Receipt)
        assert msgspec.msgpack.encode(doc) == got[1].packed
        assert got[2] == body_spec.capability_bits(doc)
        if got[0][5] is None:
            assert got[3] is None
        else:
            assert got[3] == body_spec.encode_body(got[0][5], doc), data
    return got, want


def bulk_element(body: dict[str, Any], operation: str, group: str = GROUP) -> dict[str, Any]:
    return {"group_code": group, "operation": operation, **body}


def test_the_fast_paths_corpus_gets_the_twins_answer_or_goes_to_it() -> None:
    rng = random.Random(20261125)
    taken = 0
    for k in range(N):
        version = 4 + k % 2
        body, group_sno = receipt(rng, version)
        element = bulk_element(body, rng.choice(OPERATIONS))
        data = (
            mutate(element, rng)
            if k % 3 == 2
            else json.dumps(element, ensure_ascii=rng.random() < 0.5, default=str).encode()
        )
        got, _ = both(data, version, group_sno)
        taken += got is not None
    assert taken > 0


# --------------------------------------------------------------------------- the reader's own shape

NAMES = [
    "Товар",
    "Coffee 250 g",
    "x" * 128,
    "Ё" * 128,
    "Молоко «Домик в деревне» 3,2%",  # « » are not in CP866: substituted, with the spec's warning
    "Чай №1",  # № is in CP866: kept as it is
    "Кофе — 250 г, €5",
    "Шоколад 🍫",
    "ёжик",
    "Їжак",  # Ukrainian letters: Ї and Ў are in CP866, Ђ is not (substituted, with a warning)
    "Ўзбек",
    "Ђорђе",
    "Ђак",  # one letter CP866 lacks among Russian ones, at each end of the two-byte ranges
    "ѓарс",
    "Ѐлка",
    "ѐлка",
]


def amount_text(rng: random.Random, kopecks: int) -> str:
    """Kopecks as a JSON number: an int when whole, else a fraction, sometimes with trailing zeros."""
    whole, frac = divmod(kopecks, 100)
    if frac == 0 and rng.random() < 0.6:
        return str(whole)
    text = f"{whole}.{frac:02d}"
    return (
        text.rstrip("0").rstrip(".")
        if rng.random() < 0.4 and "." in text.rstrip("0")
        else text + "0" * rng.randint(0, 2)
    )


#: Buyers' phones as shops send them: the spec normalises them (+7 and ten digits, or + and a country code)
#: or refuses them; the reader must answer what the fast path answers.
PHONES = [
    "+79001234567",
    "+7 (900) 123-45-67",
    "8 900 123 45 67",
    "89001234567",
    "9001234567",
    "+7.900.123.45.67",
    "+44 20 7946 0958",
    "+1-202-555-0143",
    "+7900123456",
    "+790012345678",
    "123",
    "+",
    "телефон",
    "+7 900 123 45 6x",
    "+7\u00a0900\u00a01234567",
    "+" + "1" * 70,
]


def own_shape(rng: random.Random) -> tuple[str, int | None]:
    """A v5 bulk element of the shape the native reader takes (JSON text with varied spacing) and a 1062 mask."""
    items, total = [], 0
    for _ in range(rng.choice([1, 2, 10, rng.randint(1, 100)])):
        # the row's int widths change at 128, 256, 65536 and 2**32 kopecks
        price = rng.choice(
            [0, 1, 99, 100, 127, 128, 255, 256, 12345, 65535, 65536, 99_999_99, rng.randint(0, 5_000_000)]
        )
        q = rng.choice([1000, 2000, 3000, 1500, 250, 1, 99_999_999 // 1000 * 1000])
        amount = int((Decimal(price) * Decimal(q) / 1000).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        total += amount
        qty = str(q // 1000) if q % 1000 == 0 and rng.random() < 0.7 else f"{q // 1000}.{q % 1000:03d}"
        vat_type = rng.choice(["none", "vat0", "vat5", "vat7", "vat10", "vat20", "vat22", "vat110", "vat122"])
        vat = f'{{"type": "{vat_type}"}}'
        if rng.random() < 0.3:
            given = 0 if vat_type in ("none", "vat0") else amount // 11
            vat = f'{{"type": "{vat_type}", "sum": {amount_text(rng, given)}}}'
        fields = [
            f'"name": {json.dumps(rng.choice(NAMES), ensure_ascii=rng.random() < 0.3)}',
            f'"price": {amount_text(rng, price)}',
            f'"quantity": {qty}',
            f'"sum": {amount_text(rng, amount)}',
            f'"measure": {rng.choice([0, 0, 11, 12, 255])}',
            f'"payment_method": "{rng.choice(["full_payment", "full_prepayment", "advance", "credit"])}"',
            f'"payment_object": {rng.choice([1, 1, 2, 4, 10, 30, 33])}',
            f'"vat": {vat}',
        ]
        rng.shuffle(fields)
        items.append("{" + ", ".join(fields) + "}")
    change = rng.choice([0, 0, 50])
    kinds = rng.sample([0, 1, 2, 3, 4], rng.randint(1, 3))
    if change and 0 not in kinds:
        kinds[0] = 0
    cuts = sorted(rng.randint(0, total) for _ in kinds[1:])
    parts = [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]
    parts[kinds.index(0) if 0 in kinds else 0] += change if 0 in kinds else 0
    payments = ", ".join(f'{{"type": {k}, "sum": {amount_text(rng, s)}}}' for k, s in zip(kinds, parts, strict=True))
    sno = rng.choice(["osn", "usn_income", "patent"])
    place = json.dumps(rng.choice(["https://shop.example", "Москва, ул. «Тверская», 1"]), ensure_ascii=False)
    company = f'{{"email": "shop@example.com", "sno": "{sno}", "inn": "{INN}", "payment_address": {place}}}'
    phone = json.dumps(rng.choice(PHONES), ensure_ascii=rng.random() < 0.3)
    client = rng.choice(
        [
            '{"email": "buyer@example.ru"}',
            '{"email": "buyer@example.ru"}',
            f'{{"phone": {phone}}}',
            f'{{"email": "buyer@example.ru", "phone": {phone}}}',
            f'{{"phone": {phone}, "email": ""}}',
            '{"email": "buyer@example.ru", "phone": ""}',
        ]
    )
    body = (
        f'{{"client": {client}, "company": {company}, "items": [{", ".join(items)}], '
        f'"payments": [{payments}], "total": {amount_text(rng, total)}}}'
    )
    members = [
        f'"group_code": "{GROUP}"',
        f'"operation": "{rng.choice(OPERATIONS)}"',
        f'"external_id": {json.dumps(rng.choice(["a", "заказ-1", "x" * 128, str(rng.random())]), ensure_ascii=False)}',
        f'"timestamp": "{rng.choice(["01.06.2026 10:00:00", "29.02.2028 23:59:59"])}"',
        f'"receipt": {body}',
    ]
    rng.shuffle(members)
    text = "{" + ", ".join(members) + "}"
    if rng.random() < 0.3:
        text = " \n" + text.replace('": ', '":').replace(', "', ',\n  "').replace(", {", ",{ ") + "\t"  # between tokens
    # the group's tax systems: any, the receipt's, or sometimes not the receipt's (then both refuse)
    group_sno = rng.choice([None, None, int(atol.SNO[sno]), int(atol.SNO[sno]) | int(atol.SNO["usn_income_outcome"])])
    if rng.random() < 0.05:
        group_sno = int(atol.SNO["esn"])
    return text, group_sno


def test_its_own_shape_is_always_taken_with_the_twins_answer() -> None:
    rng = random.Random(251125)
    warned = 0
    for _ in range(N):
        text, group_sno = own_shape(rng)
        got, want = both(text.encode(), 5, group_sno)
        if want is not None:
            assert got is not None, f"the native reader declined a receipt of its own shape: {text}"
            warned += bool(got[1].warnings)
    assert warned > 0  # the substituted texts were reached


def test_its_own_shape_mutated_gets_the_twins_answer_or_goes_to_it() -> None:
    rng = random.Random(251126)
    taken = declined = 0
    for _ in range(N):
        text, group_sno = own_shape(rng)
        got, want = both(mutate(json.loads(text), rng), 5, group_sno)
        taken += got is not None
        declined += got is None and want is not None
    assert taken > 0 and declined > 0


# --------------------------------------------------------------------------- traps

BASE = api_load.receipt(random.Random(7), "trap-1", 3)
BASE["group_code"] = GROUP


def edited(path: tuple[Any, ...], value: Any) -> bytes:
    body = json.loads(json.dumps(BASE))
    parent = body
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return json.dumps(body, ensure_ascii=False).encode()


TEXT_TRAPS = [
    b"",
    b"[]",
    b"{}",
    b"\xef\xbb\xbf" + json.dumps(BASE).encode(),  # a byte order mark
    json.dumps(BASE, ensure_ascii=False).encode().replace(b'"name"', b'"n\\u0061me"', 1),  # an escaped key
    json.dumps(BASE, ensure_ascii=False).encode().replace(b'"full_payment"', b'"full_payment\\x"', 1),  # not JSON
    json.dumps(BASE, ensure_ascii=False).encode().replace(b'"full_payment"', b'"full_payment\\u00"', 1),
    json.dumps(BASE, ensure_ascii=False).encode() + b" x",
    json.dumps(BASE, ensure_ascii=False).encode()[:-1],
    json.dumps(BASE, ensure_ascii=False).encode().replace(b'"sell"', b'"sell", "operation": "sell"'),
    json.dumps(BASE, ensure_ascii=False).encode().replace("Хлеб".encode(), b"\xd0\x20"),  # not UTF-8
    json.dumps(BASE, ensure_ascii=False).encode().replace(b"@example", b"\x80@example", 1),  # in an e-mail
    json.dumps(BASE, ensure_ascii=False).encode().replace(b'"quantity": 1', b'"quantity": 01'),
    json.dumps(BASE, ensure_ascii=False).encode().replace(b'"quantity": 1', b'"quantity": 1e0'),
    json.dumps(BASE, ensure_ascii=False).encode().replace(b'"quantity": 1', b'"quantity": 1.'),
    json.dumps(BASE, ensure_ascii=False).encode().replace(b'"quantity": 1', b'"quantity": -1'),
    json.dumps(BASE, ensure_ascii=False).encode().replace(b'"measure": 0', b'"measure": 0.0'),
    json.dumps(BASE, ensure_ascii=False).encode().replace(b'"measure": 0', b'"measure": false'),
]

VALUE_TRAPS = [
    (("receipt", "items", 0, "price"), "12.34"),
    (("receipt", "items", 0, "price"), 42_949_673),
    (("receipt", "items", 0, "price"), 42_949_672.96),
    (("receipt", "items", 0, "quantity"), 0),
    (("receipt", "items", 0, "quantity"), 100_000),
    (("receipt", "items", 0, "quantity"), 0.0005),
    (("receipt", "items", 0, "name"), ""),
    (("receipt", "items", 0, "name"), "я" * 129),
    (("receipt", "items", 0, "name"), "…" * 120),
    (("receipt", "items", 0, "name"), "я" * 127 + "a"),  # 255 bytes: the row's longest str8
    (("receipt", "items", 0, "name"), "я" * 128),  # 256 bytes: a str16
    (("receipt", "items", 0, "payment_object"), 2),  # excise goods: the capability bit
    (("receipt", "items", 0, "payment_object"), 31),
    (("receipt", "items", 0, "name"), None),
    (("receipt", "items", 0, "vat"), None),
    (("receipt", "items", 0, "vat"), {"type": "vat20", "sum": None}),
    (("receipt", "items", 0, "vat"), {"type": "none", "sum": 1}),
    (("receipt", "items", 0, "vat"), {"type": "vat7", "sum": 10**6}),
    (("receipt", "items", 0, "vat"), {"type": "vat18"}),
    (("receipt", "items", 0, "vat"), {"sum": 1}),
    (("receipt", "items", 0, "measure"), 7),
    (("receipt", "items", 0, "payment_object"), 34),
    (("receipt", "items", 0, "payment_method"), "full"),
    (("receipt", "items", 0, "mark_code"), None),
    (("receipt", "total"), 0),
    (("receipt", "payments"), []),
    (("receipt", "payments"), [{"type": 5, "sum": 1}]),
    (("receipt", "payments", 0, "sum"), 10**6),
    (("receipt", "payments", 0, "type"), 0),
    (("receipt", "company", "inn"), "5544332218"),
    (("receipt", "company", "inn"), " 5544332219 "),
    (("receipt", "company", "inn"), INN2),  # a valid INN, not the group's
    (("receipt", "company", "sno"), ""),
    (("receipt", "company", "email"), "not an e-mail"),
    (("receipt", "company", "payment_address"), "x" * 257),
    (("receipt", "company", "location"), "Москва"),
    (("receipt", "client"), {"phone": "+79001234567"}),
    (("receipt", "client"), {"phone": "8 (900) 123-45-67", "email": ""}),
    (("receipt", "client"), {"phone": "12", "email": "buyer@example.com"}),  # a wrong phone beside an e-mail
    (("receipt", "client"), {"phone": None, "email": "buyer@example.com"}),
    (("receipt", "client"), {"phone": 79001234567}),
    (("receipt", "client"), {"phone": ""}),
    (("receipt", "client"), {}),
    (("receipt", "client", "email"), ""),
    (("receipt", "vats"), [{"type": "vat20"}]),
    (("receipt", "cashier"), "Иванов"),
    (("external_id",), ""),
    (("external_id",), "x" * 129),
    (("timestamp",), "31.02.2026 10:00:00"),
    (("timestamp",), "2026-06-01 10:00:00"),
    (("timestamp",), "1.06.2026 10:00:00"),
    (("timestamp",), "01.06.2026 10:00:00 "),
    (("operation",), "sell_correction"),
    (("operation",), "sale"),
    (("group_code",), "someone-else"),
    (("service",), {"callback_url": "https://x.example/cb"}),
]


def item_edit(**fields: Any) -> bytes:
    """BASE with its first item's fields replaced by JSON number texts (``price="10.001"``)."""
    item = BASE["receipt"]["items"][0]
    text = json.dumps(BASE, ensure_ascii=False)
    old = json.dumps(item, ensure_ascii=False)
    new = json.dumps({**item, **{k: f"@{k}@" for k in fields}}, ensure_ascii=False)
    for k, v in fields.items():
        new = new.replace(f'"@{k}@"', v)
    return text.replace(old, new).encode()


FIRST = BASE["receipt"]["items"][0]
FIRST_SUM = round(FIRST["sum"] * 100)
#: Numbers next to the edges: more decimals than the field keeps (zeros are fine), an item VAT sum at and one
#: kopeck above the item's sum. The twin's path refuses or takes each; the native reader must not differ.
RUB = f"{FIRST_SUM // 100}.{FIRST_SUM % 100:02d}"  # the first item's sum: the receipt's total stays right
NUMBER_TRAPS = [  # (the first item's new fields, whether the receipt stays valid)
    ({"price": RUB + "1", "quantity": "1", "sum": RUB}, False),
    ({"price": RUB + "00", "quantity": "1", "sum": RUB}, True),
    ({"price": RUB + "0" * 40, "quantity": "1", "sum": RUB}, False),  # a number of more than 40 characters
    ({"price": RUB, "quantity": "1.0001", "sum": RUB}, False),
    ({"price": RUB, "quantity": "1.0000", "sum": RUB}, True),
    ({"price": RUB, "quantity": "1", "sum": RUB, "vat": f'{{"type": "vat22", "sum": {RUB}}}'}, True),
    ({"price": RUB, "quantity": "1", "sum": RUB, "vat": f'{{"type": "vat22", "sum": {(FIRST_SUM + 1) / 100}}}'}, False),
]


@pytest.mark.parametrize(("fields", "valid"), NUMBER_TRAPS, ids=[str(f)[:40] for f, _ in NUMBER_TRAPS])
def test_number_traps_are_decided_as_the_twin_decides(fields: dict[str, str], valid: bool) -> None:
    got, want = both(item_edit(**fields), 5)
    assert (got is not None) == (want is not None) == valid


@pytest.mark.parametrize("data", TEXT_TRAPS, ids=range(len(TEXT_TRAPS)))
def test_text_traps_get_the_twins_answer_or_go_to_it(data: bytes) -> None:
    got, _ = both(data, 5)
    if data != json.dumps(BASE, ensure_ascii=False).encode():
        assert got is None  # every trap is outside what the reader takes


@pytest.mark.parametrize(("path", "value"), VALUE_TRAPS, ids=[f"{p[-1]}={v!r}"[:40] for p, v in VALUE_TRAPS])
def test_value_traps_get_the_twins_answer_or_go_to_it(path: tuple[Any, ...], value: Any) -> None:
    both(edited(path, value), 5)


#: E-mails at the edges of the spec's pattern (``_validate_py._EMAIL``) and of its 64 characters: the native
#: reader checks an ASCII one without escapes itself and must decide exactly as the pattern does; any other goes
#: to the fast path's own check.
EMAIL_TRAPS = [
    "a@b.c",
    "first.last+tag@sub.example.com",
    "a!#$%&'*+/=?^_`{|}~-@example.com",
    "A@B.RU",
    ".a.@b-c.d",
    "a@b.c\x7f",
    "a" * 59 + "@b.cd",  # 64 characters
    "a" * 60 + "@b.cd",  # 65
    "a@b",
    "a@b.",
    "a@.b.c",
    "a@b..c",
    "@b.c",
    "a@@b.c",
    "a@b@c.d",
    "a b@c.d",
    "a@b.c d",
    "a\t@b.c",
    "a\x1c@b.c",
    "a\x1f@b.c",
    "a\x0b@b.c",
    "a\x01@b.c",
    *(f"a{c}b@c.d" for c in '"(),:;<>[]\\'),
    *(f"ab@c{c}d.e" for c in '"(),:;<>[]\\'),
    "почта@пример.рф",
    "a@b.c\u00a0",
    "a@b.c\u2028",
    "a«b@c.d",
    "",
]


@pytest.mark.parametrize("email", EMAIL_TRAPS, ids=range(len(EMAIL_TRAPS)))
@pytest.mark.parametrize("field", [("receipt", "company", "email"), ("receipt", "client", "email")])
@pytest.mark.parametrize("ascii_json", [False, True])
def test_email_traps_are_decided_as_the_spec_decides(email: str, field: tuple[str, ...], ascii_json: bool) -> None:
    body = json.loads(json.dumps(BASE))
    body[field[0]][field[1]][field[2]] = email
    got, want = both(json.dumps(body, ensure_ascii=ascii_json).encode(), 5)
    assert (got is not None) == (want is not None), email


def numbers(o: Any) -> Any:
    """``json.dumps``'s default for the spec tests' Decimals: JSON numbers, as the reader takes amounts."""
    if isinstance(o, Decimal):
        return int(o) if o == o.to_integral_value() else float(o)
    raise TypeError(type(o))


def marked_element(value: Any, mode: str | None) -> bytes:
    it = item(5, payment_object=33, mark_code={"gs1m": value})
    if mode is not None:
        it["mark_processing_mode"] = mode
    return json.dumps(bulk_element(sell(5, items=[it, item(5)]), "sell"), default=numbers, ensure_ascii=False).encode()


@pytest.mark.parametrize("mode", [None, "0", "1"])
def test_marked_goods_of_every_gs1m_form_get_the_twins_answer(mode: str | None) -> None:
    taken = 0
    for value in _gs1m_values():
        got, want = both(marked_element(value, mode), 5)
        taken += got is not None
        if mode != "1" and isinstance(value, str) and want is not None:
            assert got is not None, value  # the common marked good's shape: always taken
    assert (taken > 0) == (mode != "1")  # a processing mode other than "0" is the twin's general case


@settings(max_examples=int(os.environ.get("FISCAL_CORE_GS1M_CASES", "1500")), deadline=None)
@given(code=_GS1_CODES, mode=st.sampled_from([None, "0"]), quantity=st.sampled_from([1, 1, 2, "1.000", "0.5"]))
def test_gs1m_codes_get_the_twins_answer(code: bytes, mode: str | None, quantity: Any) -> None:
    """The fast path's generated gs1m codes (prefixes, separators, GTIN and serial, the guessed serial end, the
    1305 limit), one marked piece or not: the reader takes exactly the ones the twin takes."""
    it = item(5, payment_object=33, mark_code={"gs1m": base64.b64encode(code).decode()})
    if mode is not None:
        it["mark_processing_mode"] = mode
    if quantity != 1:
        it["quantity"], it["sum"] = float(quantity), float(quantity) * 100
    data = json.dumps(bulk_element(sell(5, items=[it]), "sell"), default=numbers, ensure_ascii=False)
    got, want = both(data.encode(), 5)
    assert (got is None) == (want is None)


_B64_TEXT = st.lists(
    st.sampled_from(
        [*"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", *"====", "\n", " ", "-", "_", "é"]
    ),
    max_size=24,
).map("".join)


@settings(max_examples=int(os.environ.get("FISCAL_CORE_GS1M_CASES", "1500")), deadline=None)
@given(text=_B64_TEXT)
def test_the_base64_decoder_is_binasciis_strict_mode(text: str) -> None:
    """The reader decodes a marking code's base64 itself: the bytes binascii's strict mode gives, and a refusal
    (None) wherever it raises."""
    data = text.encode()
    try:
        want: bytes | None = binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError):
        want = None
    assert _reader._b64_probe(data) == want


def test_a_long_base64_text_is_left_to_binascii() -> None:
    code = base64.b64encode(b"0" * 600)
    assert _reader._b64_probe(code) == "long"
    assert _reader._b64_probe(code[:400]) == binascii.a2b_base64(code[:400], strict_mode=True)


def test_the_bulk_benchmarks_bodies_are_taken() -> None:
    rng = random.Random(3)
    for k in range(200):
        element = api_load.receipt(rng, f"bench-{k}", rng.choice([1, 10, 100]), marked=k % 2 == 1)
        element["group_code"] = GROUP
        # escaped (``\\u041c``, json.dumps's default) or not, with an escaped slash or quote in a text
        data = json.dumps(element, ensure_ascii=k % 3 == 0)
        if k % 5 == 0:
            data = data.replace('"external_id": "bench', '"external_id": "b\\/e\\"nch', 1)
        got, want = both(data.encode(), 5)
        assert got is not None and want is not None
    # FFD 1.05 groups, and a group the tenant does not have, go to the twin's path
    data = json.dumps(BASE, ensure_ascii=False).encode()
    assert both(data, 4)[0] is None
    assert _reader.read_validated(data, lambda code, operation: None) is None
