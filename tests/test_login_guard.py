"""Throttling of failed sign-ins: the counters (fiscal_core.api.login_guard) and the live server's answers."""

from __future__ import annotations

import json
import pathlib

import pytest
from apiclient import Server

from fiscal_core.api.login_guard import LoginGuard

A, B = "10.0.0.1", "10.0.0.2"


def fail(guard: LoginGuard, login: str, address: str, now: float, times: int) -> None:
    for _ in range(times):
        assert guard.retry_after(login, address, now) is None
        guard.failed(login, address, now)


def test_a_login_from_one_address_is_locked_after_max_failures_and_unlocked_after_the_lockout() -> None:
    g = LoginGuard(max_failures=3, lockout_s=60)
    fail(g, "shop", A, 1000.0, 2)
    assert g.retry_after("shop", A, 1000.0) is None  # two failures: still checked
    g.failed("shop", A, 1000.0)
    assert g.retry_after("shop", A, 1000.0) == 60
    assert g.retry_after("shop", A, 1059.2) == 1  # rounded up: never "try again in 0 s"
    assert g.retry_after("shop", A, 1060.0) is None
    # Other logins from that address, and that login from another address, were never affected.
    assert g.retry_after("other", A, 1000.0) is None and g.retry_after("shop", B, 1000.0) is None
    assert g.refused == 2


def test_lockouts_within_the_window_double_up_to_the_maximum() -> None:
    g = LoginGuard(max_failures=2, lockout_s=60, max_lockout_s=200, window_s=900)
    now = 0.0
    waits = []
    for _ in range(4):
        fail(g, "shop", A, now, 2)
        wait = g.retry_after("shop", A, now)
        assert wait is not None
        waits.append(wait)
        now += wait
    assert waits == [60, 120, 200, 200]
    # A quiet window later, the count starts afresh with the first lockout's length.
    now += 900
    fail(g, "shop", A, now, 2)
    assert g.retry_after("shop", A, now) == 60


def test_failures_older_than_the_window_are_forgotten() -> None:
    g = LoginGuard(max_failures=3, window_s=100)
    fail(g, "shop", A, 0.0, 2)
    fail(g, "shop", A, 150.0, 2)  # the first two fell out of the window
    assert g.retry_after("shop", A, 150.0) is None


def test_a_right_password_clears_its_login_but_not_the_guesses_made_from_the_address() -> None:
    g = LoginGuard(max_failures=3, max_address_failures=5)
    fail(g, "shop", A, 0.0, 2)
    g.succeeded("shop", A)
    fail(g, "shop", A, 0.0, 2)
    assert g.retry_after("shop", A, 0.0) is None  # the pair restarted at 0 after the success
    # ...but the address counted all four, and a fifth failure at any login locks every sign-in from it.
    g.failed("other", A, 0.0)
    assert g.retry_after("anyone", A, 0.0) == 60 and g.retry_after("shop", A, 0.0) == 60
    assert g.retry_after("anyone", B, 0.0) is None


def test_guessing_one_login_from_many_addresses_locks_the_addresses_not_the_login() -> None:
    g = LoginGuard(max_failures=2)
    for i in range(50):
        fail(g, "shop", f"10.1.0.{i}", 0.0, 2)
    assert all(g.retry_after("shop", f"10.1.0.{i}", 0.0) == 60 for i in range(50))
    assert g.retry_after("shop", A, 0.0) is None  # the tenant's own integration still signs in


def test_memory_is_bounded_and_eviction_drops_finished_keys_first() -> None:
    g = LoginGuard(max_failures=2, max_address_failures=2, window_s=10, max_keys=100)
    fail(g, "victim", A, 0.0, 2)  # locked for 60 s: still relevant when the table fills up
    for i in range(500):
        g.failed("x", f"10.2.{i // 256}.{i % 256}", 20.0 + i * 0.001)
        assert len(g) <= 100
    assert len(g) <= 100
    fresh = LoginGuard(max_failures=2, window_s=10, max_keys=4)
    fresh.failed("a", A, 0.0)  # two keys: (a, A) and A
    fresh.failed("b", B, 50.0)  # two more; the table is full
    fresh.failed("c", "10.0.0.3", 51.0)  # the window of the first two is over: they go, not the live ones
    assert fresh.retry_after("b", B, 51.0) is None and len(fresh) == 4


@pytest.mark.parametrize(
    "kwargs",
    [{"max_failures": 0}, {"window_s": 0}, {"lockout_s": 0}, {"lockout_s": 10, "max_lockout_s": 5}, {"max_keys": 1}],
)
def test_nonsense_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        LoginGuard(**kwargs)  # type: ignore[arg-type]


def test_the_server_throttles_wrong_passwords_before_checking_them(tmp_path: pathlib.Path) -> None:
    with Server(tmp_path / "data") as srv:
        api = srv.client()
        api.token = None
        for _ in range(5):
            status, got = api.post("/possystem/v4/getToken", {"login": "sandbox-guess", "pass": "nope"})
            assert status == 401 and got["error"]["code"] == 12
        status, raw, headers = api.request(
            "POST", "/possystem/v4/getToken", b'{"login": "sandbox-guess", "pass": "still wrong"}'
        )
        got = json.loads(raw)
        assert status == 429 and got["error"]["code"] == 1 and got["error"]["retryable"] is True
        assert 1 <= int(headers["retry-after"]) <= 60
        # The same through GET and through the native API's token endpoint: the lock is the login's.
        assert api.get("/possystem/v5/getToken?login=sandbox-guess&pass=x")[0] == 429
        status, got = api.post("/api/v1/token", {"login": "sandbox-guess", "pass": "x"})
        assert status == 429 and got["error"]["code"] == "SignInThrottled", got
        # Another login from this address is untouched, and the refusals are counted.
        assert api.post("/possystem/v4/getToken", {"login": "sandbox", "pass": "sandbox"})[0] == 200
        metrics = api.request("GET", "/metrics")[1].decode()
        line = next(ln for ln in metrics.splitlines() if ln.startswith("fiscal_sign_in_throttled_total{"))
        assert int(line.rsplit(" ", 1)[1]) == 3
        api.close()
