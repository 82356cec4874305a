"""The arena prefaulter: it faults memory in ahead of use and never changes a byte."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from swaplab import prefault
from swaplab.prefault import Prefaulter, arena_address
from swaplab.util import anon_arena

MIB = 1 << 20


def _resident(arena, start: int, length: int) -> int:
    """Pages of ``arena[start:start+length]`` in memory (mincore(2))."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mincore.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p)
    addr = arena_address(arena) + start
    vec = ctypes.create_string_buffer(length // 4096)
    assert libc.mincore(addr, length, vec) == 0, ctypes.get_errno()
    return sum(b & 1 for b in vec.raw)


@pytest.fixture
def arena():
    m = anon_arena(64 * MIB)
    yield m
    Prefaulter.drain()


def test_the_window_ahead_of_the_owner_is_faulted_in(arena) -> None:
    if not prefault._start() or not prefault._enabled:
        pytest.skip("no MADV_POPULATE_WRITE here")
    p = Prefaulter(arena, window=16 * MIB, chunk=2 * MIB)
    assert _resident(arena, 0, 64 * MIB) == 0
    p.advance(16 * MIB)
    Prefaulter.drain()
    assert p.queued == 32 * MIB  # as much again as used, capped at the window
    # the 16 MiB beyond the owner's mark are in memory now, and (give or take
    # the huge page a fault at either end may map) nothing else
    assert _resident(arena, 16 * MIB, 16 * MIB) == 16 * MIB // 4096
    assert _resident(arena, 0, 14 * MIB) == _resident(arena, 34 * MIB, 30 * MIB) == 0
    assert prefault._enabled


def test_a_small_owner_gets_a_small_window(arena) -> None:
    p = Prefaulter(arena, window=16 * MIB, chunk=2 * MIB)
    p.advance(4096)
    assert p.queued <= 2 * MIB + 4096
    assert 4096 <= p.due < p.queued  # the owner calls again past ``due``
    p.advance(4096)  # nothing more is due
    assert p.queued <= 2 * MIB + 4096
    p.advance(60 * MIB)  # near the end: never past it
    Prefaulter.drain()
    assert p.queued == 64 * MIB


def test_populating_changes_no_byte_even_racing_the_owner(arena) -> None:
    """The owner writes the very pages the helper is populating (it overtakes
    the helper): every byte the owner wrote is still there."""
    a = np.frombuffer(arena, dtype=np.uint8)
    data = np.random.default_rng(7).integers(0, 256, size=32 * MIB, dtype=np.uint8)
    p = Prefaulter(arena, window=64 * MIB, chunk=256 * 1024)
    p.advance(32 * MIB)  # 128 jobs for [32 MiB, 64 MiB), running from now on
    assert p.queued == 64 * MIB
    for off in range(0, 32 * MIB, 64 * 1024):
        a[32 * MIB + off : 32 * MIB + off + 64 * 1024] = data[off : off + 64 * 1024]
    Prefaulter.drain()
    assert np.array_equal(a[32 * MIB :], data)
    assert not a[: 32 * MIB].any()  # never written: reads as zeroes


def test_a_pool_prefaults_as_it_grows() -> None:
    from swaplab.mm.zsmalloc import ZsPool

    pool = ZsPool("p", 8192)
    for _ in range(600):  # 600 objects of a 4-page class: some MiB of pool
        assert pool.malloc(3000) > 0
    if not prefault._enabled:
        pytest.skip("no MADV_POPULATE_WRITE here")
    used = pool._next_page * 4096
    pf = pool._prefault
    # at least half of the owner's window stays queued ahead of it
    assert pf.queued - used >= pf.chunk // 2
    assert used <= pf.due < pf.queued
