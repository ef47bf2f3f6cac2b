"""The journal writer's group commit and its commit window (fiscal_core.api.journal), on a real LMDB intake."""

from __future__ import annotations

import asyncio
import pathlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from test_intake import make_fleet_dir, new, wait_for

from fiscal_core import samples
from fiscal_core.api.intake import Intake
from fiscal_core.api.journal import JournalWriter
from fiscal_core.api.pipeline import Pipeline

DOC = samples.receipt(2, 1)


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    lp = asyncio.new_event_loop()
    t = threading.Thread(target=lp.run_forever, daemon=True)
    t.start()
    yield lp
    lp.call_soon_threadsafe(lp.stop)
    t.join(10)
    lp.close()


def writer(tmp_path: pathlib.Path, loop: asyncio.AbstractEventLoop, **kw: Any) -> tuple[JournalWriter, list[Any]]:
    answers: list[Any] = []
    w = JournalWriter(Intake(tmp_path / "intake"), loop, **kw)
    w.start()
    return w, answers


def submit(w: JournalWriter, answers: list[Any], ext: str) -> None:
    w.submit([new("g", ext, DOC)], [DOC], answers.append)


def test_a_lone_client_never_waits_for_a_window(tmp_path: pathlib.Path, loop: asyncio.AbstractEventLoop) -> None:
    w, answers = writer(tmp_path, loop, window_s=5.0, window_siblings=4)
    try:
        for k in range(3):
            submit(w, answers, f"lone-{k}")
            wait_for(lambda k=k: len(answers) == k + 1, timeout=4.0)  # well inside the 5 s window
        assert w.commits == 3
    finally:
        w.stop()
        w.intake.close()


def test_a_busy_writer_gathers_a_window(tmp_path: pathlib.Path, loop: asyncio.AbstractEventLoop) -> None:
    w, answers = writer(tmp_path, loop, window_s=1.0, window_siblings=4)
    try:
        w.submit([new("g", f"burst-{k}", DOC) for k in range(8)], [DOC] * 8, answers.append)
        wait_for(lambda: len(answers) == 1)
        assert w.commits == 1
        submit(w, answers, "late-1")
        time.sleep(0.05)  # inside the window that the busy commit opened
        submit(w, answers, "late-2")
        wait_for(lambda: len(answers) == 3)
        assert w.commits == 2  # both late requests in one commit
        assert [len(a) for a in answers] == [8, 1, 1] and not any(a[0].duplicate for a in answers)
        # That commit carried 2 < 4 entries: the next request is committed at once, no window.
        submit(w, answers, "alone")
        wait_for(lambda: len(answers) == 4, timeout=0.9)
        assert w.commits == 3
    finally:
        w.stop()
        w.intake.close()


def test_stop_during_a_window_journals_what_was_queued(tmp_path: pathlib.Path, loop: asyncio.AbstractEventLoop) -> None:
    w, answers = writer(tmp_path, loop, window_s=10.0, window_siblings=1)
    submit(w, answers, "first")
    wait_for(lambda: len(answers) == 1)
    submit(w, answers, "in-window")
    w.stop(timeout=5.0)
    assert not w._thread.is_alive()
    wait_for(lambda: len(answers) == 2)
    assert w.intake.find("g", "in-window") is not None
    w.intake.close()


# --------------------------------------------------------------------------- hand-over to the fiscal pipeline


class _SlowToReturn(Intake):
    """An intake whose commit returns 20 ms after it landed: the pipeline's scan (every millisecond) sees the new
    entries before the writer's thread runs again, as it does when three threads share a loaded core."""

    def commit(self, batch: Any, done: Any) -> Any:
        got = super().commit(batch, done)
        time.sleep(0.02)
        return got


class _Refusing(Intake):
    def commit(self, batch: Any, done: Any) -> Any:
        raise OSError(28, "No space left on device")


def test_receipts_handed_over_are_taken_from_memory_and_never_left_behind(
    tmp_path: pathlib.Path, loop: asyncio.AbstractEventLoop
) -> None:
    make_fleet_dir(tmp_path)
    intake = _SlowToReturn(tmp_path / "intake")
    finished: list[Any] = []
    p = Pipeline(str(tmp_path), intake, poll_s=0.001, on_finished=finished.extend)
    w = JournalWriter(intake, loop, p)
    p.writer = w  # outcomes ride in the writer's commits, as in the service
    docs = samples.receipts(30, 2, seed=9)
    answers: list[Any] = []
    p.start()
    w.start()
    try:
        for k in range(10):
            part = docs[3 * k : 3 * k + 3]
            w.submit([new("shop", f"r{k}-{j}", d) for j, d in enumerate(part)], part, answers.append)
            wait_for(lambda k=k: len(answers) == k + 1)
        w.submit([new("shop", "r0-0", docs[0])], [docs[0]], answers.append)  # a repeat: handed over, not journaled
        wait_for(lambda: len(answers) == 11 and len(finished) == 30)
    finally:
        w.stop()
        p.stop()
        intake.close()
    assert answers[-1][0].duplicate and not any(a.duplicate for got in answers[:-1] for a in got)
    assert p.read_back == 0  # the scan met every receipt in memory: none was decoded from the journal
    assert p._stash == {}  # and none stayed there (each would be held until the process ends)
    assert sorted(o.status for _, _, o in finished) == ["done"] * 30


def test_a_failed_commit_leaves_nothing_handed_over(tmp_path: pathlib.Path, loop: asyncio.AbstractEventLoop) -> None:
    make_fleet_dir(tmp_path)
    intake = _Refusing(tmp_path / "intake")
    p = Pipeline(str(tmp_path), intake)
    w = JournalWriter(intake, loop, p)
    answers: list[Any] = []
    w.start()
    try:
        w.submit([new("shop", "x", DOC)], [DOC], answers.append)
        wait_for(lambda: len(answers) == 1)
    finally:
        w.stop()
        p.stop()
        intake.close()
    assert isinstance(answers[0], OSError)
    assert p._stash == {}
