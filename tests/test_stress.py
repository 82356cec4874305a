"""Concurrency stress on one zram device (marked slow; also run in CI)."""

from __future__ import annotations

import pytest

from swaplab.testing.stress import StressFailure, run_zram_stress


@pytest.mark.slow
def test_four_threads_for_thirty_seconds_lose_nothing():
    rep = run_zram_stress(threads=4, seconds=30, seed=1)
    assert rep.lost == 0 and rep.final_verified > 0
    assert rep.reads_verified > 1000 and rep.pages_freed > 0
    assert all(n > 0 for n in rep.maintenance.values())
    _bd_count, bd_reads, bd_writes = (int(x) for x in rep.bd_stat.split())
    assert bd_writes > 0 and bd_reads > 0  # writeback really raced with swap-in


def test_a_stall_is_reported_with_the_threads_stacks(monkeypatch):
    """The watchdog: a worker that stops making progress fails the run, naming it."""
    import swaplab.testing.stress as stress

    real = stress._content

    def stuck(tid, vpn, version, base):
        if tid == 1:
            import time

            time.sleep(3600)
        return real(tid, vpn, version, base)

    monkeypatch.setattr(stress, "_content", stuck)
    with pytest.raises(StressFailure, match=r"(?s)worker1 made no progress.*--- thread worker1"):
        run_zram_stress(threads=2, seconds=30, stall_seconds=2)
