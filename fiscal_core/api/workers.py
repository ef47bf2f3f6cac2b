"""Process model: one worker process per core, each with its own SO_REUSEPORT socket and uvloop loop.

Rules of this module:

- ``run_workers`` forks before any event loop or thread exists in the parent (a fork copies only the calling
  thread); each worker calls ``worker_main(index)``, which binds its own socket (``http.bind_socket``) and
  runs :func:`serve_forever`. The kernel spreads connections over the sockets of one port.
- The supervisor handles signals synchronously (blocked, then ``sigtimedwait``): no handler runs between two
  statements, so there is no race between a child's death and a stop request. Linux only.
- SIGTERM/SIGINT: forwarded to every worker, which stops gracefully (``HttpServer.shutdown``); a worker still
  alive ``grace_s`` later is killed, and a second signal (a second or more after the first) kills at once.
  Every child is reaped. A worker under the supervisor ignores stop signals once it is stopping: the same
  signal often reaches it twice (a terminal's Ctrl-C and systemd's default KillMode signal the whole process
  group, and the supervisor forwards it too), and escalating is the supervisor's job.
- A worker stops gracefully when the supervisor dies (``PR_SET_PDEATHSIG``: SIGTERM), instead of serving on,
  orphaned, beside the workers of a restarted server on the same port.
- A worker that dies while no stop was asked for is restarted after a backoff (0.1 s, doubling up to 5 s while
  it keeps dying within 10 s of its start), and the death is logged.
- Exit code: 0 when every worker stopped cleanly on request, 1 otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import socket
import ssl as _ssl
import sys
import time
from collections.abc import Callable

import uvloop

from fiscal_core.api.http import HttpServer

__all__ = ["run_workers", "serve", "serve_forever", "until_stopped"]

log = logging.getLogger(__name__)

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_BACKOFF_MIN_S, _BACKOFF_MAX_S, _STABLE_S = 0.1, 5.0, 10.0
_REPEAT_S = 1.0  # a stop signal this soon after the first is the same request delivered twice


_supervised = False  #: set in a worker process forked by the supervisor
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _stop_with_parent(parent: int) -> None:
    """Ask the kernel for SIGTERM when the supervisor (``parent``) dies; if it died already, stop now."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
        log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
    if os.getppid() != parent:  # it died between the fork and the request
        os.kill(os.getpid(), signal.SIGTERM)


def _stopping(loop: asyncio.AbstractEventLoop, stop_signals: tuple[signal.Signals, ...]) -> None:
    """A stop signal arrived: a supervised worker ignores the next ones until it exits (see the rules); a
    process on its own gets the default handling back (a second Ctrl-C interrupts its graceful stop)."""
    for sig in stop_signals:
        if _supervised:
            loop.add_signal_handler(sig, lambda: None)
        else:
            loop.remove_signal_handler(sig)


async def until_stopped(stop_signals: tuple[signal.Signals, ...] = _STOP_SIGNALS) -> None:
    """Wait for one of ``stop_signals`` (or cancellation); what a later one does is :func:`_stopping`'s rule."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in stop_signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        _stopping(loop, stop_signals)


async def serve(
    server: HttpServer,
    sock: socket.socket,
    *,
    grace_s: float,
    ssl: _ssl.SSLContext | None = None,
    stop_signals: tuple[signal.Signals, ...] = _STOP_SIGNALS,
) -> None:
    """Serve until one of ``stop_signals`` arrives (or the task is cancelled), then shut down gracefully."""
    try:
        await server.start(sock, ssl)
        await until_stopped(stop_signals)
    finally:
        await server.shutdown(grace_s)


def serve_forever(
    server_factory: Callable[[], HttpServer],
    sock: socket.socket,
    *,
    grace_s: float,
    ssl: _ssl.SSLContext | None = None,
    install_signals: bool = True,
) -> None:
    """Run one worker: a new uvloop loop, the server made inside it (its handler may need the loop), serving
    ``sock`` until SIGTERM/SIGINT, then a graceful shutdown of at most ``grace_s`` seconds."""

    async def main() -> None:
        await serve(
            server_factory(), sock, grace_s=grace_s, ssl=ssl, stop_signals=_STOP_SIGNALS if install_signals else ()
        )

    uvloop.run(main())


def run_workers(n: int, worker_main: Callable[[int], None], *, grace_s: float) -> int:
    """Run ``worker_main(i)`` for i in range(n), each in its own process (in this one when n == 1), until
    SIGTERM/SIGINT; returns the exit code."""
    if n < 1:
        raise ValueError(f"need at least one worker, got {n}")
    if n == 1:
        try:
            worker_main(0)
        except Exception:
            log.exception("worker 0 failed")
            return 1
        return 0
    return _Supervisor(n, worker_main, grace_s).run()


class _Supervisor:
    def __init__(self, n: int, worker_main: Callable[[int], None], grace_s: float) -> None:
        self.n = n
        self.worker_main = worker_main
        self.grace_s = grace_s
        self.pids: dict[int, int] = {}  # pid → worker index
        self.started: dict[int, float] = {}  # index → monotonic start
        self.backoff: dict[int, float] = {}  # index → next restart delay
        self.restart_at: dict[int, float] = {}  # index → when to restart it
        self.stop_deadline: float | None = None
        self.stop_asked = 0.0
        self.clean = True
        self.old_mask: set[int | signal.Signals] = set()

    def run(self) -> int:
        watched = {*_STOP_SIGNALS, signal.SIGCHLD}
        self.old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, watched)
        try:
            for index in range(self.n):
                self._spawn(index)
            while self.pids or (self.restart_at and self.stop_deadline is None):
                info = signal.sigtimedwait(watched, self._wait_s())
                if info is not None and info.si_signo != signal.SIGCHLD:
                    self._on_stop_signal(signal.Signals(info.si_signo))
                self._reap()
                now = time.monotonic()
                if self.stop_deadline is not None:
                    if now >= self.stop_deadline:
                        self._kill_all(f"did not stop within {self.grace_s:.1f}s")
                    continue
                for index, at in list(self.restart_at.items()):
                    if now >= at:
                        del self.restart_at[index]
                        self._spawn(index)
        finally:
            if self.pids:  # an exception in the supervisor itself: leave no orphans
                self._kill_all("supervisor failed")
            signal.pthread_sigmask(signal.SIG_SETMASK, self.old_mask)
        return 0 if self.clean else 1

    def _wait_s(self) -> float:
        now = time.monotonic()
        if self.stop_deadline is not None:
            return max(0.0, min(1.0, self.stop_deadline - now))
        # a timeout also covers a SIGCHLD that merged with another: _reap runs on every wake-up
        return max(0.0, min([1.0, *(at - now for at in self.restart_at.values())]))

    def _spawn(self, index: int) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the worker
            global _supervised
            _supervised = True
            code = 0
            try:
                for sig in _STOP_SIGNALS:
                    signal.signal(sig, signal.SIG_DFL if sig == signal.SIGTERM else signal.default_int_handler)
                signal.pthread_sigmask(signal.SIG_SETMASK, self.old_mask)
                _stop_with_parent(parent)
                self.worker_main(index)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                log.exception("worker %d failed", index)
                code = 1
            finally:
                logging.shutdown()
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)  # never return into the supervisor's stack
        self.pids[pid] = index
        self.started[index] = time.monotonic()
        log.info("worker %d started, pid %d", index, pid)

    def _on_stop_signal(self, sig: signal.Signals) -> None:
        now = time.monotonic()
        if self.stop_deadline is not None:
            # The same signal sent to the process group (a terminal's Ctrl-C, timeout(1)) arrives more than
            # once: only a signal given well after the first means "now".
            if now - self.stop_asked > _REPEAT_S:
                self._kill_all(f"second {sig.name}")
            return
        log.info("%s: stopping %d workers (grace %.1fs)", sig.name, len(self.pids), self.grace_s)
        self.stop_asked = now
        self.stop_deadline = now + self.grace_s
        self.restart_at.clear()
        for pid in self.pids:
            self._signal(pid, sig)

    def _reap(self) -> None:
        for pid in list(self.pids):
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done, status = pid, 0
            if done:
                self._exited(pid, status)

    def _exited(self, pid: int, status: int) -> None:
        index = self.pids.pop(pid)
        code = os.waitstatus_to_exitcode(status)
        if self.stop_deadline is not None:
            if code != 0:
                self.clean = False
                log.warning("worker %d (pid %d) stopped with exit code %d", index, pid, code)
            return
        lived = time.monotonic() - self.started[index]
        delay = _BACKOFF_MIN_S if lived > _STABLE_S else self.backoff.get(index, _BACKOFF_MIN_S)
        self.backoff[index] = min(delay * 2, _BACKOFF_MAX_S)
        self.restart_at[index] = time.monotonic() + delay
        log.error(
            "worker %d (pid %d) died with exit code %d after %.1fs; restart in %.1fs", index, pid, code, lived, delay
        )

    def _kill_all(self, why: str) -> None:
        for pid, index in list(self.pids.items()):
            log.warning("killing worker %d (pid %d): %s", index, pid, why)
            self._signal(pid, signal.SIGKILL)
        for pid in list(self.pids):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            self.pids.pop(pid)
        self.clean = False

    @staticmethod
    def _signal(pid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):  # already dead: _reap collects it
            os.kill(pid, sig)
