"""The merchant dashboard (issue 9) without a browser: the intake's new indexes, then every page and export of
a real ``fiscal-core serve`` with two tenants.

Shown here: keyset pages of the feed cover every receipt exactly once (with and without filters), the time
bisection, the FD index and the report sums (equal to the sums of the receipts, kopeck for kopeck); sign-in,
sessions and CSRF refusals; a tenant never sees the other's receipts, uuids, external_ids or registers on any
page or export, and the other's receipt URL is 404; hostile item names are escaped; exports stream every row;
the manual receipt form goes through the API's validation and shows its errors by field; the calculator.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import http.client
import io
import json
import random
import re
import subprocess
import sys
import time
import urllib.parse
import uuid as uuidlib
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from apiclient import ROOT, Server

from fiscal_core import samples
from fiscal_core.api import views
from fiscal_core.api.intake import RECEIPT_ROW, Entry, Intake, NewEntry, Outcome, document_sums
from fiscal_core.ffd.receipt import vat_totals

ENC = msgspec.msgpack.Encoder()

# ---------------------------------------------------------------------------------------------- the intake


def _fill(intake: Intake, tenant: str, n: int, *, seed: int, t0: float) -> list[tuple[bytes, Entry, Outcome, Any]]:
    rng = random.Random(seed)
    docs = samples.receipts(n, 3, seed=seed)
    news = []
    for i, d in enumerate(docs):
        # Half with Entry.sums (as Service journals them), half without (journaled before it existed).
        sums = document_sums(d) if i % 2 else None
        e = Entry(tenant, f"{tenant}-g", f"{tenant}-{i}", "sell", 4, "", "", b"h" * 32, False, ENC.encode(d), t0,
                  sums=sums)  # fmt: skip
        news.append(NewEntry(views.new_uuid(), e))
    acc = intake.accept(news)
    ents = intake.entries([a.uuid for a in acc])
    out = []
    for i, (a, e, d) in enumerate(zip(acc, ents, docs, strict=True)):
        status = "fail" if rng.random() < 0.1 else "done"
        day = 20 + i * 3 // n  # three local days
        o = Outcome(status, t0 + i, f"r{i % 3}", "9999078900000001", "0000000001012345", 1000 + i, 777, 1 + i % 2,
                    i + 1, f"2026-11-{day:02d}T12:00:{i % 60:02d}", d.total, 3)  # fmt: skip
        out.append((a.uuid, e, o, d))
    return out


@pytest.fixture
def filled(tmp_path: Any) -> Iterator[tuple[Intake, list[tuple[bytes, Entry, Outcome, Any]]]]:
    with Intake(tmp_path / "intake", map_size=1 << 28) as intake:
        t0 = 1_790_000_000.0
        mine = _fill(intake, "a", 300, seed=1, t0=t0)
        theirs = _fill(intake, "b", 50, seed=2, t0=t0)
        # Interleaved batches of both tenants, as the pipeline writes them.
        for k in range(0, 300, 40):
            intake.finish([(u, e, o) for u, e, o, _ in mine[k : k + 40]])
            intake.finish([(u, e, o) for u, e, o, _ in theirs[k // 6 : k // 6 + 7]])
        yield intake, mine


def test_keyset_pages_cover_every_receipt_exactly_once(filled: Any) -> None:
    intake, mine = filled
    for keep, expect in (
        (None, {u for u, *_ in mine}),
        (lambda o: o.status == "fail", {u for u, _, o, _ in mine if o.status == "fail"}),
        (lambda o: o.register == "r1", {u for u, _, o, _ in mine if o.register == "r1"}),
    ):
        got: list[bytes] = []
        below, pages = 1 << 63, 0
        while below:
            rows, below = intake.feed_page("a", below=below, limit=17, scan=40, keep=keep)
            got.extend(u for _, u, _, _ in rows)
            assert [f for f, *_ in rows] == sorted((f for f, *_ in rows), reverse=True)
            pages += 1
        assert len(got) == len(set(got)) and set(got) == expect
        assert pages > 3


def test_time_bisection_and_fd_index(filled: Any) -> None:
    intake, mine = filled
    t0 = mine[0][2].at
    lo, hi = intake.feed_bounds("a") or (0, 0)
    assert intake.feed_seq_at("a", t0 - 10) == lo
    assert intake.feed_seq_at("a", t0 + 1e6) == hi + 1
    s = intake.feed_seq_at("a", t0 + 150)
    rows, _ = intake.feed_page("a", below=1 << 63, floor=s, limit=1000)
    assert sorted(o.at for *_, o in rows) == [t0 + i for i in range(150, 300)]
    u, _, o, _ = next(m for m in mine if m[2].status == "done")
    assert intake.by_fd("a", o.fd_number, o.fn_number) == [u]
    assert intake.by_fd("a", o.fd_number) == [u]
    assert intake.by_fd("b", o.fd_number, o.fn_number) != [u]
    assert intake.by_fd("a", 10**9) == []


def test_aggregates_equal_the_sums_of_the_receipts(filled: Any) -> None:
    intake, mine = filled
    expect: dict[tuple[str, str, int], list[int]] = {}
    for _, _, o, d in mine:
        if o.status != "done":
            continue
        row = expect.setdefault((o.when[:10], o.register, o.shift_number), [0, 0, 0, 0, 0])
        row[0] += 1
        row[1] += o.total
        row[2] += d.payments.cash
        row[3] += d.payments.electronic
        row[4] += sum(v for v, _ in vat_totals(d.items).values()) if d.vats is None else sum(v.amount for v in d.vats)
    got: dict[tuple[str, str, int], list[int]] = {}
    for a in intake.aggregates("a", "2026-11-01", "2026-11-30", batch=2):  # batch 2: the resumption is exercised
        r = got.setdefault((a.day, a.register, a.shift), [0, 0, 0, 0, 0])
        for (kind, rate), v in a.rows.items():
            assert kind == 1
            if rate == RECEIPT_ROW:
                for i in range(4):
                    r[i] += v[i]
            else:
                r[4] += v[1]
    assert got == expect
    assert intake.finished_counts("a") == (
        sum(o.status == "done" for _, _, o, _ in mine),
        sum(o.status == "fail" for _, _, o, _ in mine),
    )
    # A replayed batch changes nothing (finish is idempotent, and so are the indexes it writes).
    intake.finish([(u, e, o) for u, e, o, _ in mine[:40]])
    again = {}
    for a in intake.aggregates("a", "2026-11-01", "2026-11-30"):
        again[(a.day, a.register, a.shift)] = a.rows[(1, RECEIPT_ROW)][0]
    assert again == {k: v[0] for k, v in expect.items()}


# ---------------------------------------------------------------------------------------------- a real server

ITEM = {
    "name": "товар",
    "price": 100.0,
    "quantity": 1,
    "sum": 100.0,
    "measurement_unit": "шт",
    "payment_method": "full_payment",
    "payment_object": "commodity",
    "vat": {"type": "vat20"},
}
HOSTILE = "<script>alert('x')</script>\"&<img src=x onerror=alert(1)>"


def sell_v4(external_id: str, inn: str = "5544332219", name: str = "товар", price: float = 100.0) -> dict[str, Any]:
    item = {**ITEM, "name": name, "price": price, "sum": price}
    return {
        "external_id": external_id,
        "timestamp": "01.06.2026 13:45:00",
        "service": {"callback_url": ""},
        "receipt": {
            "client": {"email": "kkt@kkt.ru"},
            "company": {"email": "c@shop.example", "sno": "osn", "inn": inn, "payment_address": "https://s.example/"},
            "items": [item, {**ITEM, "vat": {"type": "vat10"}}],
            "payments": [{"type": 1, "sum": price + 100.0}],
            "total": price + 100.0,
        },
    }


def cli(data: Any, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "fiscal_core", *args, "--data", str(data)], check=True, cwd=ROOT,
                   capture_output=True)  # fmt: skip


class Browserless:
    """A cookie-keeping HTTP client for the dashboard's HTML pages."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.jar: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict[str, str] | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, str, dict[str, str]]:  # fmt: skip
        h = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.jar.items()), **(headers or {})}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            h["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=h)
        resp = self.conn.getresponse()
        data = resp.read()
        for name, value in resp.getheaders():
            if name.lower() == "set-cookie":
                k, _, rest = value.partition("=")
                v = rest.split(";", 1)[0]
                if "Max-Age=0" in value:
                    self.jar.pop(k, None)
                else:
                    self.jar[k] = v
        return resp.status, data.decode("utf-8"), {k.lower(): v for k, v in resp.getheaders()}

    def get(self, path: str) -> tuple[int, str]:
        status, text, _ = self.request("GET", path)
        return status, text

    def sign_in(self, login: str, password: str) -> int:
        _, page = self.get("/ui/login")
        token = re.search(r'name="pre" value="([^"]+)"', page)
        assert token
        status, _, _ = self.request("POST", "/ui/login", {"pre": token.group(1), "login": login,
                                                                "password": password, "next": ""})  # fmt: skip
        return status

    def csrf(self) -> str:
        _, page = self.get("/ui/receipts")
        m = re.search(r'name="csrf" value="([^"]+)"', page)
        assert m
        return m.group(1)

    def close(self) -> None:
        self.conn.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("dash") / "data"
    cli(data, "fleet", "sandbox")
    cli(data, "tenant", "add", "--login", "other", "--password", "pw2", "--inn", "7707083893", "--name", "ООО Другой")
    cli(data, "group", "add", "--tenant", "other", "--code", "other-v4", "--ffd", "1.05")
    cli(data, "register", "add", "--group", "other-v4", "--count", "1")
    srv = Server(data).start()
    try:
        yield srv
    finally:
        assert srv.stop() == 0, srv.log.read_text()[-3000:]


@pytest.fixture(scope="module")
def receipts(server: Server) -> dict[str, Any]:
    """60 receipts of the sandbox (one with a hostile item name and external_id), 20 of the other tenant."""
    out: dict[str, Any] = {"sandbox": {}, "other": {}, "hostile_item": ""}
    for login, password, group, inn, n in (("sandbox", "sandbox", "sandbox-v4", "5544332219", 60),
                                           ("other", "pw2", "other-v4", "7707083893", 20)):  # fmt: skip
        api = server.client()
        api.login("v4", login, password)
        items = []
        for k in range(n):
            name = HOSTILE if (login, k) == ("sandbox", 7) else f"товар {k}"
            ext = f"{login}-{uuidlib.uuid4().hex[:10]}"
            ext = {9: f"{login}-{HOSTILE}", 11: f"={login}+1"}.get(k, ext)
            items.append({**sell_v4(ext, inn, name, 10.0 + k), "group_code": group, "operation": "sell"})
        status, got = api.post("/api/v1/receipts", {"receipts": items})
        assert status == 200 and got["accepted"] == n, got
        for item, r in zip(items, got["results"], strict=True):
            out[login][r["uuid"]] = item["external_id"]
            if item["receipt"]["items"][0]["name"] == HOSTILE:
                out["hostile_item"] = r["uuid"]
        for u in out[login]:
            api.wait_done("v4", group, u)
        api.close()
    return out


def _signed_in(server: Server, login: str = "sandbox", password: str = "sandbox") -> Browserless:
    b = Browserless(server.port)
    assert b.sign_in(login, password) == 303
    return b


def test_sign_in_sessions_and_redirects(server: Server) -> None:
    b = Browserless(server.port)
    status, _, headers = b.request("GET", "/ui/receipts")
    assert status == 303 and headers["location"].startswith("/ui/login")
    assert b.sign_in("sandbox", "wrong") == 401 and "fc_session" not in b.jar
    assert b.sign_in("nobody", "sandbox") == 401
    assert b.sign_in("sandbox", "sandbox") == 303
    cookie = next(v for k, v in b.request("GET", "/ui/login")[2].items() if k == "set-cookie")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    status, page = b.get("/ui/receipts")
    assert status == 200 and "sandbox" in page
    # A tampered cookie (another login in the body, the same MAC) is no session.
    head, _, sig = b.jar["fc_session"].partition(".")
    forged = Browserless(server.port)
    forged.jar["fc_session"] = head.replace(head[:4], "b3Ro", 1) + "." + sig
    assert forged.request("GET", "/ui/receipts")[0] == 303
    # Sign-out needs the CSRF token; then the session cookie is gone.
    assert b.request("POST", "/ui/logout", {"csrf": "nope"})[0] == 403
    status, _, headers = b.request("POST", "/ui/logout", {"csrf": b.csrf()})
    assert status == 303 and "fc_session" not in b.jar
    assert b.request("GET", "/ui/receipts")[0] == 303
    # The sign-in form's own token: a POST without the pre cookie is refused.
    fresh = Browserless(server.port)
    assert fresh.request("POST", "/ui/login", {"pre": "x", "login": "sandbox", "password": "sandbox"})[0] == 403
    for c in (b, forged, fresh):
        c.close()


def test_wrong_passwords_in_the_sign_in_form_are_throttled(server: Server) -> None:
    b = Browserless(server.port)
    for _ in range(5):  # ServiceSettings.sign_in_failures: a login from one address
        assert b.sign_in("dash-guess", "wrong") == 401
    token = re.search(r'name="pre" value="([^"]+)"', b.get("/ui/login")[1])
    assert token is not None
    status, page, headers = b.request(
        "POST", "/ui/login", {"pre": token.group(1), "login": "dash-guess", "password": "wrong again"}
    )
    assert status == 429 and 1 <= int(headers["retry-after"]) <= 60
    assert "Слишком много неудачных попыток" in page
    # The tenant itself still signs in from this address.
    assert b.sign_in("sandbox", "sandbox") == 303
    b.close()


def test_csrf_and_origin_are_checked_on_every_post(server: Server) -> None:
    b = _signed_in(server)
    form = {"group": "sandbox-v4", "operation": "sell", "external_id": "csrf-1"}
    assert b.request("POST", "/ui/new/receipt", form)[0] == 403
    assert b.request("POST", "/ui/new/receipt", {**form, "csrf": "x" * 32})[0] == 403
    token = b.csrf()
    evil = {"Origin": "http://evil.example"}
    assert b.request("POST", "/ui/new/receipt", {**form, "csrf": token}, evil)[0] == 403
    # The right token passes the check (and then fails validation: nothing else was filled in).
    assert b.request("POST", "/ui/new/receipt", {**form, "csrf": token})[0] == 400
    b.close()


def _all_pages(b: Browserless, mine: dict[str, str]) -> list[str]:
    today = dt.date.today()
    span = {"from": (today - dt.timedelta(days=2)).isoformat(), "to": (today + dt.timedelta(days=2)).isoformat()}
    paths = [
        "/ui/receipts",
        "/ui/receipts?" + urllib.parse.urlencode(span),
        "/ui/registers",
        "/ui/reports?" + urllib.parse.urlencode({**span, "by": "shift"}),
        "/ui/reports?" + urllib.parse.urlencode({**span, "by": "register"}),
        "/ui/export/receipts.csv",
        "/ui/export/receipts.json",
        "/ui/export/report.csv?" + urllib.parse.urlencode({**span, "by": "shift"}),
        "/ui/export/report.json?" + urllib.parse.urlencode({**span, "by": "register"}),
        "/ui/live.json",
        "/ui/new/receipt",
        "/ui/calculator",
    ]
    pages = []
    for p in paths:
        status, text = b.get(p)
        assert status == 200, (p, text[:500])
        pages.append(text)
    for u in list(mine)[:3]:
        status, text = b.get(f"/ui/receipts/{u}")
        assert status == 200
        pages.append(text)
    return pages


def test_a_tenant_never_sees_the_other_tenants_data(server: Server, receipts: dict[str, Any]) -> None:
    from fiscal_core.registers.model import FleetFile

    model = FleetFile(server.data).load()
    for me, password, other in (("sandbox", "sandbox", "other"), ("other", "pw2", "sandbox")):
        b = _signed_in(server, me, password)
        theirs = receipts[other]
        pages = _all_pages(b, receipts[me])
        their_groups = {code for code, g in model.groups.items() if g.tenant == other}
        their_registers = {serial for serial, r in model.registers.items() if r.group in their_groups}
        assert their_groups and their_registers
        for u, ext in theirs.items():
            status, page = b.get(f"/ui/receipts/{u}")
            assert status == 404 and u not in page
            for q in (u, ext):
                status, page = b.get("/ui/receipts?" + urllib.parse.urlencode({"q": q}))
                assert status == 200 and "Найдено: 0" in page and f"/ui/receipts/{u}" not in page
        for page in pages:
            for u, ext in theirs.items():
                assert u not in page and html.escape(ext) not in page and ext not in page
            for name in their_groups | their_registers:
                assert name not in page
        # Their group is not ours to punch a receipt into: as if it did not exist.
        status, page = b.get("/ui/new/receipt?group=" + next(iter(their_groups)))
        assert status == 404
        # Our own data is all there.
        _, csv_text = b.get("/ui/export/receipts.csv")
        assert set(receipts[me]) <= set(csv_text.split(","))  # every uuid of ours is a cell
        b.close()


def test_hostile_names_are_escaped(server: Server, receipts: dict[str, Any]) -> None:
    b = _signed_in(server)
    u = next(u for u, ext in receipts["sandbox"].items() if HOSTILE in ext)
    status, page = b.get(f"/ui/receipts/{u}")
    assert status == 200 and HOSTILE not in page and "<script>alert" not in page and html.escape(HOSTILE) in page
    status, page = b.get("/ui/receipts?" + urllib.parse.urlencode({"q": receipts["sandbox"][u]}))
    assert "Найдено: 1" in page and HOSTILE not in page and f"/ui/receipts/{u}" in page
    # The item named HOSTILE: escaped in the items table and in the paper layout.
    status, page = b.get(f"/ui/receipts/{receipts['hostile_item']}")
    assert status == 200 and page.count(html.escape(HOSTILE)) == 2 and "<script>" not in page
    assert "<img src=x" not in page
    # A spreadsheet formula in an external_id is defused in the CSV export.
    _, text = b.get("/ui/export/receipts.csv")
    cells = {r["external_id"] for r in csv.DictReader(io.StringIO(text.lstrip("\ufeff")))}
    assert "'=sandbox+1" in cells and "=sandbox+1" not in cells
    b.close()


def test_receipt_list_pages_cover_every_receipt_once(server: Server, receipts: dict[str, Any]) -> None:
    b = _signed_in(server)
    seen: list[str] = []
    path = "/ui/receipts"
    while path:
        status, page = b.get(path)
        assert status == 200
        seen += re.findall(r'class="uuid" href="/ui/receipts/([0-9a-f-]{36})"', page)
        older = re.search(r'id="older" href="([^"]+)"', page)
        path = html.unescape(older.group(1)) if older else ""
    mine = set(receipts["sandbox"])
    assert len(seen) == len(set(seen)) and mine <= set(seen)
    b.close()


def test_fd_lookup_and_receipt_page(server: Server, receipts: dict[str, Any]) -> None:
    b = _signed_in(server)
    api = server.client()
    api.login("v4")
    u = next(iter(receipts["sandbox"]))
    rep = api.wait_done("v4", "sandbox-v4", u)["payload"]
    fn, fd = rep["fn_number"], rep["fiscal_document_number"]
    status, page = b.get("/ui/receipts?" + urllib.parse.urlencode({"q": f"{fn}:{fd}"}))
    assert "Найдено: 1" in page and u in page
    status, page = b.get("/ui/receipts?" + urllib.parse.urlencode({"q": str(fd)}))
    assert u in page
    status, page = b.get(f"/ui/receipts/{u}")
    assert 'id="qr" src="data:image/svg+xml' in page
    check = html.unescape(re.search(r'id="check-link" href="([^"]+)"', page).group(1))  # type: ignore[union-attr]
    assert check == rep["ofd_receipt_url"]
    status, checked = api.get(urllib.parse.urlsplit(check).path + "?" + urllib.parse.urlsplit(check).query)
    assert status == 200 and checked["verified"] is True
    assert b.get("/ui/receipts/not-a-uuid")[0] == 404
    assert b.get(f"/ui/receipts/{uuidlib.uuid4()}")[0] == 404
    api.close()
    b.close()


def test_exports_stream_every_row_and_reports_equal_the_receipts(server: Server, receipts: dict[str, Any]) -> None:
    b = _signed_in(server)
    status, text, headers = b.request("GET", "/ui/export/receipts.csv")
    assert status == 200 and headers.get("transfer-encoding") == "chunked"
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert {r["uuid"] for r in rows} >= set(receipts["sandbox"]) and len(rows) == len({r["uuid"] for r in rows})
    status, text, _ = b.request("GET", "/ui/export/receipts.json")
    got = json.loads(text)["receipts"]
    assert len(got) == len(rows) and {r["uuid"] for r in got} == {r["uuid"] for r in rows}
    done = [r for r in got if r["status"] == "done"]
    today = dt.date.today()
    span = {"from": (today - dt.timedelta(days=2)).isoformat(), "to": (today + dt.timedelta(days=2)).isoformat()}
    status, text, _ = b.request("GET", "/ui/export/report.json?" + urllib.parse.urlencode({**span, "by": "day"}))
    report = json.loads(text)
    sales = [r for r in report["rows"] if r["vat_rate"] == 0 and r["kind"] == 1]
    assert sum(r["receipts"] for r in sales) == len(done)
    assert sum(r["total"] for r in sales) == sum(r["fiscal"]["total"] for r in done)
    status, text, _ = b.request("GET", "/ui/export/report.csv?" + urllib.parse.urlencode({**span, "by": "shift"}))
    flat = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert sum(int(r["total"]) for r in flat if r["vat_rate"] == "0") == sum(r["fiscal"]["total"] for r in done)
    # Each receipt here: one vat20 item and one vat10 item of 100.00; the VAT per rate is as the drive computed.
    vat10 = sum(int(r["vat"]) for r in flat if r["vat_rate"] == "2")
    assert vat10 == len(done) * 909  # 100.00 at 10/110
    b.close()


def test_manual_receipt_form_uses_the_api_validation(server: Server) -> None:
    b = _signed_in(server)
    token = b.csrf()
    ext = f"manual-{uuidlib.uuid4().hex[:8]}"
    form = {
        "csrf": token, "group": "sandbox-v4", "operation": "sell", "external_id": ext,
        "receipt.company.sno": "osn", "receipt.company.inn": "5544332219",
        "receipt.company.payment_address": "https://shop.example/", "receipt.client.email": "b@example.com",
        "receipt.company.email": "shop@example.com",
        "receipt.items[0].name": "Ручной товар", "receipt.items[0].price": "abc", "receipt.items[0].quantity": "2",
        "receipt.items[0].sum": "250.00", "receipt.items[0].vat.type": "vat20",
        "receipt.items[0].payment_method": "full_payment", "receipt.items[0].payment_object": "commodity",
        "receipt.payments[0].type": "1", "receipt.payments[0].sum": "250.00", "receipt.total": "250.00",
    }  # fmt: skip
    status, page, _ = b.request("POST", "/ui/new/receipt", form)
    assert status == 400
    assert re.search(r'name="receipt.items\[0\].price"[^>]*>\s*<span class="field-error" '
                     r'data-path="receipt.items\[0\].price">', page)  # fmt: skip
    form["receipt.items[0].price"] = "120.00"  # 2 × 120.00 ≠ 250.00: the API's sum check, at its path
    status, page, _ = b.request("POST", "/ui/new/receipt", form)
    assert status == 400 and 'data-path="receipt.items[0].sum"' in page
    form["receipt.items[0].price"] = "125.00"
    status, page, headers = b.request("POST", "/ui/new/receipt", form)
    assert status == 303 and headers["location"].startswith("/ui/receipts/"), re.findall(
        r"field-error[^>]*>[^<]*", page
    )
    u = headers["location"].rsplit("/", 1)[1]
    api = server.client()
    api.login("v4")
    assert api.wait_done("v4", "sandbox-v4", u)["payload"]["total"] == 250.0
    status, page = b.get("/ui/receipts?" + urllib.parse.urlencode({"q": ext}))
    assert "Найдено: 1" in page and u in page
    status, page, _ = b.request("POST", "/ui/new/receipt", form)  # the same external_id again
    assert status == 400 and f'id="original" href="/ui/receipts/{u}"' in page
    # A correction (FFD 1.05: no items) through the same path.
    corr = {
        "csrf": token, "group": "sandbox-v4", "operation": "sell_correction", "external_id": ext + "-c",
        "correction.company.sno": "osn", "correction.company.inn": "5544332219",
        "correction.company.payment_address": "https://shop.example/",
        "correction.correction_info.type": "self", "correction.correction_info.base_date": "01.06.2026",
        "correction.correction_info.base_number": "7", "correction.payments[0].type": "1",
        "correction.payments[0].sum": "100.00", "correction.vats[0].type": "vat20", "correction.vats[0].sum": "16.67",
    }  # fmt: skip
    status, page, headers = b.request("POST", "/ui/new/correction", corr)
    assert status == 303, page[:2000]
    cu = headers["location"].rsplit("/", 1)[1]
    assert api.wait_done("v4", "sandbox-v4", cu)["status"] == "done"
    api.close()
    b.close()


def test_calculator_and_registers(server: Server) -> None:
    from fiscal_core.capacity import plan

    b = _signed_in(server)
    status, page = b.get("/ui/calculator?daily=200000&peak=80&service_time_s=1&target_wait_s=1&redundancy=1"
                         "&service=exponential")  # fmt: skip
    expect = plan(200000, 80, start=dt.date.today(), service_time_s=1, target_wait_s=1, redundancy=1)
    assert status == 200 and f'id="plan-registers">{expect.registers}<' in page and "<svg" in page
    status, page = b.get("/ui/calculator?daily=-5&peak=80")
    assert status == 400 and 'data-path="daily"' in page
    status, page = b.get("/ui/registers")
    regs = re.findall(r'<span class="register">([^<]+)</span>', page)
    assert status == 200 and len(regs) == 8  # the sandbox: 4 + 4
    status, text = b.get("/ui/live.json")
    live = json.loads(text)
    assert status == 200 and set(live) == {"t", "done", "fail", "queue"}
    b.close()


def test_static_files_and_security_headers(server: Server) -> None:
    b = _signed_in(server)
    for name in ("dashboard.css", "dashboard.js"):
        status, text, headers = b.request("GET", f"/ui/static/{name}")
        assert status == 200 and text and headers["x-content-type-options"] == "nosniff"
    assert b.request("GET", "/ui/static/..%2f..%2fapi.key")[0] == 404
    status, _, headers = b.request("GET", "/ui/receipts")
    assert "script-src 'self'" in headers["content-security-policy"] and headers["cache-control"] == "no-store"
    b.close()


def test_every_worker_serves_every_page(tmp_path: Any) -> None:
    """Two workers: each fiscalizes one of the sandbox's groups; whichever takes the connection shows all."""
    data = tmp_path / "data"
    cli(data, "fleet", "sandbox")
    srv = Server(data, "--workers", "2").start()
    try:
        api = srv.client()
        api.login("v4")
        _, got = api.post("/possystem/v4/sandbox-v4/sell", sell_v4("two-workers"))
        api.wait_done("v4", "sandbox-v4", got["uuid"])
        api.close()
        good, deadline = 0, time.monotonic() + 30
        while good < 8:  # eight new connections in a row (spread over both workers by SO_REUSEPORT) see it all
            assert time.monotonic() < deadline, "the workers never showed every register"
            b = Browserless(srv.port)
            assert b.sign_in("sandbox", "sandbox") == 303
            regs = re.findall(r'<span class="register">([^<]+)</span>', b.get("/ui/registers")[1])
            found = got["uuid"] in b.get("/ui/receipts?q=two-workers")[1]
            b.close()
            good = good + 1 if len(regs) == 8 and found else 0
            if not good:
                time.sleep(0.2)
    finally:
        assert srv.stop() == 0, srv.log.read_text()[-3000:]


def test_day_range_parses_each_date_and_names_a_bad_one() -> None:
    import datetime as dt

    from fiscal_core.dashboard.core import day_range

    assert day_range({"from": "2026-11-01", "to": " 2026-11-23 "}) == (dt.date(2026, 11, 1), dt.date(2026, 11, 23), "")
    first, last, error = day_range({"from": "01.11.2026", "to": "2026-11-23"})
    assert first is None and last == dt.date(2026, 11, 23) and "01.11.2026" in error
    assert day_range({}) == (None, None, "")
