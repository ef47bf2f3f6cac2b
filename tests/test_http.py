"""The HTTP/1.1 server core, its worker supervisor and the webhook client, over real sockets on 127.0.0.1.

Every test starts its server on a free port in its own uvloop loop and shuts it down before it returns; the
worker test runs the supervisor in a child process and stops it (and checks its children are gone) by pid.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Iterator
from typing import Any, NamedTuple

import httptools
import pytest
import uvloop
from conftest import ROOT

from fiscal_core.api import http, http_client, workers
from fiscal_core.api.http import HttpServer, Later, Limits, Request, Response

HOST = "127.0.0.1"


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return uvloop.run(asyncio.wait_for(coro, 20))


@contextlib.asynccontextmanager
async def serving(
    handler: http.Handler, tls: ssl.SSLContext | None = None, **kwargs: Any
) -> AsyncIterator[tuple[HttpServer, int]]:
    server = HttpServer(handler, **kwargs)
    sock = http.bind_socket(HOST, 0)
    port = sock.getsockname()[1]
    await server.start(sock, tls)
    try:
        yield server, port
    finally:
        await server.shutdown(2.0)


class Reply(NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes


class Client:
    """A raw connection with an incremental response parser (responses to HEAD need ``read_head``)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.parser = httptools.HttpResponseParser(self)
        self.replies: list[Reply] = []
        self._headers: dict[str, str] = {}
        self._body = b""

    @classmethod
    async def open(cls, port: int) -> Client:
        return cls(*await asyncio.open_connection(HOST, port))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode().lower()] = value.decode()

    def on_body(self, body: bytes) -> None:
        self._body += body

    def on_message_complete(self) -> None:
        self.replies.append(Reply(self.parser.get_status_code(), self._headers, self._body))
        self._headers, self._body = {}, b""

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def read(self, n: int = 1, timeout: float = 5.0) -> list[Reply]:
        async with asyncio.timeout(timeout):
            while len(self.replies) < n:
                data = await self.reader.read(65536)
                assert data, f"connection closed after {len(self.replies)} of {n} responses"
                self.parser.feed_data(data)
        got, self.replies = self.replies[:n], self.replies[n:]
        return got

    async def read_head(self) -> bytes:
        return await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 5)

    async def closed(self, timeout: float = 5.0) -> bytes:
        """Wait for the server to close; returns what came before the end (should be nothing)."""
        async with asyncio.timeout(timeout):
            rest = b""
            with contextlib.suppress(ConnectionResetError):
                while data := await self.reader.read(65536):
                    rest += data
            return rest

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


async def until(condition: Callable[[], object], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


def get(path: str, *extra: str, method: str = "GET", version: str = "1.1") -> bytes:
    lines = [f"{method} {path} HTTP/{version}", "Host: test", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def post(path: str, body: bytes, *extra: str) -> bytes:
    return get(path, f"Content-Length: {len(body)}", *extra, method="POST") + body


def echo(req: Request) -> Response:
    return Response.json({"method": req.method, "path": req.path, "query": req.query, "body": req.body.decode()})


def error_of(reply: Reply) -> str:
    code: str = json.loads(reply.body)["error"]["code"]
    return code


# -------------------------------------------------------------------------------------------- the basics


def test_keep_alive_serves_several_requests_on_one_connection() -> None:
    async def main() -> None:
        async with serving(echo) as (server, port):
            c = await Client.open(port)
            for i in range(3):
                c.send(post(f"/n/{i}", b"x" * i))
                (r,) = await c.read()
                assert r.status == 200
                assert json.loads(r.body) == {"method": "POST", "path": f"/n/{i}", "query": {}, "body": "x" * i}
                assert r.headers["server"] == "fiscal_core"
                assert r.headers["content-type"] == "application/json; charset=utf-8"
                assert r.headers["content-length"] == str(len(r.body))
                assert r.headers["date"].endswith(" GMT") and len(r.headers["date"]) == 29
                assert "connection" not in r.headers
            assert server.connections == 1
            await c.close()

    run(main())


def test_request_fields_are_decoded() -> None:
    seen: list[Request] = []

    def handler(req: Request) -> Response:
        seen.append(req)
        return Response(204)

    async def main() -> None:
        async with serving(handler) as (_, port):
            c = await Client.open(port)
            c.send(get("/a%20b/%D1%87%D0%B5%D0%BA?x=1&x=2&name=%D0%B0+b&empty=", "X-Tag: one", "x-tag: two"))
            (r,) = await c.read()
            assert r.status == 204 and "content-length" not in r.headers and r.body == b""
            await c.close()

    run(main())
    (req,) = seen
    assert (req.method, req.path, req.http_version, req.remote) == ("GET", "/a b/чек", "1.1", HOST)
    assert req.query == {"x": "1", "name": "а b", "empty": ""}
    assert req.headers["x-tag"] == "one, two" and req.headers["host"] == "test"
    assert req.keep_alive is True and req.body == b""


def test_chunked_request_body_is_joined() -> None:
    async def main() -> None:
        async with serving(echo) as (_, port):
            c = await Client.open(port)
            c.send(get("/c", "Transfer-Encoding: chunked", method="POST") + b"3\r\nabc\r\n")
            await asyncio.sleep(0.05)
            c.send(b"4\r\ndefg\r\n0\r\n\r\n")
            (r,) = await c.read()
            assert json.loads(r.body)["body"] == "abcdefg"
            await c.close()

    run(main())


def test_head_gets_headers_without_body() -> None:
    async def main() -> None:
        async with serving(echo) as (_, port):
            c = await Client.open(port)
            c.send(get("/h", method="HEAD") + get("/after"))
            head = await c.read_head()
            assert head.startswith(b"HTTP/1.1 200 OK\r\n")
            length = len(json.dumps({"method": "HEAD", "path": "/h", "query": {}, "body": ""}, separators=(",", ":")))
            assert f"Content-Length: {length}\r\n".encode() in head
            (r,) = await c.read()  # the next bytes are the next response: no body was sent
            assert json.loads(r.body)["path"] == "/after"
            await c.close()

    run(main())


def test_http10_closes_unless_keep_alive_asked() -> None:
    async def main() -> None:
        async with serving(echo) as (_, port):
            c = await Client.open(port)
            c.send(get("/ka", "Connection: keep-alive", version="1.0"))
            (r,) = await c.read()
            assert r.headers["connection"] == "keep-alive"
            c.send(get("/plain", version="1.0"))
            (r,) = await c.read()
            assert r.headers["connection"] == "close" and json.loads(r.body)["path"] == "/plain"
            assert await c.closed() == b""
            await c.close()

    run(main())


def test_connection_close_is_honoured_and_later_requests_ignored() -> None:
    calls: list[str] = []

    def handler(req: Request) -> Response:
        calls.append(req.path)
        return echo(req)

    async def main() -> None:
        async with serving(handler) as (_, port):
            c = await Client.open(port)
            c.send(get("/last", "Connection: close") + get("/ignored"))
            (r,) = await c.read()
            assert r.headers["connection"] == "close"
            assert await c.closed() == b""
            await c.close()

    run(main())
    assert calls == ["/last"]


def test_client_half_close_still_gets_its_responses() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()

        def handler(req: Request) -> Response | asyncio.Future[Response]:
            fut: asyncio.Future[Response] = loop.create_future()
            loop.call_later(0.05, fut.set_result, echo(req))
            return fut

        async with serving(handler) as (_, port):
            c = await Client.open(port)
            c.send(get("/1") + get("/2"))
            c.writer.write_eof()
            assert [json.loads(r.body)["path"] for r in await c.read(2)] == ["/1", "/2"]
            assert await c.closed() == b""
            await c.close()

    run(main())


# ------------------------------------------------------------------------------------ pipelining, async


def test_pipelined_responses_keep_request_order_when_a_later_handler_finishes_first() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        release = threading.Event()
        threads: list[threading.Thread] = []

        def handler(req: Request) -> Response | asyncio.Future[Response]:
            if not req.path.startswith("/slow"):
                return echo(req)
            # as the journal does: a future completed from another thread
            fut: asyncio.Future[Response] = loop.create_future()

            def commit() -> None:
                if req.path == "/slow1":
                    release.wait(5)
                loop.call_soon_threadsafe(fut.set_result, echo(req))

            threads.append(threading.Thread(target=commit))
            threads[-1].start()
            return fut

        async with serving(handler) as (server, port):
            c = await Client.open(port)
            c.send(get("/slow1") + get("/fast1") + get("/fast2") + get("/slow2") + get("/fast3"))
            await until(lambda: len(threads) == 2 and not threads[1].is_alive())  # /slow2 is done, /slow1 waits
            await asyncio.sleep(0.01)
            assert server.requests_in_flight == 1 and not c.reader._buffer  # nothing may overtake /slow1
            release.set()
            replies = await c.read(5)
            assert [json.loads(r.body)["path"] for r in replies] == ["/slow1", "/fast1", "/fast2", "/slow2", "/fast3"]
            assert server.requests_in_flight == 0
            await c.close()
        for thread in threads:
            thread.join()

    run(main())


def test_a_later_is_answered_inside_set_result_in_pipelined_order() -> None:
    async def main() -> None:
        laters: dict[str, Later] = {}

        def handler(req: Request) -> Response | Later:
            if not req.path.startswith("/later"):
                return echo(req)
            laters[req.path] = Later()
            return laters[req.path]

        async with serving(handler) as (server, port):
            c = await Client.open(port)
            c.send(get("/later1") + get("/fast") + get("/later2") + get("/later3"))
            await until(lambda: len(laters) == 3)
            laters["/later2"].set_result(echo(Request("GET", "/later2", {}, {}, b"", True, "", "1.1")))
            assert server.requests_in_flight == 2  # delivered, but it waits for /later1 in the FIFO
            laters["/later1"].set_result(Response.json({"path": "/later1"}))
            # Written inside set_result: a future's done-callbacks would still be waiting for the next iteration.
            assert server.requests_in_flight == 1
            laters["/later1"].set_result(Response.json({"path": "ignored"}))  # the first answer wins
            laters["/later3"].set_exception(RuntimeError("a bug"))
            replies = await c.read(4)
            assert [json.loads(r.body).get("path") for r in replies[:3]] == ["/later1", "/fast", "/later2"]
            assert replies[3].status == 500 and server.requests_in_flight == 0
            await c.close()

    run(main())


def test_a_later_can_be_awaited() -> None:
    async def main() -> None:
        later = Later()
        asyncio.get_running_loop().call_soon(later.set_result, Response.json({"ok": True}))
        resp = await later
        assert resp.status == 200 and later.done()
        failed = Later()
        failed.set_exception(ValueError("no"))
        with pytest.raises(ValueError):
            await failed
        with pytest.raises(asyncio.InvalidStateError):
            Later().result()

    run(main())


def test_coroutine_handlers_are_awaited() -> None:
    async def handler(req: Request) -> Response:
        await asyncio.sleep(0.01 if req.path == "/a" else 0)
        return echo(req)

    async def main() -> None:
        async with serving(handler) as (_, port):
            c = await Client.open(port)
            c.send(get("/a") + get("/b"))
            assert [json.loads(r.body)["path"] for r in await c.read(2)] == ["/a", "/b"]
            await c.close()

    run(main())


def test_pipelining_back_pressure_stops_reading_until_responses_drain() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        held: list[tuple[Request, asyncio.Future[Response]]] = []

        def handler(req: Request) -> asyncio.Future[Response]:
            fut: asyncio.Future[Response] = loop.create_future()
            held.append((req, fut))
            return fut

        async with serving(handler, limits=Limits(max_pipelined=2)) as (_, port):
            c = await Client.open(port)
            c.send(get("/1") + get("/2") + get("/3"))  # one read: all three are parsed
            await until(lambda: len(held) == 3)
            c.send(get("/4") + get("/5"))  # not read while three responses are owed
            await asyncio.sleep(0.1)
            assert [r.path for r, _ in held] == ["/1", "/2", "/3"]
            for req, fut in held[:3]:
                fut.set_result(echo(req))
            await until(lambda: len(held) == 5)
            assert [r.path for r, _ in held] == ["/1", "/2", "/3", "/4", "/5"]
            for req, fut in held[3:]:
                fut.set_result(echo(req))
            assert [json.loads(r.body)["path"] for r in await c.read(5)] == ["/1", "/2", "/3", "/4", "/5"]
            await c.close()

    run(main())


def test_write_back_pressure_pauses_reading_while_the_client_does_not_read() -> None:
    big = Response(200, b"x" * (1 << 20), "application/octet-stream")

    async def main() -> None:
        async with serving(lambda req: big, limits=Limits(write_buffer_high=64 * 1024)) as (server, port):
            sock = socket.create_connection((HOST, port))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
            sock.sendall(get("/big") * 8)
            await until(lambda: server.connections == 1)
            (conn,) = server._connections
            await until(lambda: conn._reading_paused)  # the write buffer is over the mark: nothing more is read
            sock.setblocking(False)
            loop = asyncio.get_running_loop()
            got = 0
            async with asyncio.timeout(10):
                while got < 8 * (1 << 20):
                    got += len(await loop.sock_recv(sock, 1 << 20))
            await until(lambda: not conn._reading_paused)
            sock.close()

    run(main())


# ----------------------------------------------------------------------------------- limits and errors


def test_oversized_head_is_431() -> None:
    async def main() -> None:
        async with serving(echo, limits=Limits(max_header_bytes=1024)) as (_, port):
            c = await Client.open(port)
            c.send(get("/ok") + get("/big", "X-Big: " + "a" * 2000))
            ok, big = await c.read(2)
            assert ok.status == 200 and big.status == 431 and error_of(big) == "header_too_large"
            assert big.headers["connection"] == "close"
            await c.closed()
            await c.close()
            # one header that never ends, sent in pieces: refused once the bytes pass the limit
            c = await Client.open(port)
            c.send(b"GET / HTTP/1.1\r\nX-Endless: ")
            for _ in range(6):
                await asyncio.sleep(0.01)
                c.send(b"a" * 300)
            (r,) = await c.read()
            assert r.status == 431
            await c.closed()
            await c.close()

    run(main())


def test_body_over_limit_by_content_length_is_413_before_reading_it() -> None:
    calls: list[Request] = []

    def handler(req: Request) -> Response:
        calls.append(req)
        return echo(req)

    async def main() -> None:
        async with serving(handler, limits=Limits(max_body_bytes=100)) as (_, port):
            c = await Client.open(port)
            c.send(get("/big", "Content-Length: 100000", method="POST"))  # the body is never sent
            (r,) = await c.read()
            assert r.status == 413 and error_of(r) == "payload_too_large" and r.headers["connection"] == "close"
            await c.closed()
            await c.close()
            # the client sends the whole body anyway: the server drains it (lingers) so that the 413 is not
            # destroyed by a reset for unread data
            c = await Client.open(port)
            c.send(post("/big", b"x" * 2_000_000))
            (r,) = await c.read()
            assert r.status == 413
            await c.closed()
            await c.close()
            c = await Client.open(port)
            c.send(post("/fits", b"x" * 100))
            (r,) = await c.read()
            assert r.status == 200
            await c.close()

    run(main())
    assert [r.path for r in calls] == ["/fits"]


def test_a_body_in_many_reads_is_joined_and_each_request_counts_its_own_size() -> None:
    """Bodies arriving over many reads, one after the other on a connection: each joined in order, and the size
    limit applied to each request's body alone (1,800 bytes in all pass a 1,000-byte limit as two of 900)."""
    parts = [bytes([65 + k]) * 100 for k in range(9)]

    async def main() -> None:
        async with serving(echo, limits=Limits(max_body_bytes=1000)) as (_, port):
            c = await Client.open(port)
            for _ in range(2):
                c.send(get("/c", "Content-Length: 900", method="POST"))
                for part in parts:
                    await asyncio.sleep(0.005)
                    c.send(part)
                (r,) = await c.read()
                assert r.status == 200 and json.loads(r.body)["body"] == b"".join(parts).decode()
            c.send(get("/c", "Transfer-Encoding: chunked", method="POST"))
            for part in [*parts, parts[0], parts[1]]:
                await asyncio.sleep(0.005)
                c.send(b"64\r\n" + part + b"\r\n")
            (r,) = await c.read()
            assert r.status == 413
            await c.closed()
            await c.close()

    run(main())


def test_chunked_body_over_limit_is_413() -> None:
    async def main() -> None:
        async with serving(echo, limits=Limits(max_body_bytes=100)) as (_, port):
            c = await Client.open(port)
            c.send(get("/c", "Transfer-Encoding: chunked", method="POST"))
            for _ in range(3):
                c.send(b"40\r\n" + b"x" * 64 + b"\r\n")
            (r,) = await c.read()
            assert r.status == 413
            await c.closed()
            await c.close()

    run(main())


def test_slow_head_is_408_and_slow_body_too() -> None:
    limits = Limits(header_timeout_s=0.2, body_timeout_s=0.2)

    async def main() -> None:
        async with serving(echo, limits=limits) as (_, port):
            c = await Client.open(port)
            c.send(b"GET /slow HTTP/1.1\r\nHost: te")
            started = time.monotonic()
            (r,) = await c.read()
            assert r.status == 408 and error_of(r) == "timeout"
            assert 0.15 < time.monotonic() - started < 2
            await c.closed()
            await c.close()
            c = await Client.open(port)
            c.send(get("/b", "Content-Length: 10", method="POST") + b"12345")
            (r,) = await c.read()
            assert r.status == 408
            await c.closed()
            await c.close()

    run(main())


def test_idle_keep_alive_and_silent_fresh_connections_are_closed_silently() -> None:
    limits = Limits(keepalive_timeout_s=0.2, header_timeout_s=0.3)

    async def main() -> None:
        async with serving(echo, limits=limits) as (server, port):
            c = await Client.open(port)
            c.send(get("/x"))
            await c.read()
            started = time.monotonic()
            assert await c.closed() == b""
            assert 0.15 < time.monotonic() - started < 2
            await c.close()
            c = await Client.open(port)  # connects and says nothing
            assert await c.closed() == b""
            await c.close()
            await until(lambda: server.connections == 0)

    run(main())


def test_expect_100_continue() -> None:
    async def main() -> None:
        async with serving(echo, limits=Limits(max_body_bytes=100)) as (_, port):
            c = await Client.open(port)
            c.send(get("/e", "Content-Length: 5", "Expect: 100-continue", method="POST"))
            (interim,) = await c.read()
            assert interim.status == 100
            c.send(b"hello")
            (r,) = await c.read()
            assert r.status == 200 and json.loads(r.body)["body"] == "hello"
            # too big: refused instead of invited
            c.send(get("/e", "Content-Length: 500", "Expect: 100-continue", method="POST"))
            (r,) = await c.read()
            assert r.status == 413
            await c.close()

    run(main())


def test_malformed_request_is_400_after_the_responses_owed() -> None:
    async def main() -> None:
        async with serving(echo) as (_, port):
            c = await Client.open(port)
            c.send(get("/fine") + b"GARBAGE\x01 / HTTP/1.1\r\n\r\n")
            fine, bad = await c.read(2)
            assert fine.status == 200 and bad.status == 400 and error_of(bad) == "bad_request"
            assert json.loads(bad.body)["error"]["text"]
            assert bad.headers["connection"] == "close"
            await c.closed()
            await c.close()

    run(main())


def test_upgrade_is_ignored_and_an_upgrade_with_a_body_refused() -> None:
    async def main() -> None:
        async with serving(echo) as (_, port):
            c = await Client.open(port)
            c.send(get("/u", "Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c", "HTTP2-Settings: AAMAAABkAAQAoAAA"))
            (r,) = await c.read()
            assert r.status == 200 and r.headers["connection"] == "close"
            await c.closed()
            await c.close()
            c = await Client.open(port)
            c.send(post("/u", b"body", "Connection: Upgrade", "Upgrade: h2c"))
            (r,) = await c.read()
            assert r.status == 400
            await c.close()

    run(main())


def test_handler_exception_is_500_logged_in_one_line_and_the_connection_stays_usable(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def failing_later(req: Request) -> Response:
        raise KeyError("later")

    def handler(req: Request) -> Response | Awaitable[Response]:
        if req.path == "/boom":
            raise ValueError("boom")
        if req.path == "/later":
            return failing_later(req)
        if req.path == "/bad-header":
            return Response(200, b"", headers=[("X-Evil", "a\r\nSet-Cookie: x")])
        return echo(req)

    async def main() -> None:
        async with serving(handler) as (_, port):
            c = await Client.open(port)
            c.send(get("/boom") + get("/later") + get("/bad-header") + get("/ok"))
            replies = await c.read(4)
            assert [r.status for r in replies] == [500, 500, 500, 200]
            assert error_of(replies[0]) == "internal" and b"boom" not in replies[0].body
            await c.close()

    with caplog.at_level(logging.ERROR, logger="fiscal_core.api.http"):
        run(main())
    lines = sorted(r.getMessage() for r in caplog.records)  # /later is logged when its task ends
    assert len(lines) == 3 and all("\n" not in line for line in lines)
    assert "method=GET path=/bad-header error=ValueError" in lines[0]
    assert "method=GET path=/boom error=ValueError('boom') at=" in lines[1] and "test_http.py:" in lines[1]
    assert "method=GET path=/later error=KeyError('later') at=" in lines[2]


def test_on_request_done_sees_every_response() -> None:
    done: list[tuple[str | None, int]] = []

    async def main() -> None:
        hook = lambda req, resp: done.append((req.path if req else None, resp.status))  # noqa: E731
        async with serving(echo, on_request_done=hook) as (_, port):
            c = await Client.open(port)
            c.send(get("/a") + b"BAD\r\n\r\n")
            await c.read(2)
            await c.close()

    run(main())
    assert done == [("/a", 200), (None, 400)]


# ------------------------------------------------------------------------------------------- shutdown


def test_graceful_shutdown_finishes_in_flight_requests_then_refuses_connections() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()

        def handler(req: Request) -> Response | asyncio.Future[Response]:
            if req.path == "/slow":
                fut: asyncio.Future[Response] = loop.create_future()
                loop.call_later(0.3, fut.set_result, echo(req))
                return fut
            return echo(req)

        server = HttpServer(handler)
        sock = http.bind_socket(HOST, 0)
        port = sock.getsockname()[1]
        await server.start(sock)
        idle, busy = await Client.open(port), await Client.open(port)
        idle.send(get("/x"))
        await idle.read()
        busy.send(get("/slow"))
        await until(lambda: server.requests_in_flight == 1)
        assert server.connections == 2
        started = time.monotonic()
        stopping = asyncio.create_task(server.shutdown(5.0))
        assert await idle.closed() == b""  # idle keep-alive: closed at once
        (r,) = await busy.read()
        assert r.status == 200 and r.headers["connection"] == "close"
        await stopping
        assert 0.2 < time.monotonic() - started < 2
        assert (server.connections, server.requests_in_flight) == (0, 0)
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection(HOST, port)
        await idle.close()
        await busy.close()

    run(main())


def test_shutdown_aborts_what_is_left_at_the_deadline() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        never: asyncio.Future[Response] = loop.create_future()
        server = HttpServer(lambda req: never)
        sock = http.bind_socket(HOST, 0)
        await server.start(sock)
        c = await Client.open(sock.getsockname()[1])
        c.send(get("/never"))
        await until(lambda: server.requests_in_flight == 1)
        started = time.monotonic()
        await server.shutdown(0.2)
        assert 0.15 < time.monotonic() - started < 2
        assert await c.closed() == b""
        assert server.connections == 0 and server.requests_in_flight == 1  # the handler itself runs on
        never.cancel()
        await c.close()

    run(main())


# -------------------------------------------------------------------------------------------- workers

WORKERS_SCRIPT = r"""
import logging, os, sys
from fiscal_core.api import http, workers
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
port = int(sys.argv[1])
def worker_main(index):
    sock = http.bind_socket("127.0.0.1", port)
    answer = lambda req: http.Response.json({"pid": os.getpid(), "worker": index})
    workers.serve_forever(lambda: http.HttpServer(answer), sock, grace_s=2.0)
sys.exit(workers.run_workers(2, worker_main, grace_s=5.0))
"""


def _worker_pid(port: int) -> int | None:
    try:
        with socket.create_connection((HOST, port), timeout=2) as s:
            s.sendall(get("/", "Connection: close"))
            data = b""
            while chunk := s.recv(65536):
                data += chunk
    except OSError:
        return None
    pid: int = json.loads(data.partition(b"\r\n\r\n")[2])["pid"]
    return pid


def _pids_until(port: int, done: Callable[[set[int]], bool], timeout: float = 10.0) -> set[int]:
    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    while not done(seen):
        assert time.monotonic() < deadline, f"workers seen: {seen}"
        pid = _worker_pid(port)
        if pid is None:
            time.sleep(0.05)
        else:
            seen.add(pid)
    return seen


def _reserved_port() -> tuple[socket.socket, int]:
    """A port for the workers (SO_REUSEPORT), held by a socket bound but never listening: it takes no
    connections, and no other test gets the port until the caller closes it."""
    reserve = socket.socket()
    reserve.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    reserve.bind((HOST, 0))
    return reserve, int(reserve.getsockname()[1])


def _reap(proc: subprocess.Popen[Any], pids: Iterable[int]) -> None:
    """Kill what a workers test started, by pid: the supervisor and its workers; close the pipes."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_run_workers_serves_on_one_port_restarts_a_dead_worker_and_stops_on_sigterm() -> None:
    reserve, port = _reserved_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKERS_SCRIPT, str(port)], env=env, stderr=subprocess.PIPE, text=True
    )
    seen: set[int] = set()
    try:
        first = _pids_until(port, lambda s: len(s) >= 2)
        seen |= first
        assert len(first) == 2 and proc.pid not in first
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        survivor = (first - {victim}).pop()
        seen |= _pids_until(port, lambda s: bool(s - first), timeout=15)
        assert _alive(survivor)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        _, log = proc.communicate()
        assert f"pid {victim}) died" in log and "SIGTERM: stopping 2 workers" in log
        assert not [pid for pid in seen if _alive(pid)]
    finally:
        reserve.close()
        _reap(proc, seen)


STUBBORN_SCRIPT = r"""
import os, signal, sys, time
from fiscal_core.api import workers
def worker_main(index):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a worker that will not stop
    os.write(1, b"%d\n" % os.getpid())  # one write: the two workers share the pipe
    time.sleep(60)
sys.exit(workers.run_workers(2, worker_main, grace_s=0.5))
"""


def test_run_workers_kills_workers_that_outlive_the_grace_period() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", STUBBORN_SCRIPT], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    pids: list[int] = []
    try:
        assert proc.stdout is not None
        pids = [int(proc.stdout.readline()), int(proc.stdout.readline())]
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        assert proc.wait(10) == 1  # not a clean stop
        assert 0.4 < time.monotonic() - started < 5
        assert not [pid for pid in pids if _alive(pid)]
        _, log = proc.communicate()
        assert "did not stop within 0.5s" in log
    finally:
        _reap(proc, pids)


def test_run_workers_with_one_worker_runs_in_process() -> None:
    calls: list[int] = []
    assert workers.run_workers(1, calls.append, grace_s=1.0) == 0
    assert calls == [0]


def test_bind_socket_lets_two_sockets_share_a_port() -> None:
    a = http.bind_socket(HOST, 0)
    b = http.bind_socket(HOST, a.getsockname()[1])
    try:
        assert a.getsockname() == b.getsockname() and not a.getblocking()
    finally:
        a.close()
        b.close()


# ---------------------------------------------------------------------------------------- http_client


@contextlib.asynccontextmanager
async def raw_server(reply: bytes | None) -> AsyncIterator[tuple[int, list[bytes]]]:
    """Answers each connection's first request with ``reply`` verbatim and closes (``None``: never answers)."""
    received: list[bytes] = []
    writers: list[asyncio.StreamWriter] = []

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        received.append(head + await reader.readexactly(length))
        if reply is not None:
            writer.write(reply)
            writer.close()

    server = await asyncio.start_server(on_client, HOST, 0)
    try:
        yield server.sockets[0].getsockname()[1], received
    finally:
        server.close()
        for writer in writers:
            writer.close()
        await server.wait_closed()
        await asyncio.sleep(0.01)  # let the closed transports go


def test_http_client_posts_to_our_server() -> None:
    async def main() -> None:
        async with serving(echo) as (_, port):
            status = await http_client.post(
                f"http://{HOST}:{port}/hook?sig=1", b'{"a":1}', [("Content-Type", "application/json")], timeout_s=5
            )
            assert status == 200
            assert await http_client.post(f"http://{HOST}:{port}/hook", b"", (), timeout_s=5) == 200

    run(main())


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (cert, key)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = str(folder / "cert.pem"), str(folder / "key.pem")
    args = "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=127.0.0.1"
    args += " -addext subjectAltName=IP:127.0.0.1"
    subprocess.run(["openssl", *args.split(), "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


def test_https_server_and_client(certificate: tuple[str, str]) -> None:
    cert, key = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    seen: list[bytes] = []

    def handler(req: Request) -> Response:
        seen.append(req.body)
        return Response(201)

    async def main() -> None:
        async with serving(handler, server_tls) as (_, port):
            client_tls = ssl.create_default_context(cafile=cert)
            url = f"https://{HOST}:{port}/hook"
            assert await http_client.post(url, b"signed", (), timeout_s=5, ssl_context=client_tls) == 201
            with pytest.raises(http_client.HttpConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await http_client.post(url, b"x", (), timeout_s=5)  # the system's CAs do not know it
            await asyncio.sleep(0.05)

    run(main())
    assert seen == [b"signed"]


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.0 503 Service Unavailable\r\n\r\nuntil the connection closes",
    ],
    ids=["chunked", "interim-100", "until-close"],
)
def test_http_client_reads_every_response_framing(reply: bytes) -> None:
    async def main() -> None:
        async with raw_server(reply) as (port, received):
            status = await http_client.post(f"http://{HOST}:{port}/cb", b"payload", [("X-Sign", "abc")], timeout_s=5)
            assert status == int(reply.rsplit(b"HTTP/1.", 1)[1][2:5])
            assert received[0].startswith(b"POST /cb HTTP/1.1\r\n") and received[0].endswith(b"\r\n\r\npayload")
            assert b"\r\nX-Sign: abc\r\n" in received[0] and b"\r\nHost: 127.0.0.1:" in received[0]

    run(main())


def test_http_client_errors() -> None:
    async def main() -> None:
        closed = socket.socket()
        closed.bind((HOST, 0))
        port = closed.getsockname()[1]
        closed.close()
        with pytest.raises(http_client.HttpConnectError, match="cannot connect"):
            await http_client.post(f"http://{HOST}:{port}/x?secret=1", b"", (), timeout_s=5)
        async with raw_server(None) as (port, _):
            with pytest.raises(http_client.HttpTimeoutError) as info:
                await http_client.post(f"http://{HOST}:{port}/x?secret=1", b"", (), timeout_s=0.2)
            assert "secret" not in str(info.value)
        async with raw_server(b"SMTP ready\r\n") as (port, _):
            with pytest.raises(http_client.HttpProtocolError):
                await http_client.post(f"http://{HOST}:{port}/x", b"", (), timeout_s=5)
        async with raw_server(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort") as (port, _):
            with pytest.raises(http_client.HttpProtocolError, match="mid-response"):
                await http_client.post(f"http://{HOST}:{port}/x", b"", (), timeout_s=5)
        with pytest.raises(ValueError):
            await http_client.post("ftp://example/x", b"", (), timeout_s=1)
        with pytest.raises(ValueError):
            await http_client.post(f"http://{HOST}:{port}/x", b"", [("X", "a\r\nB: c")], timeout_s=1)

    run(main())


# ------------------------------------------------------------------------------- streamed responses (issue 9)


def _stream_handler(
    chunks: Callable[[], Iterator[bytes]],
) -> Callable[[Request], Response | Awaitable[Response]]:
    def handler(req: Request) -> Response | Awaitable[Response]:
        if req.path == "/stream":
            return http.StreamResponse(200, chunks(), "text/csv; charset=utf-8", [("X-Kind", "export")])
        if req.path == "/stream-later":

            async def later() -> Response:
                await asyncio.sleep(0.01)
                return http.StreamResponse(200, chunks(), "text/csv")

            return later()
        return echo(req)

    return handler


def test_stream_response_is_chunked_and_the_next_pipelined_response_follows_it() -> None:
    parts = [b"a,b\r\n", b"", b"1,2\r\n" * 1000, b"3,4\r\n"]

    async def main() -> None:
        async with serving(_stream_handler(lambda: iter(parts))) as (_, port):
            c = await Client.open(port)
            c.send(get("/stream") + get("/stream-later") + get("/after"))
            first, second, third = await c.read(3)
            assert first.status == 200 and first.body == b"".join(parts)
            assert first.headers["transfer-encoding"] == "chunked" and "content-length" not in first.headers
            assert first.headers["content-type"] == "text/csv; charset=utf-8" and first.headers["x-kind"] == "export"
            assert second.body == b"".join(parts)
            assert json.loads(third.body)["path"] == "/after"
            await c.close()

    run(main())


def test_stream_is_paced_by_a_client_that_does_not_read() -> None:
    produced = [0]
    chunk = b"x" * 65536

    def chunks() -> Iterator[bytes]:
        for _ in range(1000):  # 64 MiB if nobody pushed back
            produced[0] += 1
            yield chunk

    async def main() -> None:
        limits = Limits(write_buffer_high=65536)
        async with serving(_stream_handler(chunks), limits=limits) as (_, port):
            c = await Client.open(port)
            c.send(get("/stream"))
            await until(lambda: produced[0] > 0)
            stalled = -1
            while produced[0] != stalled:  # until the producer stops: paused on the full buffer
                stalled = produced[0]
                await asyncio.sleep(0.2)
            assert stalled < 500, stalled  # far from the end: the socket buffers hold a few MiB at most
            raw, tail = 0, b""
            async with asyncio.timeout(30):  # counted, not parsed: 64 MiB through the test parser is slow
                while not tail.endswith(b"\r\n0\r\n\r\n"):
                    data = await c.reader.read(1 << 20)
                    assert data
                    raw += len(data)
                    tail = (tail + data)[-16:]
            assert raw > 1000 * 65536 and produced[0] == 1000
            await c.close()

    run(main())


def test_stream_producer_failure_aborts_the_connection_and_head_gets_no_body() -> None:
    runs: list[str] = []

    def chunks() -> Iterator[bytes]:
        runs.append("started")
        try:
            yield b"first,row\r\n"
            raise RuntimeError("the export broke")
        finally:
            runs.append("closed")

    async def main() -> None:
        async with serving(_stream_handler(chunks)) as (_, port):
            c = await Client.open(port)
            c.send(get("/stream", method="HEAD") + get("/after"))
            head = await c.read_head()
            assert b"200 OK" in head and b"chunked" in head.lower()
            (after,) = await c.read(1)  # the HEAD response had no body: the next one parses cleanly
            assert json.loads(after.body)["path"] == "/after" and runs == []
            c.send(get("/stream"))
            rest = await c.closed()
            assert b"first,row" in rest and not rest.endswith(b"0\r\n\r\n")  # truncated, never complete
            assert runs == ["started", "closed"]
            await c.close()

    run(main())


def test_stream_over_http10_is_delimited_by_the_close_and_a_gone_client_stops_it() -> None:
    state = {"made": 0, "closed": False}

    def endless() -> Iterator[bytes]:
        try:
            while True:
                state["made"] += 1
                yield b"y" * 65536
        finally:
            state["closed"] = True

    async def main() -> None:
        async with serving(_stream_handler(lambda: iter([b"one\n", b"two\n"]))) as (_, port):
            c = await Client.open(port)
            c.send(get("/stream", "Connection: keep-alive", version="1.0"))
            raw = await c.closed()
            head, _, body = raw.partition(b"\r\n\r\n")
            assert b"Connection: close" in head and b"chunked" not in head.lower() and body == b"one\ntwo\n"
            await c.close()
        async with serving(_stream_handler(endless), limits=Limits(write_buffer_high=65536)) as (server, port):
            c = await Client.open(port)
            c.send(get("/stream"))
            await until(lambda: state["made"] > 2)
            c.writer.transport.abort()
            await until(lambda: state["closed"])
            await until(lambda: server.connections == 0)

    run(main())


GRACEFUL_SCRIPT = r"""
import asyncio, logging, os, sys
from fiscal_core.api import http, workers
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
port = int(sys.argv[1])
async def slow(req):
    await asyncio.sleep(1.5)
    return http.Response.json({"pid": os.getpid()})
def worker_main(index):
    sock = http.bind_socket("127.0.0.1", port)
    workers.serve_forever(lambda: http.HttpServer(slow), sock, grace_s=5.0)
sys.exit(workers.run_workers(2, worker_main, grace_s=10.0))
"""


def test_workers_finish_their_graceful_stop_when_the_stop_signal_comes_twice() -> None:
    """A terminal's Ctrl-C and systemd's default KillMode signal the whole process group, and the supervisor
    forwards the signal as well: each worker gets it twice, and must go on draining its requests in flight."""
    reserve, port = _reserved_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", GRACEFUL_SCRIPT, str(port)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as under a terminal or a service manager
    )
    clients: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 15
        while len(clients) < 8:  # requests in flight on both workers (SO_REUSEPORT spreads connections)
            assert time.monotonic() < deadline, "the workers did not come up"
            try:
                s = socket.create_connection((HOST, port), timeout=10)
            except OSError:
                time.sleep(0.05)
                continue
            s.sendall(get("/", "Connection: close"))
            clients.append(s)
        time.sleep(0.3)
        os.killpg(proc.pid, signal.SIGTERM)  # the supervisor and both workers at once
        time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGTERM)  # and again, 0.2 s later: the same request, not "kill now"
        answered = []
        for s in clients:
            data = b""
            while chunk := s.recv(65536):
                data += chunk
            answered.append(data.split(b"\r\n", 1)[0])
        assert answered == [b"HTTP/1.1 200 OK"] * len(clients), answered
        assert proc.wait(15) == 0
        _, log = proc.communicate()
        assert "stopped with exit code" not in log, log
    finally:
        reserve.close()
        for s in clients:
            s.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


ORPHAN_SCRIPT = r"""
import os, sys
from fiscal_core.api import http, workers
port = int(sys.argv[1])
def worker_main(index):
    sock = http.bind_socket("127.0.0.1", port)
    os.write(1, b"%d\n" % os.getpid())  # one write: the two workers share the pipe
    answer = lambda req: http.Response.json({"pid": os.getpid()})
    workers.serve_forever(lambda: http.HttpServer(answer), sock, grace_s=2.0)
sys.exit(workers.run_workers(2, worker_main, grace_s=5.0))
"""


def test_workers_stop_when_the_supervisor_is_killed() -> None:
    """An OOM kill or a SIGKILL of the supervisor alone must not leave its workers serving, orphaned, on the
    port that the next server binds again (SO_REUSEPORT would spread clients over both)."""
    reserve, port = _reserved_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", ORPHAN_SCRIPT, str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    pids: list[int] = []
    try:
        assert proc.stdout is not None
        pids = [int(proc.stdout.readline()), int(proc.stdout.readline())]
        _pids_until(port, lambda s: len(s) >= 2)  # both serve
        proc.kill()
        proc.wait(10)
        deadline = time.monotonic() + 15
        while [pid for pid in pids if _alive(pid)]:
            assert time.monotonic() < deadline, f"orphaned workers still running: {[p for p in pids if _alive(p)]}"
            time.sleep(0.05)
        assert _worker_pid(port) is None  # nobody answers on the port any more
    finally:
        reserve.close()
        _reap(proc, pids)
