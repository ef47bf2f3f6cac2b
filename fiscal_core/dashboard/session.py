"""Dashboard sessions: stateless signed cookies, CSRF tokens, and the sign-in form's token.

Rules
- The session cookie ``fc_session`` is ``base64url(login \\x1f expires \\x1f nonce) . base64url(HMAC-SHA256(K,
  that \\x1f the tenant's password hash))`` with ``K`` = HMAC(server key, "fiscal_core dashboard session v1") —
  the server key of ``DATA/api.key`` as for API tokens (tokens.py), under its own label so a session and an API
  token can never be taken for each other. Any worker checks it without a lookup; it lasts :data:`SESSION_TTL_S`;
  changing the tenant's password or removing the tenant ends every session of it (the hash is in the MAC).
- The cookie is ``HttpOnly; SameSite=Strict; Path=/ui`` (``Secure`` when the public URL is https). Signing out
  clears it; as for API tokens there is no server-side list, so a stolen cookie lives until it expires.
- Every POST form carries ``csrf`` = HMAC(K, "csrf" \\x1f nonce) of the session; a POST without the right one is
  refused (403) before anything else, as is one whose ``Origin`` is not this host. The sign-in form, which has
  no session yet, uses the double-submit pattern: a random ``fc_pre`` cookie set with the form and a field
  that is its HMAC.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["PRE_COOKIE", "SESSION_COOKIE", "SESSION_TTL_S", "Session", "Sessions", "cookies"]

SESSION_COOKIE = "fc_session"
PRE_COOKIE = "fc_pre"
SESSION_TTL_S = 8 * 3600
_SEP = b"\x1f"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def cookies(header: str) -> dict[str, str]:
    """The ``Cookie`` request header as a dict (first value of each name)."""
    out: dict[str, str] = {}
    for part in header.split(";"):
        name, eq, value = part.strip().partition("=")
        if eq and name not in out:
            out[name] = value
    return out


@dataclass(frozen=True, slots=True)
class Session:
    login: str
    expires: int
    nonce: str
    csrf: str


class Sessions:
    """Issue and check session cookies and CSRF tokens with one server key; see the module rules."""

    def __init__(self, server_key: bytes, *, ttl_s: int = SESSION_TTL_S, secure: bool = False) -> None:
        self._key = hmac.new(server_key, b"fiscal_core dashboard session v1", hashlib.sha256).digest()
        self.ttl_s = ttl_s
        self.secure = secure

    def _mac(self, *parts: bytes) -> bytes:
        return hmac.new(self._key, _SEP.join(parts), hashlib.sha256).digest()

    def issue(self, login: str, password_hash: str, now: float) -> str:
        """A new cookie value for ``login``."""
        body = _SEP.join((login.encode(), str(int(now) + self.ttl_s).encode(), secrets.token_hex(12).encode()))
        return f"{_b64(body)}.{_b64(self._mac(body, password_hash.encode()))}"

    def check(self, value: str, password_hash_of: Callable[[str], str | None], now: float) -> Session | None:
        """The session of a cookie value, or None (forged, expired, unknown tenant or password changed)."""
        try:
            head, _, sig = value.partition(".")
            body, mac = _unb64(head), _unb64(sig)
            login_b, expires_b, nonce_b = body.split(_SEP)
            login, expires, nonce = login_b.decode(), int(expires_b), nonce_b.decode()
        except (ValueError, UnicodeError):
            return None
        secret = password_hash_of(login)
        if secret is None or not hmac.compare_digest(mac, self._mac(body, secret.encode())) or now >= expires:
            return None
        return Session(login, expires, nonce, self.csrf(nonce))

    def csrf(self, nonce: str) -> str:
        return _b64(self._mac(b"csrf", nonce.encode()))[:32]

    def csrf_ok(self, session: Session, token: str) -> bool:
        return hmac.compare_digest(session.csrf.encode(), token.encode())

    def pre(self) -> tuple[str, str]:
        """(cookie value, form token) for the sign-in form."""
        value = secrets.token_hex(16)
        return value, self.pre_token(value)

    def pre_token(self, value: str) -> str:
        return _b64(self._mac(b"pre", value.encode()))[:32]

    def cookie(self, name: str, value: str, max_age: int) -> tuple[str, str]:
        secure = "; Secure" if self.secure else ""
        return ("Set-Cookie", f"{name}={value}; Path=/ui; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}")
