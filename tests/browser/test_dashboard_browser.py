"""The dashboard in a real headless browser (issue 9): Debian's chromium driven by Playwright, against a real
``fiscal-core serve`` on a free port (tests/apiclient.py; stopped by its pid).

Each step leaves a screenshot in ``tests/artifacts/<test>/NN-step.png`` (not committed). Playwright's own
browsers are never downloaded: chromium is ``/usr/bin/chromium`` (``make browser-deps`` installs it) or
``FISCAL_CORE_CHROMIUM``. Without it these tests skip, unless ``FISCAL_CORE_REQUIRE_BROWSER=1`` (then they fail).
"""

from __future__ import annotations

import csv
import io
import os
import pathlib
import re
import subprocess
import sys
import threading
import time
import uuid as uuidlib
from collections.abc import Iterator
from typing import Any

import pytest
from apiclient import ROOT, Server

CHROMIUM = os.environ.get("FISCAL_CORE_CHROMIUM", "/usr/bin/chromium")
REQUIRE = os.environ.get("FISCAL_CORE_REQUIRE_BROWSER") == "1"
ARTIFACTS = ROOT / "tests" / "artifacts"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # without these chromium stalls on a machine with no network
    "--disable-component-update",
    "--disable-sync",
]


def _why_not() -> str | None:
    if not os.access(CHROMIUM, os.X_OK):
        return f"no chromium at {CHROMIUM} (make browser-deps installs Debian's)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    return None


_MISSING = _why_not()
if _MISSING is not None:
    if REQUIRE:
        raise RuntimeError(f"FISCAL_CORE_REQUIRE_BROWSER=1 but {_MISSING}")
    pytest.skip(_MISSING, allow_module_level=True)

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402


class Shots:
    """Numbered screenshots of one test."""

    def __init__(self, page: Page, test: str) -> None:
        self.page = page
        self.dir = ARTIFACTS / test
        self.dir.mkdir(parents=True, exist_ok=True)
        for old in self.dir.glob("*.png"):
            old.unlink()
        self.n = 0

    def __call__(self, step: str, *, full: bool = True) -> pathlib.Path:
        self.n += 1
        path = self.dir / f"{self.n:02d}-{step}.png"
        self.page.screenshot(path=str(path), full_page=full)
        assert path.stat().st_size > 1000
        return path


def sell(external_id: str, price: float) -> dict[str, Any]:
    item = {"name": "Кофе зерновой 1 кг", "price": price, "quantity": 1, "sum": price, "measurement_unit": "шт",
            "payment_method": "full_payment", "payment_object": "commodity", "vat": {"type": "vat22"}}  # fmt: skip
    return {
        "external_id": external_id,
        "timestamp": "01.06.2026 13:45:00",
        "service": {"callback_url": ""},
        "receipt": {
            "client": {"email": "buyer@example.com"},
            "company": {
                "email": "shop@example.com",
                "sno": "osn",
                "inn": "5544332219",
                "payment_address": "https://shop.example/",
            },
            "items": [item, {**item, "name": "Молоко 3,2%", "price": 89.9, "sum": 89.9, "vat": {"type": "vat10"}}],
            "payments": [{"type": 1, "sum": round(price + 89.9, 2)}],
            "total": round(price + 89.9, 2),
        },
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("browser") / "data"
    subprocess.run([sys.executable, "-m", "fiscal_core", "fleet", "sandbox", "--data", str(data)], check=True,
                   cwd=ROOT, capture_output=True)  # fmt: skip
    srv = Server(data).start()
    try:
        yield srv
    finally:
        assert srv.stop() == 0, srv.log.read_text()[-3000:]


@pytest.fixture(scope="module")
def seeded(server: Server) -> dict[str, str]:
    """external_id → uuid of 12 fiscalized receipts of the sandbox."""
    api = server.client()
    api.login("v4")
    out = {}
    for k in range(12):
        ext = f"order-{k:03d}-{uuidlib.uuid4().hex[:6]}"
        status, got = api.post("/possystem/v4/sandbox-v4/sell", sell(ext, 100.0 + 10 * k))
        assert status == 200, got
        out[ext] = got["uuid"]
    for u in out.values():
        api.wait_done("v4", "sandbox-v4", u)
    api.close()
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Browser, server: Server, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(base_url=f"http://127.0.0.1:{server.port}", viewport={"width": 1360, "height": 900},
                                  accept_downloads=True, locale="ru-RU")  # fmt: skip
    context.set_default_timeout(15_000)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    # Console errors but the intended 4xx pages (a wrong password, a refused form): script errors, CSP refusals.
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" and "Failed to load" not in m.text else None)
    try:
        yield pg
    finally:
        context.close()
    assert not errors, errors


def sign_in(page: Page, shots: Shots | None = None) -> None:
    page.goto("/ui/receipts")
    expect(page).to_have_url(re.compile(r"/ui/login"))
    page.fill("input[name=login]", "sandbox")
    page.fill("input[name=password]", "sandbox")
    if shots:
        shots("sign-in-form")
    page.click("#login-form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/ui/receipts$"))
    expect(page.locator("nav.top .who")).to_have_text("sandbox")


def test_sign_in_find_a_receipt_and_see_its_qr(page: Page, seeded: dict[str, str]) -> None:
    shots = Shots(page, "test_sign_in_find_a_receipt_and_see_its_qr")
    # A wrong password first: the form says so and no session is made.
    page.goto("/ui/login")
    page.fill("input[name=login]", "sandbox")
    page.fill("input[name=password]", "wrong")
    page.click("#login-form button[type=submit]")
    expect(page.locator("#login-error")).to_be_visible()
    shots("wrong-password")
    sign_in(page, shots)
    expect(page.locator("#receipts tbody tr")).to_have_count(12)
    shots("receipts")
    ext, u = sorted(seeded.items())[5]
    page.fill("#q", ext)
    page.click("#search-form button[type=submit]")
    expect(page.locator("#found")).to_have_text("Найдено: 1")
    shots("search-by-external-id")
    page.click(f"a.uuid[href='/ui/receipts/{u}']")
    expect(page.locator("#receipt-external-id")).to_have_text(ext)
    expect(page.locator("#receipt-status")).to_have_text("проведён")
    qr = page.locator("#qr")
    expect(qr).to_be_visible()
    assert page.evaluate("document.getElementById('qr').naturalWidth") > 100  # the SVG data URI rendered
    assert page.locator("#items tbody tr").count() == 2
    assert "fn=" in (page.locator("#qr-text").text_content() or "")
    shots("receipt-with-qr")
    page.emulate_media(media="print")
    expect(page.locator("#paper")).to_be_visible()
    shots("receipt-print-layout")
    page.emulate_media(media="screen")
    # Search by FD number: FN:FD from the receipt page.
    fn, fd = page.locator("#fn").text_content(), page.locator("#fd").text_content()
    page.goto(f"/ui/receipts?q={fn}:{fd}")
    expect(page.locator("#found")).to_have_text("Найдено: 1")
    shots("search-by-fd")
    # The check link verifies the receipt (the tax service's check, by the QR parameters).
    page.goto(f"/ui/receipts/{u}")
    href = page.locator("#check-link").get_attribute("href")
    assert href and "/api/v1/check?" in href
    resp = page.request.get(href)
    assert resp.status == 200 and resp.json()["verified"] is True


def test_export_csv(page: Page, seeded: dict[str, str]) -> None:
    shots = Shots(page, "test_export_csv")
    sign_in(page)
    with page.expect_download() as info:
        page.click("#export-csv")
    download = info.value
    text = pathlib.Path(download.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert set(seeded.values()) <= {r["uuid"] for r in rows}
    assert download.suggested_filename.startswith("receipts-") and download.suggested_filename.endswith(".csv")
    shots("receipts-export-clicked")
    page.goto("/ui/reports?by=shift")
    expect(page.locator("#report-sales tbody tr").first).to_be_visible()
    shots("reports-by-shift")
    with page.expect_download() as info:
        page.click("#report-csv")
    report = list(csv.DictReader(io.StringIO(pathlib.Path(info.value.path()).read_text(encoding="utf-8-sig"))))
    assert sum(int(r["receipts"]) for r in report if r["vat_rate"] == "0") >= len(seeded)


def test_punch_a_manual_receipt_and_find_it(page: Page, server: Server) -> None:
    shots = Shots(page, "test_punch_a_manual_receipt_and_find_it")
    sign_in(page)
    page.click("nav.top a[href='/ui/new/receipt']")
    ext = page.locator("[name=external_id]").input_value()
    assert ext.startswith("ui-")
    page.fill("[name='receipt.company.email']", "shop@example.com")
    page.fill("[name='receipt.client.email']", "buyer@example.com")
    page.fill("[name='receipt.items[0].name']", "Ручной товар <b>жирный</b>")
    page.fill("[name='receipt.items[0].price']", "150")
    page.fill("[name='receipt.items[0].quantity']", "2")
    page.fill("[name='receipt.items[0].measurement_unit']", "шт")
    # The page's script computes the sum and the totals as the user types.
    expect(page.locator("[name='receipt.items[0].sum']")).to_have_value("300.00")
    expect(page.locator("[name='receipt.total']")).to_have_value("300.00")
    expect(page.locator("[name='receipt.payments[0].sum']")).to_have_value("300.00")
    # A wrong sum typed by hand: refused by the API's validation, shown at the field.
    page.fill("[name='receipt.items[0].sum']", "301.00")
    shots("manual-form-filled")
    page.click("#submit")
    expect(page.locator(".field-error[data-path='receipt.items[0].sum']")).to_be_visible()
    shots("manual-form-refused")
    page.fill("[name='receipt.items[0].sum']", "300.00")
    page.click("#submit")
    expect(page).to_have_url(re.compile(r"/ui/receipts/[0-9a-f-]{36}$"))
    expect(page.locator("#receipt-external-id")).to_have_text(ext)
    for _ in range(100):  # until fiscalized (the pipeline is fast; a reload is cheap)
        if page.locator("#receipt-status").text_content() == "проведён":
            break
        page.wait_for_timeout(100)
        page.reload()
    expect(page.locator("#receipt-status")).to_have_text("проведён")
    expect(page.locator("#items .name")).to_have_text("Ручной товар <b>жирный</b>")  # text, not markup
    expect(page.locator("#total")).to_have_text("300.00")
    shots("manual-receipt-fiscalized")
    page.goto("/ui/receipts")
    page.fill("#q", ext)
    page.click("#search-form button[type=submit]")
    expect(page.locator("#found")).to_have_text("Найдено: 1")
    shots("manual-receipt-found")


def test_calculator_registers_and_live_chart(page: Page, server: Server) -> None:
    shots = Shots(page, "test_calculator_registers_and_live_chart")
    sign_in(page)
    page.click("nav.top a[href='/ui/calculator']")
    page.fill("[name=daily]", "250000")
    page.fill("[name=peak]", "120")
    page.click("#calc-form button[type=submit]")
    expect(page.locator("#plan-registers")).to_be_visible()
    assert int(page.locator("#plan-registers").text_content() or "0") > 120
    expect(page.locator("#plan-chart svg")).to_be_visible()
    shots("calculator")
    page.fill("[name=peak]", "-3")
    page.click("#calc-form button[type=submit]")
    expect(page.locator(".field-error[data-path=peak]")).to_be_visible()
    shots("calculator-refused")
    page.click("nav.top a[href='/ui/registers']")
    expect(page.locator("#registers tbody tr")).to_have_count(8)
    shots("registers")
    # The live chart moves while receipts flow in.
    stop = threading.Event()

    def load() -> None:
        api = server.client()
        api.login("v4")
        k = 0
        while not stop.is_set():
            api.post("/possystem/v4/sandbox-v4/sell", sell(f"live-{uuidlib.uuid4().hex}", 50.0 + k))
            k += 1
            time.sleep(0.02)
        api.close()

    feeder = threading.Thread(target=load, daemon=True)
    feeder.start()
    try:
        page.click("nav.top a[href='/ui/live']")
        page.wait_for_function("() => Number(document.getElementById('live-chart').dataset.samples) >= 4")
        page.wait_for_function("() => Number(document.getElementById('live-total').textContent) > 0")
        assert page.locator("#live-chart polyline").get_attribute("points")
        shots("live-throughput")
    finally:
        stop.set()
        feeder.join(10)
