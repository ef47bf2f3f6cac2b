"""HTTP/1.1 server core: requests/s of ``fiscal_core.api.http`` with a trivial sync handler, and of a bare
uvloop + httptools + msgspec protocol (what any server on this stack pays: parse, encode, write) for the ratio.
The bare one writes once per response, as a naive server does, so it is no ceiling when pipelined: there the
one-write-per-read rule of ``api.http`` wins.

The server runs in a child process pinned to CPU 0 (one worker, one core: the unit the project's floor of
12,000 fiscal POSTs/s is stated for); the client runs here, pinned to CPU 1, on uvloop with raw protocols, so
that the figure is the server's. Each request is a 260-byte POST with a JSON body and the headers a merchant's
client sends; each response is a small JSON of constant size (so the client counts bytes, not parses).

Shapes: 1 connection pipelining 16 requests per write (the parser's and the one-write-per-read path), and 32
connections with one request in flight each (the per-read, per-syscall path, as ``wrk -c32`` drives it).

Run as a script to serve on a port by hand (e.g. for ``wrk``):
``taskset -c 0 python bench/bench_http.py serve 8080 [fiscal|bare]``.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import per_item

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BODY = (
    b'{"external_id":"17052023-0001","receipt":{"client":{"email":"a@b.ru"},"company":{"inn":"7707083893",'
    b'"payment_address":"shop.ru"},"items":[{"name":"Milk","price":89.9,"quantity":1,"sum":89.9}],"total":89.9}}'
)
REQUEST = (
    b"POST /possystem/v4/bench/sell HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json; charset=utf-8\r\n"
    b"Token: 0123456789abcdef0123456789abcdef\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY)
)
PER_ROUND = 3200  # requests per benchmark round


# ------------------------------------------------------------------------------------------------ servers


def _serve(port: int, impl: str) -> None:
    import uvloop

    from fiscal_core.api import http, workers

    sock = http.bind_socket("127.0.0.1", port)
    if impl == "fiscal":
        answer = http.Response.json({"uuid": "4b1f8f3e-2c1d-4d0e-9a3b-0c5e7f6a1b2c", "status": "wait", "error": None})

        def handler(req: http.Request) -> http.Response:
            return answer

        workers.serve_forever(lambda: http.HttpServer(handler), sock, grace_s=1.0)
    else:
        uvloop.run(_bare(sock))


async def _bare(sock: socket.socket) -> None:
    """The least a uvloop + httptools + msgspec server does per request: parse, encode, one write."""
    import email.utils
    import signal

    import httptools
    import msgspec

    encode = msgspec.json.encode

    class Bare(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.t = transport
            self.p = httptools.HttpRequestParser(self)
            self.body = b""

        def data_received(self, data: bytes) -> None:
            self.p.feed_data(data)

        def on_body(self, b: bytes) -> None:
            self.body = b

        def on_message_complete(self) -> None:
            out = encode({"uuid": "4b1f8f3e-2c1d-4d0e-9a3b-0c5e7f6a1b2c", "status": "wait", "error": None})
            date = email.utils.formatdate(usegmt=True).encode()
            self.t.write(
                b"HTTP/1.1 200 OK\r\nServer: fiscal_core\r\nDate: %s\r\nContent-Type: application/json; "
                b"charset=utf-8\r\nContent-Length: %d\r\n\r\n%s" % (date, len(out), out)
            )

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    server = await loop.create_server(Bare, sock=sock)
    await stop.wait()
    server.close()


@pytest.fixture(scope="module", params=["fiscal", "bare"])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, int]]:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    cmd = [sys.executable, __file__, "serve", str(port), request.param]
    env = {**os.environ, "PYTHONPATH": ROOT}
    proc = subprocess.Popen(cmd, env=env)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("benchmark server did not start") from None
                time.sleep(0.05)
        yield request.param, port
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ------------------------------------------------------------------------------------------------- client


class _Client(asyncio.Protocol):
    """Keeps ``depth`` requests in flight on one connection until the shared budget is spent."""

    def __init__(self, run: _Run, depth: int) -> None:
        self.run = run
        self.depth = depth
        self.pending = 0
        self.got = 0

    def connection_made(self, transport: Any) -> None:
        self.t = transport

    def send(self) -> None:
        n = min(self.depth, self.run.left)
        if n <= 0:
            self.t.close()
            return
        self.run.left -= n
        self.pending = n
        self.t.write(REQUEST * n)

    def data_received(self, data: bytes) -> None:
        self.got += len(data)
        size = self.run.response_size
        done = self.got // size
        if done:
            self.got -= done * size
            self.pending -= done
            self.run.count(done)
            if self.pending == 0:
                self.send()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.pending:
            self.run.fail(exc or ConnectionError("server closed the connection"))


class _Run:
    def __init__(self, loop: asyncio.AbstractEventLoop, total: int, response_size: int) -> None:
        self.left = total
        self.todo = total
        self.response_size = response_size
        self.done: asyncio.Future[None] = loop.create_future()

    def count(self, n: int) -> None:
        self.todo -= n
        if self.todo == 0 and not self.done.done():
            self.done.set_result(None)

    def fail(self, exc: BaseException) -> None:
        if not self.done.done():
            self.done.set_exception(exc)


def _response_size(port: int) -> int:
    """Size of one response (constant: fixed body, and the Date header has a fixed width)."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(REQUEST)
        data = b""
        while b"\r\n\r\n" not in data:
            data += s.recv(65536)
        head = data.partition(b"\r\n\r\n")[0]
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        return len(head) + 4 + length


class _Driver:
    def __init__(self, port: int, connections: int, depth: int) -> None:
        import uvloop

        self.loop = uvloop.new_event_loop()
        self.port = port
        self.connections = connections
        self.depth = depth
        self.size = _response_size(port)

    async def _round(self) -> None:
        run = _Run(self.loop, PER_ROUND, self.size)
        clients = []
        for _ in range(self.connections):
            _, c = await self.loop.create_connection(lambda: _Client(run, self.depth), "127.0.0.1", self.port)
            clients.append(c)
        for c in clients:
            c.send()
        await run.done
        for c in clients:
            c.t.close()

    def round(self) -> None:
        self.loop.run_until_complete(self._round())

    def close(self) -> None:
        self.loop.run_until_complete(asyncio.sleep(0.01))  # let the transports finish closing
        self.loop.close()


@pytest.fixture
def client_cpu() -> Iterator[None]:
    before = os.sched_getaffinity(0)
    if len(before) > 1:
        os.sched_setaffinity(0, {max(before)})
    yield
    os.sched_setaffinity(0, before)


@pytest.mark.parametrize(("connections", "depth"), [(1, 16), (32, 1)], ids=["1conn-pipeline16", "32conn"])
def bench_requests(benchmark: Any, server: tuple[str, int], connections: int, depth: int, client_cpu: None) -> None:
    impl, port = server
    benchmark.group = f"http-{connections}x{depth}"
    benchmark.name = f"{impl}"
    driver = _Driver(port, connections, depth)
    try:
        driver.round()  # warm-up: connections, caches
        benchmark.pedantic(driver.round, rounds=15, iterations=1)
    finally:
        driver.close()
    per_item(benchmark, PER_ROUND, "request")


# ------------------------------------------------------------------------- the protocol alone, no sockets


class _NullTransport(asyncio.Transport):
    def write(self, data: Any) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def is_closing(self) -> bool:
        return False


class _ParseOnly:
    """httptools with the callbacks a server cannot do without, all empty: the floor of the protocol cost."""

    def on_url(self, url: bytes) -> None:
        pass

    def on_header(self, name: bytes, value: bytes) -> None:
        pass

    def on_body(self, body: bytes) -> None:
        pass

    def on_message_complete(self) -> None:
        pass


@pytest.mark.parametrize("depth", [1, 16])
@pytest.mark.parametrize("impl", ["fiscal", "parse-only"])
def bench_protocol(benchmark: Any, impl: str, depth: int) -> None:
    """CPU per request of parsing, dispatching and rendering, fed straight to the protocol (no syscalls):
    steadier than the socket figures on a shared machine, so the one to compare between runs."""
    import httptools
    import uvloop

    from fiscal_core.api import http

    benchmark.group = f"http-protocol-depth{depth}"
    data = REQUEST * depth
    reads = PER_ROUND // depth
    loop = uvloop.new_event_loop()
    try:
        if impl == "fiscal":
            answer = http.Response.json({"uuid": "4b1f8f3e-2c1d-4d0e-9a3b-0c5e7f6a1b2c", "status": "wait"})
            conn = http._Connection(http.HttpServer(lambda req: answer), loop)
            conn.connection_made(_NullTransport())
            feed = conn.data_received
        else:
            feed = httptools.HttpRequestParser(_ParseOnly()).feed_data

        def run() -> None:
            for _ in range(reads):
                feed(data)

        benchmark(run)
    finally:
        loop.close()
    per_item(benchmark, PER_ROUND, "request")


if __name__ == "__main__" and sys.argv[1:2] == ["serve"]:
    if len(os.sched_getaffinity(0)) > 1:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    _serve(int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else "fiscal")
