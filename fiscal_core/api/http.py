"""HTTP/1.1 server core: a raw ``asyncio.Protocol`` over ``httptools`` on uvloop. Generic, no fiscal logic.

Rules of this module:

- A handler takes a :class:`Request` and returns a :class:`Response` (the fast path: no task, no closure, no
  timer) or an awaitable of one (work that must wait, e.g. a future completed from the journal's writer thread
  through ``loop.call_soon_threadsafe``). A coroutine is wrapped in a task; a future is awaited as it is.
- A :class:`Later` is the handler's promise of a response that code on the loop's thread completes: the
  response is rendered and written inside ``set_result``, not one loop iteration later as a future's
  done-callbacks are (under load an iteration is milliseconds: every ready socket's requests are handled in it).
- Pipelining: every request in a read is parsed and handled; responses leave strictly in request order. A
  response that is ready while an earlier one is still awaited waits in the connection's FIFO.
- One write per read on the fast path: the responses produced while one read is parsed are joined and written
  once, because a ``transport.write`` per response is a syscall per response.
- Every response has ``Content-Length``, ``Date`` (cached, refreshed by the ticker) and ``Server``; output is
  never chunked, except a :class:`StreamResponse` (issue 9: exports of millions of rows). HEAD gets the headers
  of the body it would have had.
- A :class:`StreamResponse` has an iterator of byte chunks for a body, sent with ``Transfer-Encoding: chunked``
  (HTTP/1.0: no framing, the connection closes at the end). A task pumps it when its turn in the FIFO comes: one
  ``next()`` per chunk, yielding to the loop between chunks and waiting while the transport's buffer is above
  ``write_buffer_high`` — so the producer is paced by the client and memory stays bounded by one chunk plus the
  buffer. Responses pipelined behind it wait for its end. A producer that raises aborts the connection (the
  client sees a truncated chunked body, never a short file that looks whole); a client that goes away stops it.
  The fast path pays one class comparison for this (a handler's Response is not rendered by the stream code).
- Errors the server finds (400 malformed, 408 too slow, 413 body too big, 431 head too big) are answered in
  order after the responses already owed, then the connection is closed; no further request on it is read.
  A handler that raises gets a 500 and the connection stays usable.
- Timeouts without timers per request: each connection holds one deadline that is re-armed after each read
  (a float store), and one ticker per server closes the connections whose deadline has passed.
- Back-pressure: reading from a connection pauses while it owes ``max_pipelined`` responses or while its
  transport's write buffer is above ``write_buffer_high``; the kernel's socket buffers then push back on the
  client. A read already taken is parsed whole (httptools cannot stop mid-buffer), so one read (≤ 256 KiB in
  uvloop) may overshoot ``max_pipelined``.
- Graceful shutdown: stop accepting, close idle connections, let requests in flight finish and be written
  (answering them with ``Connection: close``), force-close what is left at the deadline.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import email.utils
import http
import logging
import socket
import ssl as _ssl
import time
import traceback
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, Final, TypeAlias, cast
from urllib.parse import unquote_to_bytes

import httptools
import msgspec

__all__ = [
    "JSON_CONTENT_TYPE",
    "Handler",
    "HttpServer",
    "Later",
    "Limits",
    "Request",
    "RequestDone",
    "Response",
    "StreamResponse",
    "bind_socket",
]

log = logging.getLogger(__name__)

JSON_CONTENT_TYPE: Final = "application/json; charset=utf-8"


_perf_counter = time.perf_counter


class Request:
    """One parsed request. ``headers`` has lower-case names, repeated headers joined with ", "; ``query`` keeps
    the first value of each key; ``path`` and ``query`` are URL-decoded; ``remote`` is the peer's address;
    ``at`` is when its last byte was parsed (``time.perf_counter``), for the latency the server reports."""

    __slots__ = ("at", "body", "headers", "http_version", "keep_alive", "method", "path", "query", "remote")

    def __init__(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: bytes,
        keep_alive: bool,
        remote: str,
        http_version: str = "1.1",
    ) -> None:
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive
        self.remote = remote
        self.http_version = http_version
        self.at = _perf_counter()

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.path} HTTP/{self.http_version} {len(self.body)} B from {self.remote}>"


_json_encode = msgspec.json.Encoder().encode


class Response:
    """A complete response: the server adds Content-Length, Date, Server and Connection."""

    __slots__ = ("body", "content_type", "headers", "status")

    def __init__(
        self,
        status: int = 200,
        body: bytes = b"",
        content_type: str = JSON_CONTENT_TYPE,
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers

    @classmethod
    def json(cls, obj: Any, status: int = 200, headers: Sequence[tuple[str, str]] = ()) -> Response:
        return cls(status, _json_encode(obj), JSON_CONTENT_TYPE, headers)

    def __repr__(self) -> str:
        return f"<Response {self.status} {len(self.body)} B>"


class StreamResponse(Response):
    """A response whose body is produced while it is sent (see the module rules): ``chunks`` yields bytes; the
    server closes it (``close()`` when it has one) when it is done with it, finished or not."""

    __slots__ = ("chunks",)

    def __init__(
        self,
        status: int,
        chunks: Iterator[bytes],
        content_type: str = JSON_CONTENT_TYPE,
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        super().__init__(status, b"", content_type, headers)
        self.chunks = chunks

    def __repr__(self) -> str:
        return f"<StreamResponse {self.status}>"


class Later:
    """A response that code on the event loop's thread gives later (see the module rules): like a future, but
    its done-callbacks run inside :meth:`set_result` / :meth:`set_exception`, at once. The first answer wins.
    Only the loop's thread may complete it. Awaiting one works (through a future) for code that needs to."""

    __slots__ = ("_callbacks", "_exception", "_result")

    def __init__(self) -> None:
        self._result: Response | None = None
        self._exception: BaseException | None = None
        self._callbacks: list[Callable[[Later], None]] = []

    def done(self) -> bool:
        return self._result is not None or self._exception is not None

    def result(self) -> Response:
        if self._exception is not None:
            raise self._exception
        if self._result is None:
            raise asyncio.InvalidStateError("the response is not there yet")
        return self._result

    def set_result(self, response: Response) -> None:
        if not self.done():
            self._result = response
            self._fire()

    def set_exception(self, exc: BaseException) -> None:
        if not self.done():
            self._exception = exc
            self._fire()

    def add_done_callback(self, callback: Callable[[Later], None]) -> None:
        if self.done():
            callback(self)
        else:
            self._callbacks.append(callback)

    def _fire(self) -> None:
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback(self)
            except Exception:  # one broken callback must not keep the others from their answer
                log.exception("a Later's done-callback failed")

    def __await__(self) -> Any:
        if not self.done():
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()

            def wake(_: Later) -> None:
                if not fut.done():
                    fut.set_result(None)

            self.add_done_callback(wake)
            yield from fut.__await__()
        return self.result()


Handler: TypeAlias = Callable[[Request], Response | Awaitable[Response]]
RequestDone: TypeAlias = Callable[[Request | None, Response], None]
"""Called once per response the server produces (``None`` for a request that could not be parsed)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    max_header_bytes: int = 16 * 1024  # request line + headers → 431
    max_body_bytes: int = 32 * 1024 * 1024  # Content-Length refused at headers time, chunked on the way → 413
    header_timeout_s: float = 10.0  # from the first byte of a request to the end of its headers → 408
    body_timeout_s: float = 30.0  # from the end of the headers to the end of the body → 408
    keepalive_timeout_s: float = 75.0  # idle keep-alive connection → closed silently
    max_pipelined: int = 64  # responses owed by one connection before it stops being read
    write_buffer_high: int = 1024 * 1024  # transport write buffer above this → stop reading that connection
    linger_s: float = 2.0  # after an error response: how long to drain what the client still sends


# ---------------------------------------------------------------------------------------------- rendering

_STATUS_LINES: Final = {s.value: b"HTTP/1.1 %d %s\r\n" % (s.value, s.phrase.encode()) for s in http.HTTPStatus}
_NO_BODY: Final = frozenset({100, 101, 102, 103, 204, 304})  # RFC 9110 §6.4.1: never a body, never a length
_CONTENT_TYPE_LINES: dict[str, bytes] = {JSON_CONTENT_TYPE: b"Content-Type: " + JSON_CONTENT_TYPE.encode() + b"\r\n"}
_CLOSE: Final = b"Connection: close\r\n"
_KEEP_ALIVE: Final = b"Connection: keep-alive\r\n"  # only HTTP/1.0 clients need to be told
_CHUNKED: Final = b"Transfer-Encoding: chunked\r\n"
_LAST_CHUNK: Final = b"0\r\n\r\n"
_CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"
_HEADER_NAMES: dict[bytes, str] = {}  # raw name → lower-case str, filled as names are seen
_METHODS: Final = {m.encode(): m for m in ("GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH")}


def _header_line(name: str, value: str) -> bytes:
    line = f"{name}: {value}\r\n"
    if "\n" in line[:-2] or "\r" in line[:-2]:
        raise ValueError(f"response header {name!r} contains a line break")  # header injection
    return line.encode("latin-1")


def _content_type_line(content_type: str) -> bytes:
    line = _header_line("Content-Type", content_type)
    if len(_CONTENT_TYPE_LINES) < 64:  # a handful of types in practice; never grow without bound
        _CONTENT_TYPE_LINES[content_type] = line
    return line


def _render(resp: Response, common: bytes, keep_alive: bool, http10: bool, head: bool) -> bytes:
    status = resp.status
    body = resp.body
    status_line = _STATUS_LINES.get(status) or b"HTTP/1.1 %d Status\r\n" % status
    ct_line = _CONTENT_TYPE_LINES.get(resp.content_type) or _content_type_line(resp.content_type)
    extra = b"".join([_header_line(n, v) for n, v in resp.headers]) if resp.headers else b""
    conn = (_KEEP_ALIVE if http10 else b"") if keep_alive else _CLOSE
    if status in _NO_BODY:
        length = b""
        body = b""
    else:
        length = b"Content-Length: %d\r\n" % len(body)
        if head:
            body = b""
    return b"".join((status_line, common, ct_line, length, extra, conn, b"\r\n", body))


def _render_stream_head(resp: Response, common: bytes, keep_alive: bool, http10: bool, head: bool) -> bytes:
    """A StreamResponse's head; the body follows from the pump: chunked on HTTP/1.1, delimited by the close on
    HTTP/1.0 (only the slow path renders these, so the fast path's ``_render`` never checks for them)."""
    status_line = _STATUS_LINES.get(resp.status) or b"HTTP/1.1 %d Status\r\n" % resp.status
    ct_line = _CONTENT_TYPE_LINES.get(resp.content_type) or _content_type_line(resp.content_type)
    extra = b"".join([_header_line(n, v) for n, v in resp.headers]) if resp.headers else b""
    framing = _CLOSE if http10 else _CHUNKED + (b"" if keep_alive else _CLOSE)
    return b"".join((status_line, common, ct_line, extra, framing, b"\r\n"))


def _error(status: int, code: str, text: str) -> Response:
    return Response.json({"error": {"code": code, "text": text}}, status)


_INTERNAL_ERROR: Final = _error(500, "internal", "internal server error")
_CANCELLED: Final = _error(503, "unavailable", "the request was cancelled")


def _handler_failed(req: Request, exc: BaseException) -> Response:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
    # One line for the log pipeline; the full traceback only at DEBUG.
    log.error(
        "handler failed method=%s path=%s error=%r at=%s",
        req.method,
        req.path,
        exc,
        where,
        extra={"http_method": req.method, "http_path": req.path, "error": repr(exc)},
    )
    log.debug("handler traceback", exc_info=exc)
    return _INTERNAL_ERROR


def _decode_component(raw: bytes, plus: bool) -> str:
    if plus and 43 in raw:  # "+" is a space in a query (application/x-www-form-urlencoded)
        raw = raw.replace(b"+", b" ")
    if 37 in raw:  # "%"
        raw = unquote_to_bytes(raw)
    return raw.decode("utf-8", "replace")


def _split_target(url: bytes) -> tuple[str, dict[str, str]]:
    """Origin-form ``/path?query`` (the only form clients send to an origin server); absolute-form is parsed."""
    # Byte values, not one-byte strings: `37 in url` is a memchr, `b"%" in url` goes through the buffer protocol.
    if url and url[0] == 47 and 37 not in url and 63 not in url and 35 not in url:  # "/", no "%", "?" or "#"
        return url.decode("utf-8", "replace"), {}
    if url[:1] != b"/" and url != b"*":
        parsed = httptools.parse_url(url)
        url = (parsed.path or b"/") + (b"?" + parsed.query if parsed.query else b"")
    if 35 in url:  # "#": a fragment is the client's business
        url = url.partition(b"#")[0]
    raw_path, _, raw_query = url.partition(b"?")
    query: dict[str, str] = {}
    for pair in raw_query.split(b"&") if raw_query else ():
        if pair:
            key, _, value = pair.partition(b"=")
            name = _decode_component(key, True)
            if name not in query:  # the first value of a repeated key
                query[name] = _decode_component(value, True)
    return _decode_component(raw_path, False), query


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise _Reject(400, "bad_request", f"invalid Content-Length {text[:40]!r}") from None


class _Reject(Exception):
    """Raised inside a parser callback to stop parsing and answer with an error."""

    def __init__(self, status: int, code: str, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.code = code
        self.text = text


class _Pending:
    """A queued response whose handler is still running; it is the future's done-callback (no closure)."""

    __slots__ = ("conn", "data", "request", "server", "stream")

    def __init__(self, conn: _Connection, request: Request) -> None:
        self.conn: _Connection | None = conn
        self.server = conn.server
        self.request = request
        self.data: bytes | None = None
        self.stream: Iterator[bytes] | None = None  #: a StreamResponse's body, pumped when its turn comes

    def __call__(self, fut: asyncio.Future[Any] | Later) -> None:
        try:
            resp = fut.result()
            if not isinstance(resp, Response):
                raise TypeError(f"handler's awaitable gave {type(resp).__name__}, not Response")
        except asyncio.CancelledError:
            resp = _CANCELLED
        except Exception as exc:
            resp = _handler_failed(self.request, exc)
        server = self.server
        server.requests_in_flight -= 1
        conn = self.conn
        if conn is None:  # the client went away; the work is done, nobody to tell
            server._maybe_drained()
            return
        if type(resp) is StreamResponse:
            chunks = resp.chunks
            if self.request.method == "HEAD" or resp.status in _NO_BODY:
                _close_chunks(chunks)
            else:
                self.stream = chunks
        self.data = conn._render(self.request, resp)
        conn._drain()


def _close_chunks(chunks: Iterator[bytes]) -> None:
    close = getattr(chunks, "close", None)
    if close is not None:
        try:
            close()
        except Exception:
            log.exception("closing a response stream failed")


# Connection phases; the deadline kinds reuse them and add three of their own.
_IDLE, _HEAD, _BODY = 0, 1, 2
_FRESH, _WRITE, _LINGER = 3, 4, 5


class _Connection(asyncio.Protocol):
    __slots__ = (
        "_body",
        "_body_size",
        "_closed",
        "_deadline",
        "_deadline_kind",
        "_eof",
        "_handler",
        "_head_bytes",
        "_head_raw",
        "_headers",
        "_http_version",
        "_limits",
        "_linger",
        "_loop",
        "_max_body",
        "_max_head",
        "_no_more",
        "_on_done",
        "_out",
        "_parser",
        "_paused_pipeline",
        "_paused_write",
        "_phase",
        "_pump_task",
        "_queue",
        "_reading_paused",
        "_remote",
        "_transport",
        "_url",
        "_write_waiter",
        "server",
    )

    def __init__(self, server: HttpServer, loop: asyncio.AbstractEventLoop) -> None:
        self.server = server
        self._loop = loop
        self._handler = server.handler
        self._on_done = server.on_request_done
        self._limits = limits = server.limits
        self._max_head = limits.max_header_bytes
        self._max_body = limits.max_body_bytes
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._remote = ""
        self._queue: collections.deque[bytes | _Pending] = collections.deque()
        self._out: list[bytes] = []  # responses produced during the current read, written once at its end
        self._phase = _IDLE
        self._url = b""
        self._headers: dict[str, str] = {}
        self._body: bytes | list[bytes] = b""  #: one read's bytes, or the chunks of several (see on_body)
        self._body_size = 0
        self._http_version = "1.1"
        self._head_bytes = 0
        self._head_raw = 0
        self._no_more = False  # no further request is read on this connection
        self._eof = False
        self._linger = False  # when closing: half-close and drain first (after an error response)
        self._closed = False
        self._paused_pipeline = False
        self._paused_write = False
        self._reading_paused = False
        self._deadline = 0.0
        self._deadline_kind = _FRESH
        self._pump_task: asyncio.Task[None] | None = None
        self._write_waiter: asyncio.Future[None] | None = None

    # --------------------------------------------------------------------------------- transport events

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = t = cast(asyncio.Transport, transport)
        peer = t.get_extra_info("peername")
        self._remote = str(peer[0]) if isinstance(peer, tuple) else str(peer or "")
        t.set_write_buffer_limits(high=self._limits.write_buffer_high)
        server = self.server
        if server._closing:
            t.close()
            return
        server._connections.add(self)
        # A fresh connection that sends nothing is closed silently after the header timeout.
        self._deadline = self._loop.time() + self._limits.header_timeout_s

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._wake_writer()
        for item in self._queue:
            if type(item) is _Pending:
                item.conn = None  # the handler runs on; its result is dropped
        self._queue.clear()
        server = self.server
        server._connections.discard(self)
        server._maybe_drained()

    def data_received(self, data: bytes) -> None:
        if self._no_more:
            return  # lingering after an error, or a request arrived after the last one: dropped
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._no_more = True  # the request was served without upgrading; the rest is not HTTP/1.1
        except httptools.HttpParserError as exc:
            if not self._no_more:
                cause = exc.__context__
                if isinstance(cause, _Reject):
                    self._reject(cause.status, cause.code, cause.text)
                elif cause is not None and not isinstance(cause, Exception):
                    raise cause from None  # KeyboardInterrupt, SystemExit: not ours to swallow
                elif cause is not None:
                    log.error("http parser callback failed: %r", cause, exc_info=cause)
                    self._reject(500, "internal", "internal server error")
                else:
                    self._reject(400, "bad_request", str(exc) or "malformed request")
        if self._phase == _HEAD:
            # A head that spans reads: bytes of whole reads inside it are a lower bound of its size, which
            # bounds what httptools buffers for one endless header (on_header only fires once it ends).
            if self._head_raw < 0:
                self._head_raw = 0
            else:
                self._head_raw += len(data)
                if self._head_raw > self._max_head:
                    self._reject(431, "header_too_large", "request head is too large")
        self._flush()
        if len(self._queue) >= self._limits.max_pipelined:
            self._paused_pipeline = True
        if self._no_more or self._paused_pipeline:
            self._update_reading()
        self._arm()

    def eof_received(self) -> bool:
        self._eof = True
        if self._deadline_kind == _LINGER or not self._queue:
            return False  # the transport closes itself
        self._no_more = True  # answer what was asked, then close
        return True

    def pause_writing(self) -> None:
        self._paused_write = True
        self._update_reading()
        self._arm()

    def resume_writing(self) -> None:
        self._paused_write = False
        self._wake_writer()
        self._update_reading()
        self._arm()

    def _wake_writer(self) -> None:
        w = self._write_waiter
        if w is not None:
            self._write_waiter = None
            if not w.done():
                w.set_result(None)

    # -------------------------------------------------------------------------------- parser callbacks

    def on_message_begin(self) -> None:
        if self._no_more:
            raise _Reject(0, "", "")  # stops the parser; data after the last request is ignored
        self._phase = _HEAD
        self._deadline_kind = _IDLE  # so that _arm starts this request's header clock
        self._url = b""
        self._headers = {}
        self._body = b""
        self._head_bytes = 16  # method, version, spaces and line end, roughly
        self._head_raw = -1  # began inside this read: its bytes there are not counted

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._head_bytes += len(url)
        if self._head_bytes > self._max_head:
            raise _Reject(431, "header_too_large", "request head is too large")

    def on_header(self, name: bytes, value: bytes) -> None:
        size = self._head_bytes = self._head_bytes + len(name) + len(value) + 4
        if size > self._max_head:
            raise _Reject(431, "header_too_large", "request head is too large")
        key = _HEADER_NAMES.get(name)
        if key is None:
            key = name.decode("latin-1").lower()
            if len(_HEADER_NAMES) < 512:  # the names clients send are few; a hostile one cannot grow it
                _HEADER_NAMES[name] = key
        headers = self._headers
        if key in headers:
            headers[key] = headers[key] + ", " + value.decode("latin-1")
        else:
            headers[key] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self._phase = _BODY
        headers = self._headers
        self._http_version = version = self._parser.get_http_version()
        length = headers.get("content-length")
        if length is not None and _int(length) > self._max_body:
            raise _Reject(413, "payload_too_large", f"request body is over {self._max_body} bytes")
        has_body = (length is not None and length != "0") or "transfer-encoding" in headers
        if has_body and self._parser.should_upgrade():
            # httptools hands the body of an upgrade request over as upgrade data; we never upgrade.
            raise _Reject(400, "bad_request", "upgrade requests with a body are not supported")
        expect = headers.get("expect")
        if expect is not None and has_body and version == "1.1" and expect.lower() == "100-continue":
            self._emit(_CONTINUE)

    def on_body(self, chunk: bytes) -> None:
        # A body in several reads is kept as its chunks and joined once when it is complete: one copy of a bulk
        # request's megabytes, where growing a bytearray and converting it to bytes made two more.
        body = self._body
        if body:
            if isinstance(body, bytes):
                body = self._body = [body]
            body.append(chunk)
            size = self._body_size = self._body_size + len(chunk)
        else:
            self._body = chunk
            size = self._body_size = len(chunk)
        if size > self._max_body:
            raise _Reject(413, "payload_too_large", f"request body is over {self._max_body} bytes")

    def on_message_complete(self) -> None:
        self._phase = _IDLE
        parser = self._parser
        raw_method = parser.get_method()
        method = _METHODS.get(raw_method) or raw_method.decode("ascii", "replace")
        try:
            path, query = _split_target(self._url)
        except (httptools.HttpParserInvalidURLError, ValueError) as exc:
            raise _Reject(400, "bad_request", f"invalid request target: {exc}") from exc
        body = self._body
        headers = self._headers
        keep_alive = parser.should_keep_alive() and not self.server._closing
        if keep_alive and ("upgrade" in headers or method == "CONNECT") and parser.should_upgrade():
            keep_alive = False  # not upgraded, and what follows on the connection is not HTTP/1.1
        req = Request(
            method,
            path,
            query,
            headers,
            body if isinstance(body, bytes) else b"".join(body),
            keep_alive,
            self._remote,
            self._http_version,
        )
        if not keep_alive:
            self._no_more = True
        try:
            resp = self._handler(req)
            if isinstance(resp, Response) and type(resp) is not StreamResponse:  # the fast path, inlined
                data = _render(resp, self.server._common, keep_alive, req.http_version == "1.0", method == "HEAD")
                if self._on_done is not None:
                    self._on_done(req, resp)
                if self._queue:
                    self._queue.append(data)
                else:
                    self._out.append(data)
                return
            fut: Later | asyncio.Future[Response]
            if type(resp) is Later:
                fut = resp
            elif type(resp) is StreamResponse:
                fut = self._loop.create_future()
                fut.set_result(resp)
            else:
                fut = asyncio.ensure_future(cast(Awaitable[Response], resp), loop=self._loop)
        except Exception as exc:  # from the handler or from rendering what it returned
            self._emit(self._render(req, _handler_failed(req, exc)))
            return
        pending = _Pending(self, req)
        self.server.requests_in_flight += 1
        self._queue.append(pending)
        fut.add_done_callback(pending)

    # ------------------------------------------------------------------------------------------ output

    def _render(self, req: Request, resp: Response) -> bytes:
        render = _render_stream_head if type(resp) is StreamResponse else _render
        try:
            data = render(resp, self.server._common, req.keep_alive, req.http_version == "1.0", req.method == "HEAD")
        except Exception as exc:  # a bad header or body type from the handler
            resp = _handler_failed(req, exc)
            data = _render(resp, self.server._common, req.keep_alive, req.http_version == "1.0", False)
        if self._on_done is not None:
            try:
                self._on_done(req, resp)
            except Exception:
                log.exception("on_request_done failed")
        return data

    def _emit(self, data: bytes) -> None:
        if self._queue:
            self._queue.append(data)  # behind a response still being computed
        else:
            self._out.append(data)

    def _flush(self) -> None:
        out = self._out
        if out:
            t = self._transport
            if t is not None and not self._closed and not t.is_closing():
                t.write(out[0] if len(out) == 1 else b"".join(out))
            out.clear()
        if self._no_more and not self._queue:
            self._finish()

    def _drain(self) -> None:
        """Write the responses at the head of the FIFO that are ready (called when an awaited one completes)."""
        queue = self._queue
        ready = []
        stream: _Pending | None = None
        while queue:
            head = queue[0]
            if type(head) is bytes:
                ready.append(head)
            else:
                pending = cast(_Pending, head)
                data = pending.data
                if data is None:
                    break
                ready.append(data)
                if pending.stream is not None:
                    pending.data = None  # its head is out; it stays first in the FIFO until the pump ends
                    stream = pending
                    break
            queue.popleft()
        self._out.extend(ready)
        self._flush()
        if stream is not None and not self._closed:
            self._pump_task = self._loop.create_task(self._pump(stream))
        if self._paused_pipeline and len(queue) <= self._limits.max_pipelined // 2:
            self._paused_pipeline = False
            self._update_reading()
        self._arm()

    async def _pump(self, pending: _Pending) -> None:
        """Send a StreamResponse's body (see the module rules), then let the FIFO go on."""
        chunks = pending.stream
        assert chunks is not None
        pending.stream = None
        http10 = pending.request.http_version == "1.0"
        t = self._transport
        failed = False
        try:
            for chunk in chunks:
                if t is None or self._closed or t.is_closing():
                    break
                if chunk:
                    t.write(chunk if http10 else b"%x\r\n%b\r\n" % (len(chunk), chunk))
                if self._paused_write:
                    waiter = self._write_waiter = self._loop.create_future()
                    await waiter
                else:
                    await asyncio.sleep(0)  # other connections get their turn between chunks
            else:
                if t is not None and not http10 and not self._closed and not t.is_closing():
                    t.write(_LAST_CHUNK)
        except Exception as exc:
            failed = True
            _handler_failed(pending.request, exc)
        finally:
            _close_chunks(chunks)
            self._pump_task = None
        if failed or http10:
            self._no_more = True  # HTTP/1.0: the close ends the body
            if failed and t is not None and not self._closed:
                t.abort()
                return
        queue = self._queue
        if queue and queue[0] is pending:
            queue.popleft()
        if not self._closed:
            self._drain()

    def _reject(self, status: int, code: str, text: str) -> None:
        self._no_more = True
        self._phase = _IDLE
        resp = _error(status, code, text)
        data = _render(resp, self.server._common, False, False, False)
        if self._on_done is not None:
            self._on_done(None, resp)
        self._emit(data)
        self._linger = status != 408  # the client may still be sending; see _finish

    def _finish(self) -> None:
        """Everything owed is written and nothing more will be read: close, lingering after an error."""
        t = self._transport
        if t is None or self._closed or t.is_closing() or self._deadline_kind == _LINGER:
            return
        if self._linger and not self._eof and t.can_write_eof():
            # Closing with unread input makes the kernel send RST, which can destroy the error response
            # before the client reads it; so half-close, read and drop until the client closes or linger_s.
            t.write_eof()
            self._deadline = self._loop.time() + self._limits.linger_s
            self._deadline_kind = _LINGER
            self._update_reading()
        else:
            t.close()

    # ------------------------------------------------------------------------------- flow and timeouts

    def _update_reading(self) -> None:
        t = self._transport
        if t is None or self._closed:
            return
        pause = self._paused_write or self._paused_pipeline or (self._no_more and self._deadline_kind != _LINGER)
        if pause != self._reading_paused:
            self._reading_paused = pause
            if pause:
                t.pause_reading()
            else:
                t.resume_reading()

    def _arm(self) -> None:
        """Set the one deadline this connection has, from its phase (a float store on the hot path)."""
        kind = self._deadline_kind
        if kind == _LINGER:
            return
        if self._paused_write:
            if kind != _WRITE:
                self._deadline = self._loop.time() + self._limits.body_timeout_s
                self._deadline_kind = _WRITE
        elif self._reading_paused or self._no_more:
            self._deadline = 0.0  # waiting on our own handlers, not on the client
            self._deadline_kind = _IDLE
        elif self._phase == _IDLE:
            if self._queue:
                self._deadline = 0.0
                self._deadline_kind = _IDLE
            elif kind != _FRESH:
                self._deadline = self._loop.time() + self._limits.keepalive_timeout_s
                self._deadline_kind = _IDLE
        elif kind != self._phase:  # the clock of a head or a body starts once and is never extended
            limits = self._limits
            self._deadline = self._loop.time() + (
                limits.header_timeout_s if self._phase == _HEAD else limits.body_timeout_s
            )
            self._deadline_kind = self._phase

    def _timed_out(self) -> None:
        t = self._transport
        if t is None or self._closed:
            return
        kind = self._deadline_kind
        self._deadline = 0.0
        if kind in (_HEAD, _BODY) and not self._no_more:
            self._reject(408, "timeout", "request was not received in time")
            self._flush()
            self._arm()
        elif kind == _WRITE:
            t.abort()  # the client does not read what it asked for
        else:
            t.close()  # idle keep-alive, fresh connection that sent nothing, end of linger

    def _shutdown(self) -> None:
        if self._phase != _IDLE:
            return  # a request is being received: it is served with Connection: close
        if self._queue:
            last = self._queue[-1]
            if type(last) is _Pending:
                last.request.keep_alive = False  # its response will say Connection: close
            self._no_more = True
            self._update_reading()
            self._arm()
        elif self._transport is not None:
            self._transport.close()

    def _abort(self) -> None:
        if self._transport is not None and not self._closed:
            self._transport.abort()


class HttpServer:
    """An HTTP/1.1 server for one event loop. ``connections`` and ``requests_in_flight`` (handlers not yet
    finished) are for /metrics."""

    def __init__(
        self, handler: Handler, *, limits: Limits = Limits(), on_request_done: RequestDone | None = None
    ) -> None:
        self.handler = handler
        self.limits = limits
        self.on_request_done = on_request_done
        self.requests_in_flight = 0
        self._connections: set[_Connection] = set()
        self._closing = False
        self._server: asyncio.AbstractServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ticker: asyncio.TimerHandle | None = None
        self._drained: asyncio.Future[None] | None = None
        self._date_second = -1
        self._common = b""
        timeouts = (limits.header_timeout_s, limits.body_timeout_s, limits.keepalive_timeout_s, limits.linger_s)
        self._tick_s = max(0.01, min(0.5, *(t / 4 for t in timeouts)))
        self._refresh_date(time.time())

    @property
    def connections(self) -> int:
        return len(self._connections)

    async def start(self, sock: socket.socket, ssl: _ssl.SSLContext | None = None, *, backlog: int = 2048) -> None:
        """Serve on a bound socket (see :func:`bind_socket`); the server owns it from now on."""
        if self._server is not None:
            raise RuntimeError("server already started")
        loop = self._loop = asyncio.get_running_loop()
        # backlog: create_server calls listen() again on the socket it is given.
        self._server = await loop.create_server(lambda: _Connection(self, loop), sock=sock, ssl=ssl, backlog=backlog)
        self._ticker = loop.call_later(self._tick_s, self._tick)

    async def shutdown(self, timeout: float) -> None:
        """Stop accepting, close idle connections, let requests in flight finish and be written, then close.
        Whatever is still open after ``timeout`` seconds is aborted."""
        server, loop = self._server, self._loop
        if server is None or loop is None or self._closing:
            return
        self._closing = True
        server.close()
        for conn in list(self._connections):
            conn._shutdown()
        if self._connections or self.requests_in_flight:
            self._drained = loop.create_future()
            try:
                await asyncio.wait_for(asyncio.shield(self._drained), timeout)
            except TimeoutError:
                log.warning(
                    "shutdown timed out after %.1fs: aborting %d connections, %d requests in flight",
                    timeout,
                    len(self._connections),
                    self.requests_in_flight,
                )
        for conn in list(self._connections):
            conn._abort()
        if self._ticker is not None:
            self._ticker.cancel()
        await server.wait_closed()

    def _maybe_drained(self) -> None:
        drained = self._drained
        if drained is not None and not drained.done() and not self._connections and not self.requests_in_flight:
            drained.set_result(None)

    def _refresh_date(self, now: float) -> None:
        second = int(now)
        if second != self._date_second:
            self._date_second = second
            date = email.utils.formatdate(now, usegmt=True).encode()
            self._common = b"Server: fiscal_core\r\nDate: " + date + b"\r\n"

    def _tick(self) -> None:
        loop = self._loop
        assert loop is not None
        self._refresh_date(time.time())
        now = loop.time()
        for conn in [c for c in self._connections if 0.0 < c._deadline <= now]:
            conn._timed_out()
        self._ticker = loop.call_later(self._tick_s, self._tick)


def bind_socket(host: str, port: int, *, reuse_port: bool = True, backlog: int = 2048) -> socket.socket:
    """A listening, non-blocking TCP socket; ``reuse_port`` lets one worker per core bind the same port and
    the kernel spread connections over them. Port 0 picks a free port (see ``getsockname()``)."""
    family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(addr)
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock
