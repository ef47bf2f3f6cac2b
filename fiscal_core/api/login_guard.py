"""Throttling of failed sign-ins (ATOL ``getToken`` and the dashboard's form), per worker.

Rules
- Two keys are counted for every failed password check: the pair (login, address), locked after
  ``max_failures`` failures within ``window_s``, and the client address alone, locked after
  ``max_address_failures`` (higher: many integrations of one merchant may share an egress address). A lock
  lasts ``lockout_s``; each further lockout of the same key within the window doubles that, up to
  ``max_lockout_s``. A locked key is refused before any
  password check runs: no scrypt (~60 ms of CPU) is spent on it, so a flood of wrong passwords costs the
  server a dict lookup each, not a core.
- A login alone is never locked: an attacker guessing one tenant's password from many addresses must not
  lock the tenant's own integrations out. Those addresses are each locked, and a client that already signed
  in with the right password (the worker's auth cache) is never asked to check a password again.
- A successful sign-in clears its (login, address) key, not the address: one good login from an address
  does not reset the count of the guesses made from it at other logins.
- Memory is bounded: at most ``max_keys`` keys; when full, keys whose window and lockout are over are dropped
  first, then the oldest half. Losing a key only forgets failures — never refuses anyone.
- The answer is HTTP 429 with Retry-After (seconds until the lockout ends) and ``retryable``: the client may try
  again then, not sooner.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["LoginGuard"]


@dataclass(slots=True)
class _Record:
    first: float  #: start of the current counting window
    failures: int
    locked_until: float
    lockouts: int  #: lockouts within the window: the next one lasts lockout_s × 2**lockouts


class LoginGuard:
    """Failed-sign-in counters; see the module rules."""

    def __init__(
        self,
        *,
        max_failures: int = 5,
        max_address_failures: int = 50,
        window_s: float = 900.0,
        lockout_s: float = 60.0,
        max_lockout_s: float = 3600.0,
        max_keys: int = 100_000,
    ) -> None:
        if min(max_failures, max_address_failures) < 1 or window_s <= 0 or not 0 < lockout_s <= max_lockout_s:
            raise ValueError("failures >= 1, window_s > 0, 0 < lockout_s <= max_lockout_s")
        if max_keys < 2:
            raise ValueError("max_keys >= 2")
        self.max_failures = max_failures
        self.max_address_failures = max_address_failures
        self.window_s = window_s
        self.lockout_s = lockout_s
        self.max_lockout_s = max_lockout_s
        self.max_keys = max_keys
        self._records: dict[tuple[str, str], _Record] = {}
        self.refused = 0  #: sign-ins refused while locked (for /metrics)

    @staticmethod
    def _keys(login: str, address: str) -> tuple[tuple[str, str], tuple[str, str]]:
        return ("", address), (login, address)

    def retry_after(self, login: str, address: str, now: float) -> int | None:
        """Seconds until this sign-in may be tried (>= 1), or None when it may be checked now."""
        wait = 0.0
        for key in self._keys(login, address):
            rec = self._records.get(key)
            if rec is not None and rec.locked_until > now:
                wait = max(wait, rec.locked_until - now)
        if wait <= 0:
            return None
        self.refused += 1
        return max(1, math.ceil(wait))

    def failed(self, login: str, address: str, now: float) -> None:
        """Count a failed password check of ``login`` from ``address``."""
        for key in self._keys(login, address):
            rec = self._records.get(key)
            if rec is None or (now - rec.first >= self.window_s and rec.locked_until <= now):
                if rec is None and len(self._records) >= self.max_keys:
                    self._evict(now)
                rec = self._records[key] = _Record(now, 0, 0.0, 0)
            rec.failures += 1
            if rec.failures >= (self.max_address_failures if key[0] == "" else self.max_failures):
                rec.locked_until = now + min(self.max_lockout_s, self.lockout_s * 2**rec.lockouts)
                rec.lockouts += 1
                rec.failures = 0
                rec.first = now  # the window of further guesses starts with the lockout

    def succeeded(self, login: str, address: str) -> None:
        """A right password: forget the failures of (login, address)."""
        self._records.pop((login, address), None)

    def __len__(self) -> int:
        return len(self._records)

    def _evict(self, now: float) -> None:
        recs = self._records
        for key in [k for k, r in recs.items() if now - r.first >= self.window_s and r.locked_until <= now]:
            del recs[key]
        if len(recs) >= self.max_keys:
            by_age = sorted(recs, key=lambda k: recs[k].first)
            for key in by_age[: len(by_age) // 2]:
                del recs[key]
