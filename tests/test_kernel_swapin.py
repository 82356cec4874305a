"""The host kernel's row of the bench: its first-touch run, its timing loop, its cleanup.

The runs need root and the host's zram (/sys/class/zram-control) and skip
cleanly without; each checks that no swap area or zram device is left.
"""

from __future__ import annotations

import contextlib
import os

import numpy as np
import pytest

from conftest import sample_pages
from swaplab import PAGE_SIZE, _native
from swaplab.kernel.swapin import first_touch, swap_areas
from swaplab.kernel.zram import unavailable

needs_host_zram = pytest.mark.skipif(unavailable() is not None,
                                     reason=str(unavailable()))


@contextlib.contextmanager
def no_leftovers():
    swaps, devs = set(swap_areas()), set(os.listdir("/sys/block"))
    cpus = os.sched_getaffinity(0)
    yield
    left = (set(swap_areas()) - swaps) | {d for d in set(os.listdir("/sys/block")) - devs
                                          if d.startswith("zram")}
    assert not left, f"left behind: {left}"
    assert os.sched_getaffinity(0) == cpus  # the run's pinning to one CPU is undone


def test_timing_loop_touches_each_page_in_order():
    pages = np.zeros((16, PAGE_SIZE), dtype=np.uint8)
    order = np.random.default_rng(0).permutation(16).astype(np.int64)
    lat = np.full(16, -1, dtype=np.int64)
    _native.first_touch(pages, order, lat)
    assert (lat >= 0).all()
    with pytest.raises(IndexError, match="row 16"):
        _native.first_touch(pages, np.array([16], dtype=np.int64), lat)
    with pytest.raises(ValueError, match="out holds 2 times"):
        _native.first_touch(pages, order, lat[:2])
    with pytest.raises(ValueError, match="int64"):
        _native.first_touch(pages, order, lat.astype(np.int32))


@needs_host_zram
def test_first_touch_on_the_host_kernel():
    pages = sample_pages(1024)
    seen = []
    pinned = []

    def stage(s: str) -> None:  # the run fills, pages out and touches on one CPU
        seen.append(s)
        pinned.append(len(os.sched_getaffinity(0)))

    with no_leftovers():
        run = first_touch(pages, "lz4", seed=3, stage=stage)
    assert pinned == [1, 1, 1, 1]
    assert seen == ["swapon", "filled", "paged out", "touched"]
    assert run.verified == len(pages) and len(run.latencies_ns) == len(pages)
    assert (run.latencies_ns > 0).all()
    # every page was on the device (beside the swap header) when the touches
    # began, and came back from it. The device is the host's highest-priority
    # swap while it exists, so host reclaim may put a few pages of other
    # processes there too (a full suite run once added 2)
    assert (len(pages) + 1) * PAGE_SIZE <= run.mm_stat[0] <= (len(pages) + 65) * PAGE_SIZE
    assert run.vmstat["pswpin"] >= len(pages) - run.vmstat.get("swap_ra", 0)


@needs_host_zram
@pytest.mark.parametrize("where", ["swapon", "filled", "paged out", "touched"])
def test_interrupted_run_leaves_nothing(where):
    def stage(s: str) -> None:
        if s == where:
            raise KeyboardInterrupt

    with no_leftovers(), pytest.raises(KeyboardInterrupt):
        first_touch(sample_pages(256), "lz4", seed=1, stage=stage)
