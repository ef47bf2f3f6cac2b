"""The journal writer's group commit and its commit window (fiscal_core.api.journal), on a real LMDB intake."""

from __future__ import annotations

import asyncio
import pathlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from test_intake import new, wait_for

from fiscal_core import samples
from fiscal_core.api.intake import Intake
from fiscal_core.api.journal import JournalWriter

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
