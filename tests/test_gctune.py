"""The collector policy of long-running processes (fiscal_core.gctune)."""

from __future__ import annotations

import gc

from fiscal_core import gctune


def test_tune_freezes_what_exists_and_raises_the_thresholds() -> None:
    before = gc.get_threshold()
    marker = [object()]  # a tracked container alive at tune() time
    try:
        gctune.tune()
        assert gc.get_threshold() == gctune.THRESHOLDS
        assert gc.get_freeze_count() > 0
        # Frozen objects are out of every generation the collector walks.
        assert not any(o is marker for o in gc.get_objects())
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
    assert any(o is marker for o in gc.get_objects())
