"""The journal writer of a worker: group commit of accepted requests across concurrent connections.

Rules
- Handlers on the event loop never block on LMDB: they :meth:`JournalWriter.submit` a request with a callback
  and return an awaitable; one writer thread takes everything queued, journals it in ONE durable transaction
  (:meth:`Intake.accept`), then answers the whole batch with a single ``call_soon_threadsafe``.
- The answer is given only after the commit: nothing acknowledged was not journaled. A failed commit (a full
  disk) answers every request of the batch with the error; nothing of it was stored.
- After the answer, receipts that are new go to the worker's fiscal pipeline in memory (``handoff``); the
  journal is still the authority (the pipeline also scans it).
- Batches are capped (``max_batch``) so one huge bulk request does not hold the writer for long; a bulk
  request is submitted as one unit and answered as one.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from fiscal_core.api.intake import Accepted, Intake, NewEntry
from fiscal_core.ffd.receipt import Receipt

__all__ = ["JournalWriter"]

log = logging.getLogger("fiscal_core.journal")

#: One unit of work: the entries with their documents, and where the answer goes (called on the loop).
Unit = tuple[Sequence[NewEntry], Sequence[Receipt], Callable[[list[Accepted] | BaseException], None]]


class JournalWriter:
    """One thread per worker; see the module rules."""

    def __init__(
        self,
        intake: Intake,
        loop: asyncio.AbstractEventLoop,
        handoff: Callable[[list[tuple[bytes, Any, Receipt]]], None] | None = None,
        *,
        max_batch: int = 20_000,
    ) -> None:
        self.intake = intake
        self.loop = loop
        self.handoff = handoff
        self.max_batch = max_batch
        # A C-level queue: put() from the event loop takes no Python lock (a contended lock would hand the GIL
        # to another thread and make the loop wait for it back).
        self._queue: queue.SimpleQueue[Unit | None] = queue.SimpleQueue()
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
        documents: Sequence[Receipt],
        answer: Callable[[list[Accepted] | BaseException], None],
    ) -> None:
        self._queue.put((entries, documents, answer))

    def backlog(self) -> int:
        return self._queue.qsize()

    def _run(self) -> None:
        q = self._queue
        carry: Unit | None = None
        while True:
            unit = carry if carry is not None else q.get()
            carry = None
            if unit is None:
                return
            units = [unit]
            n = len(unit[0])
            stop = False
            while True:  # everything queued meanwhile goes into this commit, up to max_batch entries
                try:
                    more = q.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                if n + len(more[0]) > self.max_batch:
                    carry = more
                    break
                units.append(more)
                n += len(more[0])
            self._commit(units)
            if stop:
                self._stopping = True
                while True:  # a graceful stop journals what was queued before it
                    try:
                        rest = q.get_nowait()
                    except queue.Empty:
                        return
                    if rest is not None:
                        self._commit([rest])

    def _commit(self, units: list[Unit]) -> None:
        flat = [e for unit in units for e in unit[0]]
        t0 = time.perf_counter()
        try:
            answers: list[Accepted] | BaseException = self.intake.accept(flat)
        except BaseException as exc:
            log.error("journal commit of %d entries failed: %s", len(flat), exc)
            answers = exc
        self.commit_seconds += time.perf_counter() - t0
        self.loop.call_soon_threadsafe(_answer, units, answers)
        if isinstance(answers, BaseException):
            return
        self.commits += 1
        fresh: list[tuple[bytes, Any, Receipt]] = []
        k = 0
        for entries, docs, _ in units:
            for new, doc in zip(entries, docs, strict=True):
                a = answers[k]
                k += 1
                if not a.duplicate:
                    fresh.append((a.uuid, new.entry, doc))
        self.journaled += len(fresh)
        self.duplicates += len(flat) - len(fresh)
        if fresh and self.handoff is not None:
            self.handoff(fresh)


def _answer(units: list[Unit], answers: list[Accepted] | BaseException) -> None:
    k = 0
    for entries, _, reply in units:
        n = len(entries)
        try:
            reply(answers if isinstance(answers, BaseException) else answers[k : k + n])
        except Exception:  # one broken reply must not keep the others waiting
            log.exception("answering a journaled request failed")
        k += n
