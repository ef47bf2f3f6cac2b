"""A tiny HTTP/1.1 client for outgoing webhook callbacks: one POST, one connection, the status back.

Rules of this module:

- One connection per call, ``Connection: close``; the response body is read and dropped (Content-Length,
  chunked or until the server closes, as ``httptools.HttpResponseParser`` frames it); interim 1xx responses
  are skipped.
- ``timeout_s`` bounds the whole call: name resolution, connect, TLS handshake, sending and the response.
- Every failure is an :class:`HttpClientError`: :class:`HttpConnectError` (could not connect, TLS failed, the
  connection broke), :class:`HttpTimeoutError`, :class:`HttpProtocolError` (not an HTTP/1.x response). All of
  them mean "not delivered, retry later"; a status code, whatever it is, means the server answered.
- Error messages name the URL without its query or credentials (a callback URL may carry a secret).
"""

from __future__ import annotations

import asyncio
import ssl as _ssl
from collections.abc import Sequence
from typing import Final, cast
from urllib.parse import urlsplit

import httptools

__all__ = ["HttpClientError", "HttpConnectError", "HttpProtocolError", "HttpTimeoutError", "post"]

_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_default_ssl: _ssl.SSLContext | None = None


class HttpClientError(Exception):
    """The request was not answered; safe to retry."""


class HttpConnectError(HttpClientError):
    pass


class HttpTimeoutError(HttpClientError):
    pass


class HttpProtocolError(HttpClientError):
    pass


class _Exchange(asyncio.Protocol):
    """Feeds the response to the parser and resolves ``status`` at the end of the final response."""

    def __init__(self, loop: asyncio.AbstractEventLoop, where: str) -> None:
        self.where = where
        self.status: asyncio.Future[int] = loop.create_future()
        self.parser = httptools.HttpResponseParser(self)
        self.headers_done = False
        self.framed = False  # Content-Length or chunked: the end is known without the connection closing

    def data_received(self, data: bytes) -> None:
        if self.status.done():
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(HttpProtocolError(f"{self.where}: the server switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(HttpProtocolError(f"{self.where}: bad response: {exc}"))

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() in (b"content-length", b"transfer-encoding"):
            self.framed = True

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_message_complete(self) -> None:
        code = self.parser.get_status_code()
        if 100 <= code < 200:  # 100 Continue and friends; the final response follows
            self.headers_done = self.framed = False
            return
        if not self.status.done():
            self.status.set_result(code)

    def eof_received(self) -> bool:
        if not self._ended_by_close():
            self._fail(HttpProtocolError(f"{self.where}: the server closed the connection mid-response"))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._ended_by_close():  # (a TLS peer may close without close_notify: no eof_received)
            self._fail(HttpConnectError(f"{self.where}: connection lost: {exc or 'closed'}"))

    def _ended_by_close(self) -> bool:
        """A response without Content-Length or chunking ends when the connection does."""
        if not self.status.done() and self.headers_done and not self.framed:
            self.status.set_result(self.parser.get_status_code())
        return self.status.done()

    def _fail(self, exc: HttpClientError) -> None:
        if not self.status.done():
            self.status.set_exception(exc)


def _request(method: str, target: str, host: str, body: bytes, headers: Sequence[tuple[str, str]]) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}", "Connection: close"]
    lines.extend(f"{name}: {value}" for name, value in headers)
    if any("\r" in line or "\n" in line for line in lines):
        raise ValueError("a request line or header contains a line break")  # header injection
    return "\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + body


async def post(
    url: str,
    body: bytes,
    headers: Sequence[tuple[str, str]],
    *,
    timeout_s: float,
    ssl_context: _ssl.SSLContext | None = None,
) -> int:
    """POST ``body`` to ``url`` (http or https) and return the response's status code."""
    global _default_ssl
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {parts.scheme}://{parts.hostname}{parts.path}")
    host = parts.hostname
    port = parts.port or _DEFAULT_PORTS[scheme]
    where = f"POST {scheme}://{host}:{port}{parts.path}"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = parts.netloc.rpartition("@")[2]
    data = _request("POST", target, host_header, body, headers)
    tls: _ssl.SSLContext | None = None
    if scheme == "https":
        if ssl_context is None and _default_ssl is None:
            _default_ssl = _ssl.create_default_context()
        tls = ssl_context or _default_ssl

    loop = asyncio.get_running_loop()
    transport: asyncio.BaseTransport | None = None
    exchange: _Exchange | None = None
    try:
        async with asyncio.timeout(timeout_s) as deadline:
            try:
                transport, exchange = await loop.create_connection(
                    lambda: _Exchange(loop, where), host, port, ssl=tls, server_hostname=host if tls else None
                )
            except OSError as exc:  # refused, unreachable, DNS (socket.gaierror), TLS (ssl.SSLError)
                raise HttpConnectError(f"{where}: cannot connect: {exc}") from exc
            cast(asyncio.WriteTransport, transport).write(data)
            return await exchange.status
    except TimeoutError as exc:
        if deadline.expired():
            raise HttpTimeoutError(f"{where}: no response within {timeout_s}s") from exc
        raise HttpConnectError(f"{where}: {exc}") from exc
    finally:
        if exchange is not None and not exchange.status.done():
            exchange.status.cancel()  # nobody waits for it any more (timeout, cancellation)
        if transport is not None:
            transport.close()
