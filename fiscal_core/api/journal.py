"""The journal writer of a worker: group commit of accepted requests across concurrent connections.

Rules
- Handlers on the event loop never block on LMDB: they :meth:`JournalWriter.submit` a request with a callback
  and return an awaitable; one writer thread takes everything queued, journals it in ONE durable transaction
  (:meth:`Intake.accept`), then answers the whole batch with a single ``call_soon_threadsafe``.
- The answer is given only after the commit: nothing acknowledged was not journaled. A failed commit (a full
  disk) answers every request of the batch with the error; nothing of it was stored.
- Receipts go to the worker's fiscal pipeline in memory: handed over just BEFORE the commit (the pipeline's scan
  may see them the moment the commit lands), settled after it: what was journaled is taken, what was not
  (duplicates, a failed commit) is forgotten (``api.pipeline``'s rules). The journal is still the authority (the
  pipeline also scans it).
- The fiscal pipeline's outcomes ride in the same commits (:meth:`JournalWriter.submit_outcomes`): one fsync
  for both, and the two never wait for each other's LMDB write lock.
- Batches are capped (``max_batch``) so one huge bulk request does not hold the writer for long; a bulk
  request is submitted as one unit and answered as one.
- Commit window (as a database's commit_delay/commit_siblings), off by default: with ``window_s`` > 0, when the
  last commit carried at least ``window_siblings`` entries the writer waits up to ``window_s`` for more before it
  commits (fewer, larger commits). It once gave +15–25 % single-POST req/s; since requests are validated per loop
  iteration and answered through ``http.Later`` they arrive in bursts anyway, and a 3 ms window cost ~9 % of the
  peak req/s in paired runs, with the same p99 at 70 % load (bench/RESULTS.md, session 7). A lone client never
  waits: its commits carry one entry.
- With ``stages`` (the service's :class:`~fiscal_core.api.metrics.StageStats`), every request is timed through
  the writer: ``queued`` (submitted → its commit starts) and ``commit`` here, ``answer`` (the commit's end → the
  loop runs its answer) in :func:`_answer`. A request is observed once whatever its size; a bulk unit counts its
  entries.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from fiscal_core.api.intake import Accepted, Entry, Intake, NewEntry, Outcome
from fiscal_core.api.metrics import StageStats
from fiscal_core.ffd.receipt import Receipt
from fiscal_core.registers.fleet import Prebuilt

__all__ = ["JournalWriter"]

log = logging.getLogger("fiscal_core.journal")

#: One unit of work: the entries with their documents, where the answer goes (called on the loop), and when it
#: was submitted (``time.perf_counter``).
Unit = tuple[
    Sequence[NewEntry], Sequence[Receipt | Prebuilt | None], Callable[[list[Accepted] | BaseException], None], float
]
Done = tuple[bytes, Entry, Outcome]


class Receiver(Protocol):
    """Where journaled receipts go in memory: :class:`~fiscal_core.api.pipeline.Pipeline`."""

    def handoff(self, items: list[tuple[bytes, Any, Any]]) -> None: ...

    def settle(self, journaled: list[str], dropped: list[bytes]) -> None: ...

    def owns_any(self) -> bool: ...


class JournalWriter:
    """One thread per worker; see the module rules."""

    def __init__(
        self,
        intake: Intake,
        loop: asyncio.AbstractEventLoop,
        pipeline: Receiver | None = None,
        *,
        max_batch: int = 20_000,
        window_s: float = 0.0,
        window_siblings: int = 4,
        stages: StageStats | None = None,
    ) -> None:
        self.intake = intake
        self.loop = loop
        self.pipeline = pipeline
        self.max_batch = max_batch
        self.window_s = window_s
        self.window_siblings = window_siblings
        self.stages = stages
        self._last_batch = 0  #: entries (requests and outcomes) of the last commit
        # A C-level queue: put() from the event loop takes no Python lock (a contended lock would hand the GIL
        # to another thread and make the loop wait for it back).
        self._queue: queue.SimpleQueue[Unit | _Outcomes | None] = queue.SimpleQueue()
        self._retry: list[_Outcomes] = []
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="journal-writer", daemon=True)
        self.commits = 0
        self.journaled = 0
        self.duplicates = 0
        self.commit_seconds = 0.0

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Journal what is queued, then stop (graceful shutdown drains the queue)."""
        self._queue.put(None)
        self._thread.join(timeout)

    def submit(
        self,
        entries: Sequence[NewEntry],
        documents: Sequence[Receipt | Prebuilt | None],
        answer: Callable[[list[Accepted] | BaseException], None],
    ) -> None:
        self._queue.put((entries, documents, answer, time.perf_counter()))

    def submit_outcomes(self, done: list[Done], written: Callable[[list[Done]], None]) -> None:
        """Outcomes from the fiscal pipeline: written in the next group commit, then ``written(done)`` is called
        (in this writer's thread). A failed commit keeps them for the next one: their documents are on the
        drives and linked, so they are never lost, only late."""
        self._queue.put(_Outcomes(done, written))

    def backlog(self) -> int:
        return self._queue.qsize()

    def _run(self) -> None:
        q = self._queue
        carry: Unit | _Outcomes | None = None
        while True:
            item = carry if carry is not None else q.get()
            carry = None
            if item is None:
                return
            units: list[Unit] = []
            outs: list[_Outcomes] = []
            n = 0
            stop = False
            waited = False
            while item is not None:  # everything queued meanwhile goes into this commit, up to max_batch
                if isinstance(item, _Outcomes):
                    outs.append(item)
                    n += len(item.done)
                else:
                    units.append(item)
                    n += len(item[0])
                try:
                    item = q.get_nowait()
                except queue.Empty:
                    if waited or self._last_batch < self.window_siblings or self.window_s <= 0:
                        break
                    waited = True  # busy: give the clients in flight one window to join this commit
                    try:
                        item = q.get(timeout=self.window_s)
                    except queue.Empty:
                        break
                if item is None:
                    stop = True
                    break
                size = len(item.done) if isinstance(item, _Outcomes) else len(item[0])
                if n + size > self.max_batch:
                    carry = item
                    break
            self._last_batch = n
            self._commit(units, outs)
            if stop:
                self._stopping = True
                while True:  # a graceful stop journals what was queued before it
                    try:
                        rest = q.get_nowait()
                    except queue.Empty:
                        break
                    if isinstance(rest, _Outcomes):
                        self._commit([], [rest])
                    elif rest is not None:
                        self._commit([rest], [])
                if self._retry:
                    self._commit([], [])
                return

    def _commit(self, units: list[Unit], outs: list[_Outcomes]) -> None:
        flat = [e for unit in units for e in unit[0]]
        pending_outs = self._retry + outs
        self._retry = []
        done = [d for o in pending_outs for d in o.done]
        pipeline = self.pipeline
        if pipeline is not None and flat and pipeline.owns_any():
            pipeline.handoff([(new.uuid, new.entry, doc) for u in units for new, doc in zip(u[0], u[1], strict=True)])
        t0 = time.perf_counter()
        try:
            answers: list[Accepted] | BaseException
            answers, _ = self.intake.commit(flat, done)
        except BaseException as exc:
            log.error("journal commit of %d entries and %d outcomes failed: %s", len(flat), len(done), exc)
            answers = exc
            self._retry = pending_outs  # outcomes wait for the next commit (a full disk passes)
        t1 = time.perf_counter()
        self.commit_seconds += t1 - t0
        if units:
            stages = self.stages
            if stages is not None:
                for unit in units:
                    stages.observe("queued", t0 - unit[3], len(unit[0]))
                stages.observe("commit", t1 - t0, len(flat))
            self.loop.call_soon_threadsafe(_answer, units, answers, t1, stages)
        if isinstance(answers, BaseException):
            if pipeline is not None and flat:
                pipeline.settle([], [new.uuid for new in flat])
            return
        self.commits += 1
        for o in pending_outs:
            try:
                o.written(o.done)
            except Exception:
                log.exception("reporting written outcomes failed")
        if not flat:
            return
        dropped: list[bytes] = []
        groups: set[str] = set()
        for new, a in zip(flat, answers, strict=True):
            if a.duplicate:
                dropped.append(new.uuid)
            else:
                groups.add(new.entry.group)
        self.journaled += len(flat) - len(dropped)
        self.duplicates += len(dropped)
        if pipeline is not None:
            pipeline.settle(list(groups), dropped)


class _Outcomes:
    __slots__ = ("done", "written")

    def __init__(self, done: list[Done], written: Callable[[list[Done]], None]) -> None:
        self.done = done
        self.written = written


def _answer(
    units: list[Unit], answers: list[Accepted] | BaseException, committed: float = 0.0, stages: StageStats | None = None
) -> None:
    if stages is not None:
        stages.observe("answer", time.perf_counter() - committed, sum(len(unit[0]) for unit in units))
    k = 0
    for entries, _, reply, _ in units:
        n = len(entries)
        try:
            reply(answers if isinstance(answers, BaseException) else answers[k : k + n])
        except Exception:  # one broken reply must not keep the others waiting
            log.exception("answering a journaled request failed")
        k += n
