"""API tokens (ATOL ``getToken``): stateless, signed, 24 hours, valid in every worker and across restarts.

Rules
- A token is ``base64url(login \\x1f expires_utc \\x1f nonce) . base64url(HMAC-SHA256(server key, that))``: any
  worker holding the data directory's key checks it without a lookup, and it survives restarts. The key is 32
  random bytes created once in ``DATA/api.key`` (mode 0600); deleting the file revokes every token.
- Lifetime 24 h from issue (ATOL: "24 часа с момента первой выдачи"); an expired token is told apart from a
  malformed or forged one (ATOL codes 11 and 10/12 differ, clients re-request only on 11).
- Checking costs one HMAC; results are cached per token until expiry (a dict bounded in size).
- Passwords are never here: ``getToken`` checks them against the tenant's scrypt hash (registers.model) and
  this module only mints the token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass

__all__ = ["TOKEN_TTL_S", "TokenExpired", "TokenInvalid", "Tokens", "load_key"]

TOKEN_TTL_S = 24 * 3600
_SEP = b"\x1f"
_CACHE_MAX = 100_000


class TokenInvalid(Exception):
    """Malformed, forged or signed by another key."""


class TokenExpired(Exception):
    """Well-formed and genuine, but past its 24 hours."""


def load_key(data_dir: str | os.PathLike[str]) -> bytes:
    """The server key of ``data_dir``, created on first use (atomically: two workers starting agree)."""
    path = os.path.join(os.fspath(data_dir), "api.key")
    try:
        with open(path, "rb") as f:
            key = f.read()
        if len(key) == 32:
            return key
    except FileNotFoundError:
        pass
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(secrets.token_bytes(32))
        f.flush()
        os.fsync(f.fileno())
    try:
        os.link(tmp, path)  # fails if another worker won the race: then its key is the key
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)
    with open(path, "rb") as f:
        return f.read()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class Grant:
    login: str
    expires_utc: int


class Tokens:
    """Mint and check tokens with one server key; see the module rules."""

    def __init__(self, key: bytes, ttl_s: int = TOKEN_TTL_S) -> None:
        if len(key) < 16:
            raise ValueError("a token key has at least 16 bytes")
        self._key = key
        self.ttl_s = ttl_s
        self._cache: dict[str, Grant] = {}

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()

    def issue(self, login: str, now: float) -> tuple[str, int]:
        """A new token for ``login`` and its expiry (UTC seconds)."""
        expires = int(now) + self.ttl_s
        body = _SEP.join((login.encode(), str(expires).encode(), secrets.token_hex(8).encode()))
        return f"{_b64(body)}.{_b64(self._mac(body))}", expires

    def check(self, token: str, now: float) -> str:
        """The login the token was issued to; TokenExpired or TokenInvalid otherwise."""
        grant = self._cache.get(token)
        if grant is None:
            grant = self._parse(token)
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[token] = grant
        if now >= grant.expires_utc:
            raise TokenExpired("the token has expired")
        return grant.login

    def _parse(self, token: str) -> Grant:
        try:
            head, _, sig = token.partition(".")
            body = _unb64(head)
            mac = _unb64(sig)
        except (ValueError, UnicodeError):
            raise TokenInvalid("malformed token") from None
        if not hmac.compare_digest(mac, self._mac(body)):
            raise TokenInvalid("the token is not ours")
        parts = body.split(_SEP)
        if len(parts) != 3:
            raise TokenInvalid("malformed token")
        return Grant(parts[0].decode(), int(parts[1]))
