"""An OFD emulator (issue 6 item 2): a TCP server that takes register messages, checks, stores and confirms them.

Rules
- Framing (:mod:`.protocol`): a message whose session header, flags or CRCs do not check out, or that has no
  container, loses the stream's framing: the connection is closed and nothing is answered (``frame_errors``,
  ``crc_errors``). Messages of a connection are answered in order, so a register may pipeline.
- The document is decoded with the strict TLV codec: one that does not decode is answered with 1022 = 11
  (not recognised); one that fails the format-logical check (:func:`format_check`: the mandatory tags, 1040 /
  1041 against the container and the session header, the message sign, a receipt's payments and item sums
  against 1020) is answered with 1022 = 14. Refused documents are logged, not stored as received.
- A document that passes is stored (:mod:`.store`, LMDB) and only then confirmed: the answer is a form-7
  document (1017, 1041, 1040, 1012 = the emulator's local time, 1068 {1022 = 0}, 1078) whose operator sign
  is made with the drive's operator key under the emulator's operator secret
  (:class:`~fiscal_core.crypto.sign.OperatorSigner`). A repeat gets the stored confirmation again; the same FD
  with other bytes is refused (14). Stores are batched: every document that arrives while a commit runs goes
  into the next one (group commit), so a pipelining register costs one durable commit per batch.
- The operator secret is kept in the data directory (made at first start) or given (``secret=``); the
  tenant's OFD settings give the sender the same secret (:func:`fiscal_core.ofd.client.operator_keys`) or the
  per-drive keys derived from it (:func:`fiscal_core.crypto.sign.operator_key`).
- Faults (:class:`Faults`, from the command line, :attr:`OfdEmulator.faults`, or the admin endpoint): refuse
  connections, stay down for a period (the port is closed), delay answers, drop answers (the document is
  kept, the connection closed), cut answers mid-frame, corrupt their CRC, sign them wrongly, or reject a
  fraction of documents with 1022 = 14. Fractions draw from a seeded generator.
- Admin endpoint (``start_admin``): one JSON object per line, answered with one line: ``{"faults": {...}}``
  changes faults, ``{"down": seconds}`` takes the OFD down, ``{"up": true}`` brings it back, ``{}`` reports.
- In-process use: ``await start(host, port)`` / ``await stop()`` on a running loop, or
  :meth:`OfdEmulator.start_in_thread` / :meth:`OfdEmulator.stop_thread` for a synchronous server.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import json
import os
import random
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from fiscal_core.crypto.sign import OperatorSigner
from fiscal_core.errors import DecodeError
from fiscal_core.ffd import tlv
from fiscal_core.ofd import protocol
from fiscal_core.ofd.client import LoopThread, new_event_loop
from fiscal_core.ofd.protocol import Container, CrcError, FrameError, MessageReader, SessionHeader
from fiscal_core.ofd.store import CONFLICT, Incoming, OfdStore, Refused

__all__ = ["EmulatorStats", "Faults", "OfdEmulator", "format_check", "serve"]

#: The OFD's INN in confirmations (1017) unless told otherwise: Yandex.OFD's, as in Y's mock OFD.
DEFAULT_OFD_INN = "7704358518"
_MSK = 3 * 3600
_PAUSE_AT = 4096  # answers queued on a connection before it stops reading (a register that never reads)
_RESUME_AT = 1024


# --------------------------------------------------------------------------- faults and statistics


@dataclass(frozen=True, slots=True)
class Faults:
    """What goes wrong on purpose; fractions are 0..1 per answer (or per document for ``reject``)."""

    refuse: bool = False  #: accept connections and close them at once
    delay_s: float = 0.0  #: no answer leaves before this long after its message arrived
    drop: float = 0.0  #: answers never sent: the connection is closed instead (the document is kept)
    truncate: float = 0.0  #: answers cut in the middle of the frame, then the connection is closed
    corrupt_crc: float = 0.0  #: answers with a wrong container CRC
    bad_sign: float = 0.0  #: answers whose operator sign is wrong
    reject: float = 0.0  #: documents answered with 1022 = 14 although they are fine
    seed: int | None = None

    @classmethod
    def parse(cls, text: str) -> Faults:
        """``"reject=0.1,delay_s=0.5,refuse=1"`` or a JSON object with the same names."""
        text = text.strip()
        if not text:
            return cls()
        if text.startswith("{"):
            values = json.loads(text)
            if not isinstance(values, dict):
                raise ValueError("faults: expected a JSON object")
            return cls.from_dict(values)
        values = {}
        for part in text.split(","):
            name, sep, value = part.partition("=")
            if not sep:
                raise ValueError(f"faults: expected NAME=VALUE, got {part!r}")
            values[name.strip()] = value.strip()
        return cls.from_dict(values)

    @classmethod
    def from_dict(cls, values: dict[str, Any], base: Faults | None = None) -> Faults:
        fields = {f.name: f for f in dataclasses.fields(cls)}
        out: dict[str, Any] = {}
        for name, raw in values.items():
            if name not in fields:
                raise ValueError(f"faults: unknown fault {name!r}; known: {', '.join(fields)}")
            if name == "refuse":
                out[name] = raw if isinstance(raw, bool) else str(raw).lower() in ("1", "true", "yes", "on")
            elif name == "seed":
                out[name] = None if raw is None else int(raw)
            else:
                value = float(raw)
                if value < 0 or (name != "delay_s" and value > 1):
                    raise ValueError(f"faults: {name} = {value} is out of range")
                out[name] = value
        return dataclasses.replace(base or cls(), **out)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(slots=True)
class EmulatorStats:
    connections: int = 0
    refused_connections: int = 0
    messages: int = 0
    accepted: int = 0  #: new documents stored
    repeats: int = 0  #: documents received again (answered with the stored confirmation)
    rejected: int = 0  #: answered 1022 = 14 (format check, conflicting repeat, injected)
    injected_rejects: int = 0
    unrecognised: int = 0  #: answered 1022 = 11
    frame_errors: int = 0
    crc_errors: int = 0
    answers: int = 0
    dropped: int = 0
    truncated: int = 0
    corrupted: int = 0
    bad_signs: int = 0
    store_errors: int = 0
    last_error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------- the format-logical check

_HEAD_TAGS = frozenset({1040, 1041, 1012, 1077, 1037})
#: Mandatory tags per form beyond the numbering block (reference §5; what every register sends).
_REQUIRED: dict[int, frozenset[int]] = {
    form: _HEAD_TAGS | extra
    for form, extra in (
        (1, {1018, 1048}),
        (11, {1018, 1048}),
        (2, {1038}),
        (5, {1038}),
        (6, {1038}),
        (21, set()),
        (3, {1038, 1042, 1054, 1020}),
        (31, {1038, 1042, 1054, 1020}),
        (4, {1038, 1042, 1054, 1020}),
        (41, {1038, 1042, 1054, 1020}),
    )
}
_RECEIPTS = frozenset({3, 31, 4, 41})


def format_check(session: SessionHeader, container: Container, tree: list[tuple[int, Any]]) -> str | None:
    """Why the OFD's format-logical check refuses this document (1022 = 14), or None when it passes."""
    if len(tree) != 1:
        return f"the container holds {len(tree)} documents"
    form, nodes = tree[0]
    required = _REQUIRED.get(form)
    if required is None:
        return f"form {form} is not a document a register sends"
    top = dict(nodes)  # the last of a repeated tag; none of the tags looked at here may repeat
    missing = required - top.keys()
    if missing:
        return f"mandatory tags missing: {', '.join(map(str, sorted(missing)))}"
    if top[1040] != container.header.fd_number:
        return f"1040 = {top[1040]} but the container carries FD {container.header.fd_number}"
    if top[1041] != session.fn_number:
        return f"1041 = {top[1041]} but the session header says FN {session.fn_number}"
    if container.header.fn_bcd.hex() != top[1041]:  # BCD of the 16 digits, nibble for nibble
        return f"the container's BCD FN {container.header.fn_bcd.hex()} is not 1041 = {top[1041]}"
    if container.message_sign is None:
        return "no message sign (ФПС) follows the document"
    if form in _RECEIPTS:
        total = top[1020]
        if not 1 <= top[1054] <= 4:
            return f"1054 = {top[1054]} is not a settlement sign"
        get = top.get
        paid = get(1031, 0) + get(1081, 0) + get(1215, 0) + get(1216, 0) + get(1217, 0)  # cash .. barter
        if paid != total:
            return f"the payments add up to {paid}, the total 1020 is {total}"
        if 1059 in top:
            items = 0
            for tag, item in nodes:
                if tag == 1059:
                    for sub, value in item:
                        if sub == 1043:
                            items += value
                            break  # one 1043 per item
            if items != total:
                return f"the items add up to {items}, the total 1020 is {total}"
    return None


# --------------------------------------------------------------------------- storage batching


class _GroupWriter:
    """Every store request that arrives while a commit runs goes into the next commit (one future per batch)."""

    def __init__(self, store: OfdStore, loop: asyncio.AbstractEventLoop) -> None:
        self._store = store
        self._loop = loop
        self._items: list[Incoming | Refused] = []
        self._future: asyncio.Future[list[bytes | None]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="ofd-emulator-store")

    def put(self, item: Incoming | Refused) -> _Slot:
        """The batch future and the item's place in it; the result there is the confirmation to answer with,
        :data:`CONFLICT`, ``b""`` (a refusal, logged) or None (the commit failed: nothing was stored)."""
        if self._future is None:
            self._future = self._loop.create_future()
        self._items.append(item)
        if self._task is None:
            self._task = self._loop.create_task(self._flush())
        return self._future, len(self._items) - 1

    async def _flush(self) -> None:
        try:
            while self._items:
                items, future = self._items, self._future
                self._items, self._future = [], None
                assert future is not None
                try:
                    results: list[bytes | None] = list(
                        await self._loop.run_in_executor(self._executor, self._store.write, items)
                    )
                except Exception:  # a full disk: nothing of the batch was stored, nothing is confirmed
                    results = [None] * len(items)
                future.set_result(results)
        finally:
            self._task = None

    async def close(self) -> None:
        if self._task is not None:
            await asyncio.shield(self._task)
        await self._loop.run_in_executor(None, self._executor.shutdown)


# --------------------------------------------------------------------------- connections

_Slot = tuple[asyncio.Future[list[bytes | None]], int]


@dataclass(slots=True)
class _Answer:
    arrival: float
    fn_number: str
    fd_number: int
    message_sign: bytes
    p_version: bytes
    crc_mode: int
    fn_bcd: bytes
    refusal: bytes = b""  # a refusal's form-7 document, answered as it is once its log entry is written
    slot: _Slot | None = None  # where the store's answer will be
    candidate: bytes | None = None  # the confirmation offered to the store for a new document


class _Connection(asyncio.Protocol):
    def __init__(self, emulator: OfdEmulator) -> None:
        self.emu = emulator
        self.frames = MessageReader()
        self.queue: deque[_Answer] = deque()
        self.ready = asyncio.Event()
        self.transport: asyncio.Transport | None = None
        self.task: asyncio.Task[None] | None = None
        self.closing = False
        self.paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's
        emu = self.emu
        emu.stats.connections += 1
        if emu.faults.refuse or emu.is_down:
            emu.stats.refused_connections += 1
            self.transport.abort()
            return
        emu._connections.add(self)
        self.task = asyncio.get_running_loop().create_task(self._answer_loop())

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        self.frames.feed(data)
        emu = self.emu
        try:
            for msg in self.frames:
                emu.stats.messages += 1
                self.queue.append(emu._handle(msg))
        except FrameError as exc:
            if isinstance(exc, CrcError):
                emu.stats.crc_errors += 1
            else:
                emu.stats.frame_errors += 1
            emu.stats.last_error = str(exc)
            self._finish()  # answers already queued still go out; then the connection closes
        self.ready.set()
        if len(self.queue) > _PAUSE_AT and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        self._finish()
        return True  # keep the write side open until the queued answers are out

    def _finish(self) -> None:
        self.closing = True
        self.ready.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.emu._connections.discard(self)
        if self.task is not None:
            self.task.cancel()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    async def _answer_loop(self) -> None:
        """Answers in arrival order; every answer that is ready goes out in one write."""
        transport = self.transport
        assert transport is not None
        emu = self.emu
        loop = asyncio.get_running_loop()
        queue = self.queue
        while True:
            if not queue:
                if self.closing:
                    transport.close()
                    return
                self.ready.clear()
                await self.ready.wait()
                continue
            out: list[bytes] = []
            faults = emu.faults
            now = loop.time()
            wait: asyncio.Future[list[bytes | None]] | float | None = None
            while queue:
                answer = queue[0]
                slot = answer.slot
                if slot is not None and not slot[0].done():
                    wait = slot[0]
                    break
                if faults.delay_s and answer.arrival + faults.delay_s > now:
                    wait = answer.arrival + faults.delay_s - now
                    break
                queue.popleft()
                stored = slot[0].result()[slot[1]] if slot is not None else None
                frame = emu._answer_frame(answer, stored)
                if frame is None or not self._deliver(frame, out):
                    transport.write(b"".join(out))
                    transport.abort()
                    return
            if out:
                emu.stats.answers += len(out)
                transport.write(b"".join(out))
            if self.paused and len(queue) < _RESUME_AT:
                self.paused = False
                transport.resume_reading()
            if isinstance(wait, asyncio.Future):
                await wait
            elif wait is not None:
                await asyncio.sleep(wait)

    def _deliver(self, frame: bytes, out: list[bytes]) -> bool:
        """Apply the answer faults; False when the connection is to be cut (after what is in ``out``)."""
        emu = self.emu
        faults = emu.faults
        rng = emu.rng
        if faults.drop and rng.random() < faults.drop:
            emu.stats.dropped += 1
            return False
        if faults.truncate and rng.random() < faults.truncate:
            emu.stats.truncated += 1
            out.append(frame[: len(frame) // 2])
            return False
        if faults.corrupt_crc and rng.random() < faults.corrupt_crc:
            emu.stats.corrupted += 1
            crc_at = protocol.HEADER_SIZE + 2
            frame = frame[:crc_at] + bytes((frame[crc_at] ^ 0xFF,)) + frame[crc_at + 1 :]
        out.append(frame)
        return True


# --------------------------------------------------------------------------- the emulator


class OfdEmulator:
    """The OFD emulator (see the module rules). ``data_dir`` holds its LMDB store and operator secret."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        secret: bytes | None = None,
        ofd_inn: str = DEFAULT_OFD_INN,
        faults: Faults | None = None,
        clock: Callable[[], float] = time.time,
        utc_offset_s: int = _MSK,
        durable: bool = True,
    ) -> None:
        self.data_dir = os.fspath(data_dir)
        self._durable = durable
        self.store = OfdStore(self.data_dir, durable=durable)
        self.secret = self.store.secret(secret)
        self.ofd_inn = ofd_inn
        self.faults = faults or Faults()
        self.rng = random.Random(self.faults.seed)
        self.clock = clock
        self.utc_offset_s = utc_offset_s
        self.stats = EmulatorStats()
        self.address: tuple[str, int] | None = None
        self._signers: dict[str, OperatorSigner] = {}
        self._server: asyncio.Server | None = None
        self._admin: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._writer: _GroupWriter | None = None
        self._down_timer: asyncio.TimerHandle | None = None
        self._down = False
        self._stopped = False
        self._up_task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: LoopThread | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def is_down(self) -> bool:
        return self._down

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Listen on ``host:port`` (0: a free port); the address actually bound."""
        self._loop = asyncio.get_running_loop()
        if self._stopped:
            raise RuntimeError("a stopped emulator has closed its store: make a new one on the same directory")
        self._writer = _GroupWriter(self.store, self._loop)
        await self._listen(host, port)
        assert self.address is not None
        return self.address

    async def _listen(self, host: str, port: int) -> None:
        assert self._loop is not None
        self._server = await self._loop.create_server(lambda: _Connection(self), host, port)
        bound = self._server.sockets[0].getsockname()
        self.address = (str(bound[0]), int(bound[1]))

    async def stop(self) -> None:
        """Stop listening, drop every connection, finish the commit in progress and close the store (for good:
        a new emulator on the same directory serves what this one stored)."""
        if self._down_timer is not None:
            self._down_timer.cancel()
            self._down_timer = None
        await self._close_listener()
        if self._admin is not None:
            self._admin.close()
            await self._admin.wait_closed()
            self._admin = None
        if self._writer is not None:
            await self._writer.close()
            self._writer = None
        await asyncio.sleep(0)  # let connection_lost callbacks run
        self._stopped = True
        self.store.close()

    async def _close_listener(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for conn in list(self._connections):
            conn.abort()
        if server is not None:
            await server.wait_closed()

    async def down_for(self, seconds: float | None) -> None:
        """Close the port and every connection; listen again after ``seconds`` (None: until :meth:`up`)."""
        assert self._loop is not None and self.address is not None
        self._down = True
        if self._down_timer is not None:
            self._down_timer.cancel()
            self._down_timer = None
        await self._close_listener()
        if seconds is not None:
            self._down_timer = self._loop.call_later(seconds, self._come_back)

    def _come_back(self) -> None:
        assert self._loop is not None
        self._down_timer = None
        self._up_task = self._loop.create_task(self.up())  # kept: a task nobody holds may be collected

    async def up(self) -> None:
        """Listen again on the same address after :meth:`down_for`."""
        if self._down_timer is not None:
            self._down_timer.cancel()
            self._down_timer = None
        if self._server is None and self.address is not None:
            await self._listen(*self.address)
        self._down = False

    def set_faults(self, **changes: Any) -> Faults:
        """Change some faults (names of :class:`Faults`); a new ``seed`` restarts the generator."""
        self.faults = Faults.from_dict(changes, self.faults)
        if "seed" in changes:
            self.rng = random.Random(self.faults.seed)
        return self.faults

    def start_in_thread(self, host: str = "127.0.0.1", port: int = 0, name: str = "ofd-emulator") -> tuple[str, int]:
        """Serve from an event loop in a daemon thread (``fiscal-core serve``); the address bound."""
        self._thread = LoopThread(name)
        self._thread.start()
        try:
            return self._thread.run(self.start(host, port), 30.0)
        except BaseException:
            self._thread.stop()
            self._thread = None
            raise

    def stop_thread(self, timeout: float = 30.0) -> None:
        if self._thread is None:
            return
        try:
            self._thread.run(self.stop(), timeout)
        finally:
            self._thread.stop(timeout)
            self._thread = None

    def call(self, coro: Any, timeout: float = 30.0) -> Any:
        """Run an emulator coroutine (``down_for``, ``up``) from another thread when it runs in its own."""
        if self._thread is None:
            raise RuntimeError("the emulator does not run in its own thread")
        return self._thread.run(coro, timeout)

    # ------------------------------------------------------------------ messages

    def signer(self, fn_number: str) -> OperatorSigner:
        found = self._signers.get(fn_number)
        if found is None:
            if len(self._signers) > 100_000:
                self._signers.clear()
            found = self._signers[fn_number] = OperatorSigner.for_drive(self.secret, fn_number)
        return found

    def _confirmation(self, fn: str, fd: int, code: int, message_sign: bytes) -> bytes:
        when = int(self.clock()) + self.utc_offset_s
        head = protocol.confirmation_head(self.ofd_inn, fn, fd, when, code)
        return protocol.encode_confirmation(head, self.signer(fn).sign(head + message_sign))

    def _handle(self, msg: protocol.Message) -> _Answer:
        """Check one message and queue its answer (a refusal once logged, an acceptance once stored)."""
        assert self._loop is not None and self._writer is not None
        session, container = msg.session, msg.container
        if container is None:
            raise FrameError("flags", "a register's message must carry a container", 26)
        head = container.header
        fn, fd, sign = session.fn_number, head.fd_number, container.message_sign or b""
        # The answer uses the register's P version and CRC mode (none -> header: always guard the header).
        mode = session.crc_mode or protocol.CRC_HEADER
        answer = _Answer(self._loop.time(), fn, fd, sign, session.p_version, mode, head.fn_bcd)
        now = int(self.clock())
        try:
            tree = tlv.decode(container.document)
        except DecodeError as exc:
            return self._refuse(answer, 11, f"the document does not decode: {exc}", container.document, now)
        problem = format_check(session, container, tree)
        if problem is not None:
            return self._refuse(answer, 14, problem, container.document, now)
        faults = self.faults
        if faults.reject and self.rng.random() < faults.reject:
            self.stats.injected_rejects += 1
            return self._refuse(answer, 14, "rejected on purpose (fault injection)", container.document, now)
        answer.candidate = self._confirmation(fn, fd, 0, sign)
        answer.slot = self._writer.put(Incoming(fn, fd, container.document, sign, answer.candidate, now))
        return answer

    def _refuse(self, answer: _Answer, code: int, reason: str, document: bytes, now: int) -> _Answer:
        assert self._writer is not None
        self.stats.last_error = f"FD {answer.fd_number} of {answer.fn_number}: {reason}"
        if code == 11:
            self.stats.unrecognised += 1
        else:
            self.stats.rejected += 1
        answer.slot = self._writer.put(Refused(answer.fn_number, answer.fd_number, code, reason, document, now))
        answer.refusal = self._confirmation(answer.fn_number, answer.fd_number, code, answer.message_sign)
        return answer

    def _answer_frame(self, answer: _Answer, stored: bytes | None) -> bytes | None:
        """The answer's bytes once the store has spoken; None when nothing may be answered."""
        if answer.candidate is None:
            confirmation = answer.refusal  # a refusal goes out even if its log entry could not be written
        elif stored is None:
            self.stats.store_errors += 1
            return None
        elif stored == CONFLICT:
            self.stats.rejected += 1
            self.stats.last_error = f"FD {answer.fd_number} of {answer.fn_number} arrived again with other bytes"
            confirmation = self._confirmation(answer.fn_number, answer.fd_number, 14, answer.message_sign)
        else:
            if stored is answer.candidate:  # the store keeps the object it was given for a new document
                self.stats.accepted += 1
            else:
                self.stats.repeats += 1
            confirmation = stored
        faults = self.faults
        if faults.bad_sign and self.rng.random() < faults.bad_sign:
            self.stats.bad_signs += 1
            confirmation = confirmation[:-1] + bytes((confirmation[-1] ^ 0x01,))  # 1078 is the last value
        return protocol.confirmation_message(
            answer.fn_number,
            answer.fd_number,
            confirmation,
            p_ver=answer.p_version,
            crc_mode=answer.crc_mode,
            fn_bcd=answer.fn_bcd,
        )

    # ------------------------------------------------------------------ admin endpoint

    async def start_admin(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Listen for admin commands (JSON lines, see the module rules); the address bound."""
        assert self._loop is not None
        self._admin = await asyncio.start_server(self._admin_client, host, port)
        bound = self._admin.sockets[0].getsockname()
        return str(bound[0]), int(bound[1])

    async def admin(self, command: dict[str, Any]) -> dict[str, Any]:
        """Apply one admin command; the emulator's faults, state and statistics after it."""
        if "faults" in command:
            self.set_faults(**command["faults"])
        if "down" in command:
            await self.down_for(None if command["down"] is None else float(command["down"]))
        if command.get("up"):
            await self.up()
        return {"ok": True, "down": self._down, "faults": self.faults.to_dict(), "stats": self.stats.to_dict()}

    async def _admin_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                try:
                    command = json.loads(line)
                    if not isinstance(command, dict):
                        raise ValueError("expected a JSON object")
                    reply = await self.admin(command)
                except (ValueError, TypeError) as exc:
                    reply = {"ok": False, "error": str(exc)}
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


# --------------------------------------------------------------------------- the command line


def serve(
    host: str,
    port: int,
    data_dir: str,
    *,
    faults: Faults | None = None,
    admin_port: int | None = None,
    secret: bytes | None = None,
    ofd_inn: str = DEFAULT_OFD_INN,
    durable: bool = True,
    on_ready: Callable[[OfdEmulator, tuple[str, int], tuple[str, int] | None], None] | None = None,
) -> None:
    """``fiscal-core ofd-emulator``: serve until SIGINT or SIGTERM."""

    async def main() -> None:
        emulator = OfdEmulator(data_dir, secret=secret, ofd_inn=ofd_inn, faults=faults, durable=durable)
        address = await emulator.start(host, port)
        admin = await emulator.start_admin(host, admin_port) if admin_port is not None else None
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        from fiscal_core import gctune

        gctune.tune()  # a long-running server: the collector policy of fiscal-core serve's workers
        if on_ready is not None:
            on_ready(emulator, address, admin)
        try:
            await stop.wait()
        finally:
            await emulator.stop()

    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(main())
