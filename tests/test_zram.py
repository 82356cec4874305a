"""The zram device: slot table, write/read/free paths, locks, limits, bio path."""

from __future__ import annotations

import errno
import threading

import numpy as np
import pytest

from conftest import sample_page_bytes
from swaplab import PAGE_SIZE
from swaplab.drivers.zram.slots import (
    ZRAM_ENTRY_LOCK,
    ZRAM_HUGE,
    ZRAM_IDLE,
    ZRAM_SAME,
    ZRAM_SIZE_MASK,
)
from zram_helpers import mm_stat, page_of, write_pages, zram_device

PAGES = [np.frombuffer(p, dtype=np.uint8) for p in sample_page_bytes(300, seed=11)]


def test_flag_bits_are_the_kernels():
    from swaplab.drivers.zram import slots as d

    assert d.ZRAM_FLAG_SHIFT == 13 and ZRAM_SIZE_MASK == (1 << 13) - 1
    flags = (ZRAM_SAME, ZRAM_ENTRY_LOCK, d.ZRAM_WB, d.ZRAM_PP_SLOT, ZRAM_HUGE, ZRAM_IDLE,
             d.ZRAM_INCOMPRESSIBLE)
    assert flags == tuple(1 << b for b in range(13, 20))
    assert d.ZRAM_COMP_PRIORITY_BIT1 == 20


def test_slot_table_is_16_bytes_a_slot(system):
    z = zram_device(system, "16G")
    per_slot = (z.handle.itemsize + z.flags.itemsize + z.ac_time.itemsize)
    assert per_slot == 16 <= 32
    assert len(z.handle) == (16 << 30) // PAGE_SIZE


def test_write_read_roundtrip_and_stats(system):
    z = zram_device(system)
    write_pages(z, PAGES)
    out = np.empty(PAGE_SIZE, np.uint8)
    for i, p in enumerate(PAGES):
        assert z.read_page(out, i) == 0 and np.array_equal(out, p)
    st = z.stats
    assert st["pages_stored"] == len(PAGES)
    sizes = [int(z.flags[i]) & ZRAM_SIZE_MASK for i in range(len(PAGES))]
    same = sum(1 for i in range(len(PAGES)) if z.test_flag(i, ZRAM_SAME))
    assert st["compr_data_size"] == sum(sizes)
    assert st["same_pages"] == same
    assert st["huge_pages"] == sum(1 for i in range(len(PAGES)) if z.test_flag(i, ZRAM_HUGE))
    m = mm_stat(z)
    assert m[0] == len(PAGES) * PAGE_SIZE and m[1] == sum(sizes)
    assert m[2] == z.mem_pool.total_pages * PAGE_SIZE and m[4] >= m[2]


def test_same_filled_pages_store_only_the_word(system):
    z = zram_device(system)
    pattern = np.tile(np.frombuffer(b"\x01\x02\x03\x04\x05\x06\x07\x08", np.uint8), 512)
    write_pages(z, [page_of(0), pattern])
    assert z.test_flag(0, ZRAM_SAME) and z.test_flag(1, ZRAM_SAME)
    assert int(z.handle[1]) == int(pattern.view(np.uint64)[0])
    assert z.stats["same_pages"] == 2 and z.stats["compr_data_size"] == 0
    assert z.mem_pool.total_pages == 0
    out = np.empty(PAGE_SIZE, np.uint8)
    assert z.read_page(out, 1) == 0 and np.array_equal(out, pattern)
    assert z.read_page(out, 7) == 0 and not out.any()  # never written: zeroes


def test_huge_threshold_is_3625(system):
    z = zram_device(system)
    assert z.huge_class_size == 3625
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, PAGE_SIZE, dtype=np.uint8)
    write_pages(z, [noise])
    assert z.test_flag(0, ZRAM_HUGE) and z.get_obj_size(0) == PAGE_SIZE
    assert z.stats["huge_pages"] == z.stats["huge_pages_since"] == 1
    write_pages(z, [PAGES[0]])  # overwrite with compressible data
    assert not z.test_flag(0, ZRAM_HUGE)
    assert z.stats["huge_pages"] == 0 and z.stats["huge_pages_since"] == 1


def test_overwrite_frees_old_object_after_storing_new(system):
    z = zram_device(system)
    write_pages(z, [PAGES[0]])
    h0 = int(z.handle[0])
    write_pages(z, [PAGES[1]])
    assert int(z.handle[0]) != 0 and z.stats["pages_stored"] == 1
    with pytest.raises(ValueError):
        z.mem_pool.read(h0, 10)


def test_mem_limit_enomem_keeps_old_contents(system):
    z = zram_device(system)
    z.attr["mem_limit"] = "64K"  # 16 pages
    rng = np.random.default_rng(1)
    stored = 0
    ret = 0
    while ret == 0:
        ret = z.write_page(rng.integers(0, 256, PAGE_SIZE, dtype=np.uint8), stored)
        stored += ret == 0
    assert ret == -errno.ENOMEM and stored == 16
    before = PAGES[5].copy()
    # slot 0 holds noise; overwriting it while at the limit must keep the noise
    out = np.empty(PAGE_SIZE, np.uint8)
    z.read_page(out, 0)
    keep = out.copy()
    assert z.write_page(rng.integers(0, 256, PAGE_SIZE, dtype=np.uint8), 0) == -errno.ENOMEM
    z.read_page(out, 0)
    assert np.array_equal(out, keep)
    assert mm_stat(z)[3] == 64 << 10 and before is not None


def test_slot_free_order_and_counters(system):
    z = zram_device(system)
    write_pages(z, [PAGES[0], page_of(0)])
    z.slot_lock(0)
    z.set_flag(0, ZRAM_IDLE)
    z.slot_free(0)
    z.slot_unlock(0)
    assert z.flags[0] == 0 and z.handle[0] == 0 and z.ac_time[0] == 0
    z.slot_lock(1)
    z.slot_free(1)
    z.slot_unlock(1)
    assert z.stats["pages_stored"] == 0 and z.stats["same_pages"] == 0
    assert z.stats["compr_data_size"] == 0 and z.mem_pool.total_pages == 0
    z.slot_lock(2)
    z.slot_free(2)  # empty slot: no counter moves
    z.slot_unlock(2)
    assert z.stats["pages_stored"] == 0


def test_trylock_fails_only_on_the_held_slot(system):
    z = zram_device(system)
    z.slot_lock(3)
    assert not z.slot_trylock(3)
    assert z.slot_trylock(4)
    z.slot_unlock(4)
    got = threading.Event()

    def waiter():
        z.slot_lock(3)
        got.set()
        z.slot_unlock(3)

    t = threading.Thread(target=waiter)
    t.start()
    assert not got.wait(0.05)
    z.slot_unlock(3)
    assert got.wait(5)
    t.join()


def test_slot_free_notify_counts_misses(system):
    z = zram_device(system)
    write_pages(z, [PAGES[0], PAGES[1]])
    z.slot_lock(0)
    z.slot_free_notify(0)
    z.slot_unlock(0)
    z.slot_free_notify(1)
    assert z.stats["notify_free"] == 2 and z.stats["miss_free"] == 1
    assert z.slot_allocated(0) and not z.slot_allocated(1)
    assert z.attr["debug_stat"] == "version: 1\n0        1\n"


def test_mark_slot_accessed_uses_the_system_clock():
    from swaplab import System, VirtualClock

    clock = VirtualClock()
    s = System("64M", clock=clock)
    try:
        z = zram_device(s)
        clock.advance(100)
        z.bdev.pwrite(PAGES[0].tobytes(), 0)
        assert int(z.ac_time[0]) == 100
    finally:
        s.close()


def test_bio_path_like_dev_zram(system):
    z = zram_device(system, "8M")
    data = b"".join(p.tobytes() for p in PAGES[:40])
    z.bdev.reset_stat()
    assert z.bdev.pwrite(data, 0) == len(data)
    assert z.bdev.pread(len(data), 0) == data
    st = z.bdev.stat()
    assert st["write_ios"] == 1 and st["read_ios"] == 1
    with pytest.raises(OSError) as e:
        z.bdev.pwrite(b"x" * 512, 0)  # logical block is 4096
    assert e.value.errno == errno.EINVAL


def test_discard_frees_slots(system):
    z = zram_device(system, "8M")
    write_pages(z, PAGES[:10])
    z.bdev.discard(PAGE_SIZE * 2, PAGE_SIZE * 3)
    assert [z.slot_allocated(i) for i in range(6)] == [True, True, False, False, False, True]
    assert z.stats["notify_free"] == 3 and z.stats["pages_stored"] == 7
    # zram accounts reads and writes in the block stat file, never discards
    z.bdev.pwrite(PAGES[0].tobytes(), 0)
    stat = z.bdev.stat()
    assert stat["discard_ios"] == stat["discard_sectors"] == 0 and stat["write_ios"] == 1


def test_failed_read_counts_once_per_bio(system):
    z = zram_device(system, "8M")
    write_pages(z, PAGES[:8])
    slot = next(i for i in range(8) if not z.test_flag(i, ZRAM_HUGE | ZRAM_SAME))
    # corrupt the stored object: the decompressor must refuse it
    z.mem_pool.write(int(z.handle[slot]), np.full(z.get_obj_size(slot), 0xFF, np.uint8))
    with pytest.raises(OSError) as e:
        z.bdev.pread(8 * PAGE_SIZE, 0)
    assert e.value.errno == errno.EIO
    assert z.stats["failed_reads"] == 1
    assert f"Decompression failed! err=-22, page={slot}" in system.printk.text()


def test_reset_returns_to_defaults(system):
    z = zram_device(system, disksize="")
    z.attr["comp_algorithm"] = "zstd"
    z.attr["disksize"] = "16M"
    assert z.attr["comp_algorithm"] == "lzo-rle lzo lz4 lz4hc [zstd] deflate \n"
    write_pages(z, PAGES[:5])
    z.attr["mem_limit"] = "1M"
    z.attr["reset"] = "1"
    assert z.attr["initstate"] == "0\n" and z.attr["disksize"] == "0\n"
    assert mm_stat(z) == [0] * 9
    assert z.bdev.capacity == 0 and z.mem_pool is None
    assert z.attr["comp_algorithm"] == "[lzo-rle] lzo lz4 lz4hc zstd deflate \n"


def test_hot_add_hot_remove(system):
    ctl = system.load_zram(num_devices=0)
    assert ctl.hot_add() == 0 and ctl.hot_add() == 1
    assert "zram1" in system.block
    for bad, err in (("x", errno.EINVAL), ("-1", errno.EINVAL), ("7", errno.ENODEV),
                     (" 0", errno.EINVAL), ("0x1", errno.EINVAL), ("1\n\n", errno.EINVAL)):
        with pytest.raises(OSError) as e:
            ctl.hot_remove(bad)
        assert e.value.errno == err
    z = ctl[1]
    z.attr["disksize"] = "4M"
    system.mkswap(z.bdev)
    system.swapon(z.bdev)
    with pytest.raises(OSError) as e:
        ctl.hot_remove("1")
    assert e.value.errno == errno.EBUSY
    system.swapoff(z.bdev)
    ctl.hot_remove("1\n")
    assert "zram1" not in system.block and ctl.hot_add() == 1


def test_compaction_and_pages_compacted(system):
    z = zram_device(system, "32M")
    write_pages(z, PAGES * 3)
    for i in range(0, len(PAGES) * 3, 2):
        z.slot_lock(i)
        z.slot_free(i)
        z.slot_unlock(i)
    before = mm_stat(z)[2]
    z.attr["compact"] = "1"
    after = mm_stat(z)
    assert after[2] < before and after[6] > 0
    out = np.empty(PAGE_SIZE, np.uint8)
    for i in range(1, len(PAGES) * 3, 2):
        assert z.read_page(out, i) == 0 and np.array_equal(out, PAGES[i % len(PAGES)])


def test_batch_paths_match_the_page_paths(system):
    """write_pages/read_pages store and return what write_page/read_page do,
    overwrites included, and stop at the first error."""
    from swaplab import System

    rng = np.random.default_rng(5)
    batch = np.stack([PAGES[0], page_of(0), rng.integers(0, 256, PAGE_SIZE, dtype=np.uint8),
                      PAGES[1], PAGES[2]])
    idx = np.array([3, 9, 4, 1, 7])
    z = zram_device(system)
    write_pages(z, [PAGES[5]] * 10)  # every slot holds something to overwrite
    m, err = z.write_pages(batch.copy(), idx)
    assert (m, err) == (5, 0)
    other = System("64M")
    try:
        y = zram_device(other)
        write_pages(y, [PAGES[5]] * 10)
        for k, i in enumerate(idx):
            assert y.write_page(batch[k], int(i)) == 0
        assert mm_stat(z)[:2] + mm_stat(z)[5:] == mm_stat(y)[:2] + mm_stat(y)[5:]
        assert (z.flags & ~np.uint32(ZRAM_ENTRY_LOCK)).tolist() == y.flags.tolist()
    finally:
        other.close()
    rows = np.zeros_like(batch)
    assert z.read_pages(rows, idx) == (5, 0)
    assert np.array_equal(rows, batch)
    assert not any(z.slot_locked(i) for i in range(10))
    z.attr["mem_limit"] = str(z.mem_pool.total_pages * PAGE_SIZE)
    noise = rng.integers(0, 256, (4, PAGE_SIZE), dtype=np.uint8)
    m, err = z.write_pages(noise, np.array([20, 21, 22, 23]))
    assert err == -errno.ENOMEM and m < 4
    assert not z.slot_allocated(20 + m)
