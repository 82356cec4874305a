"""zsmalloc: classes, objects behind handles, fullness, limits, compaction."""

from __future__ import annotations

import errno

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import run_in_threads, sample_pages
from swaplab.drivers.zram.slots import ZRAM_SAME
from swaplab.mm.zsmalloc import (
    ZS_INUSE_RATIO_0,
    ZS_INUSE_RATIO_100,
    ZS_SIZE_CLASSES,
    ClassTable,
    ZsPool,
    fullness_group,
    zspage_chain_size,
)


@pytest.mark.parametrize(("chain", "huge", "unique"), [(4, 3257, 69), (8, 3625, 119),
                                                        (16, 3833, 192)])
def test_class_table_matches_the_kernel(chain, huge, unique):
    t = ClassTable.build(chain)
    assert ZS_SIZE_CLASSES == 255
    assert t.huge_class_size == huge and t.unique() == unique
    assert t.size[0] == 32 and t.size[254] == 4096 and t.size[1] == 48


def test_chain_sizes():
    assert zspage_chain_size(4096, 8) == 1 and zspage_chain_size(32, 8) == 1
    t = ClassTable.build(8)
    i = t.class_index(3632)
    assert (t.size[i], t.pages[i], t.objs[i]) == (3632, 8, 9)
    with pytest.raises(ValueError):
        ClassTable.build(3)


def test_huge_threshold_in_the_pool():
    pool = ZsPool("zram0", 1024)
    big = pool.lookup_class_index(3625)
    small = pool.lookup_class_index(3624)
    assert pool.classes.size[big] == 4096 and pool.classes.pages[big] == 1
    assert pool.classes.size[small] == 3632


def test_fullness_groups():
    assert fullness_group(0, 9) == ZS_INUSE_RATIO_0
    assert fullness_group(9, 9) == ZS_INUSE_RATIO_100
    assert fullness_group(1, 9) == 2 and fullness_group(8, 9) == 9


def test_roundtrip_and_accounting():
    pool = ZsPool("p", 4096)
    rng = np.random.default_rng(0)
    objs = {}
    for n in (1, 31, 100, 1000, 2000, 3624, 4000, 4096):
        data = rng.integers(0, 256, n, dtype=np.uint8)
        h = pool.malloc(n)
        assert h > 0
        pool.write(h, data)
        objs[h] = data
    for h, data in objs.items():
        assert np.array_equal(pool.read(h, len(data), np.empty(4096, np.uint8)), data)
    assert pool.total_pages > 0
    for h in objs:
        pool.free(h)
    assert pool.total_pages == 0 and pool.stats()["objects"] == 0


def test_objects_straddling_pages_read_through_bounce():
    pool = ZsPool("p", 64)
    size = 3000  # class 3008: zspages of several pages, objects cross page borders
    datas, hs = [], []
    for k in range(20):
        d = np.full(size, k, dtype=np.uint8)
        d[::7] = 255 - k
        h = pool.malloc(size)
        pool.write(h, d)
        datas.append(d)
        hs.append(h)
    bounce = np.empty(4096, dtype=np.uint8)
    csize = int(pool.classes.size[pool.lookup_class_index(size)])
    straddled = 0
    for h, d in zip(hs, datas, strict=True):
        _, idx = pool.location(h)
        start = idx * csize + 8  # the payload, after the handle header
        straddled += start // 4096 != (start + size - 1) // 4096
        assert np.array_equal(pool.read(h, size, bounce), d)
    assert straddled > 0


def test_a_pool_for_16_gib_reserves_without_touching():
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    pool = ZsPool("zram0", (16 << 30) // 4096 * 2)
    h = pool.malloc(100)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 64 * 1024  # far below the 32 GiB reserved
    assert h > 0 and pool.total_pages == 7


def test_limits():
    pool = ZsPool("p", 2)
    assert pool.malloc(0) == -errno.EINVAL
    assert pool.malloc(4097) == -errno.ENOSPC
    assert pool.malloc(4096) > 0
    assert pool.malloc(4096) > 0
    assert pool.total_pages == 2
    assert pool.malloc(4096) == -errno.ENOMEM


def test_fullest_zspage_is_used_first_and_empty_ones_go():
    pool = ZsPool("p", 1024)
    cls = pool.lookup_class_index(100)
    objs, zpages = int(pool.classes.objs[cls]), int(pool.classes.pages[cls])
    assert (int(pool.classes.size[cls]), zpages, objs) == (112, 7, 256)
    hs = [pool.malloc(100) for _ in range(2 * objs + 10)]
    assert pool.total_pages == 3 * zpages
    for h in hs[:objs]:  # the whole first zspage
        pool.free(h)
    assert pool.total_pages == 2 * zpages  # it went at once
    for h in hs[objs : objs + 20]:
        pool.free(h)
    h = pool.malloc(100)
    z, _ = pool.location(h)
    cls, inuse = pool.zspage_info(z)
    # it went to a zspage that was already the fullest non-full one
    assert fullness_group(inuse, int(pool.classes.objs[cls])) >= 9


def test_compaction_frees_pages_and_keeps_handles():
    pool = ZsPool("p", 4096)
    rng = np.random.default_rng(1)
    data = {}
    for _ in range(600):
        h = pool.malloc(700)
        d = rng.integers(0, 256, 700, dtype=np.uint8)
        pool.write(h, d)
        data[h] = d
    for h in list(data)[::3] + list(data)[1::3]:
        pool.free(h)
        del data[h]
    before = pool.total_pages
    cls = pool.lookup_class_index(700)
    assert pool.can_compact(cls) > 0
    freed = pool.compact()
    assert freed > 0 and pool.total_pages == before - freed
    assert pool.pages_compacted == freed and pool.can_compact(cls) == 0
    for h, d in data.items():
        assert np.array_equal(pool.read(h, 700, np.empty(4096, np.uint8)), d)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(1, 4096), st.integers(0, 255)),
                min_size=1, max_size=120))
def test_random_alloc_free_matches_a_model(ops):
    pool = ZsPool("p", 2048)
    live: dict[int, tuple[int, int]] = {}
    for alloc, size, fill in ops:
        if alloc or not live:
            h = pool.malloc(size)
            assert h > 0 and h not in live
            pool.write(h, np.full(size, fill, dtype=np.uint8))
            live[h] = (size, fill)
        else:
            h = next(iter(live))
            pool.free(h)
            del live[h]
    pool.compact()
    for h, (size, fill) in live.items():
        assert (pool.read(h, size, np.empty(4096, np.uint8)) == fill).all()
        z, idx = pool.location(h)
        assert pool.handle_of(z, idx) == h
    used = sum(int(pool.classes.pages[pool.zspage_info(z)[0]]) for z in pool.zspages())
    assert used == pool.total_pages


def test_threads_share_one_pool(system):
    """Two threads rewrite their halves of one zram device in long compiled
    batches (zs_malloc and zs_free of the old objects in parallel, in classes
    both use) while a third compacts the pool: every slot reads back its last
    page, no handle is lost or shared, and pages_allocated falls to nothing
    once the slots are freed."""
    n = 4096
    pages = sample_pages(n)
    z = system.load_zram()[0]
    z.attr["disksize"] = str(2 * n * 4096)
    last = np.full(2 * n, -1, dtype=np.int64)
    finished: list[int] = []

    def writer(k: int) -> None:
        rng = np.random.default_rng(k)
        slots = np.arange(k * n, (k + 1) * n, dtype=np.int64)
        for _ in range(6):
            rows = rng.integers(0, n, n)
            for lo in range(0, n, 1024):
                m, err = z.write_pages(pages, slots[lo:lo + 1024], rows[lo:lo + 1024])
                assert (m, err) == (1024, 0)
            last[slots] = rows

    def body(k: int) -> None:
        if k == 2:
            while len(finished) < 2:
                z.attr["compact"] = "1"
            return
        try:
            writer(k)
        finally:
            finished.append(k)

    errors = run_in_threads(body, 3, timeout=300)
    assert not errors, errors
    back = np.empty((2 * n, 4096), dtype=np.uint8)
    assert z.read_pages(back, np.arange(2 * n, dtype=np.int64)) == (2 * n, 0)
    assert np.array_equal(back, pages[last])
    stored = [int(z.handle[i]) for i in range(2 * n) if not z.flags[i] >> ZRAM_SAME & 1]
    assert len(set(stored)) == len(stored)  # every object its own handle
    assert z.mem_pool.stats()["objects"] == len(stored)
    for i in range(2 * n):
        z.slot_free_notify(i)
    assert z.mem_pool.stats()["objects"] == 0 and z.mem_pool.total_pages == 0
