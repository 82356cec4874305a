"""calibrate's latency harness: both sides read the same pages in the same
order, taking turns, and every page read is checked."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest

from conftest import sample_pages
from swaplab import PAGE_SIZE
from swaplab.bench.calibrate import interleaved_latencies, one_cpu

PAGES = sample_pages(40, seed=3)


def _side(store: np.ndarray, log: list, name: str):
    page = np.zeros(PAGE_SIZE, dtype=np.uint8)

    def read(offset: int) -> None:
        log.append((name, offset // PAGE_SIZE))
        page[:] = store[offset // PAGE_SIZE]

    return read, page


def test_sides_take_turns_over_the_same_pages_and_each_read_is_timed():
    log: list = []
    order = np.random.default_rng(2).permutation(len(PAGES))[:25]
    lat = interleaved_latencies([_side(PAGES, log, "a"), _side(PAGES, log, "b")], PAGES,
                                order, turn=10)
    assert [len(x) for x in lat] == [25, 25] and all((x > 0).all() for x in lat)
    # turns of 10, 10, 5 pages; a first, then b first, then a first
    want = []
    for t, lo in enumerate(range(0, 25, 10)):
        chunk = order[lo : lo + 10].tolist()
        first, second = ("a", "b") if t % 2 == 0 else ("b", "a")
        want += [(first, i) for i in chunk] + [(second, i) for i in chunk]
    assert log == want


def test_a_page_read_back_wrong_is_eio_naming_the_side_and_page():
    bad = PAGES.copy()
    bad[7, 100] ^= 1
    order = np.arange(len(PAGES))
    with pytest.raises(OSError, match="swaplab zram: page 7") as e:
        interleaved_latencies([_side(PAGES, [], "k"), _side(bad, [], "s")], PAGES, order)
    assert e.value.errno == errno.EIO


def test_one_cpu_pins_and_restores_the_affinity():
    before = os.sched_getaffinity(0)
    with one_cpu() as cpu:
        assert os.sched_getaffinity(0) == {cpu} and cpu in before
    assert os.sched_getaffinity(0) == before
