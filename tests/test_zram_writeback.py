"""zram writeback to a real file-backed disk, and recompression."""

from __future__ import annotations

import errno

import numpy as np
import pytest

from conftest import sample_page_bytes
from swaplab import PAGE_SIZE
from swaplab.drivers.zram.slots import (
    ZRAM_HUGE,
    ZRAM_INCOMPRESSIBLE,
    ZRAM_WB,
)
from zram_helpers import mm_stat, write_pages, zram_device

PAGES = [np.frombuffer(p, dtype=np.uint8) for p in sample_page_bytes(120, seed=31, kind="text")]
NOISE = [np.random.default_rng(k).integers(0, 256, PAGE_SIZE, dtype=np.uint8)
         for k in range(6)]


@pytest.fixture
def wbdev(system, tmp_path):
    disk = system.add_filedisk(tmp_path / "backing.img", "2M")  # 512 blocks
    z = zram_device(system, "")
    z.attr["backing_dev"] = disk.path
    z.attr["disksize"] = "4M"
    return z, disk


def read(z, i):
    out = np.empty(PAGE_SIZE, np.uint8)
    assert z.read_page(out, i) == 0
    return out


def bd_stat(z):
    return [int(x) for x in z.attr["bd_stat"].split()]


def test_idle_writeback_moves_data_to_the_disk(wbdev):
    z, _disk = wbdev
    write_pages(z, PAGES)
    before = mm_stat(z)
    z.attr["idle"] = "all"
    z.attr["writeback"] = "type=idle"
    n_wb = sum(z.test_flag(i, ZRAM_WB) for i in range(len(PAGES)))
    same = before[5]
    assert n_wb == len(PAGES) - same
    after = mm_stat(z)
    assert after[0] == before[0]  # WB pages still count as stored
    assert after[1] == 0 and after[2] == 0  # no compressed bytes, no pool pages left
    assert bd_stat(z) == [n_wb, 0, n_wb]
    for i, p in enumerate(PAGES):
        assert np.array_equal(read(z, i), p)
    assert bd_stat(z)[1] == n_wb
    # overwriting a written-back slot gives its block back
    wb_slot = next(i for i in range(len(PAGES)) if z.test_flag(i, ZRAM_WB))
    write_pages(z, [PAGES[0]], start=wb_slot)
    assert bd_stat(z)[0] == n_wb - 1 and not z.test_flag(wb_slot, ZRAM_WB)


def test_only_idle_slots_go(wbdev):
    z, _ = wbdev
    write_pages(z, PAGES[:10])
    z.attr["idle"] = "all"
    z.slot_lock(3)
    z.mark_slot_accessed(3)
    z.slot_unlock(3)
    same = {i for i in range(10) if z.test_flag(i, 1 << 13)}
    z.attr["writeback"] = "idle"  # legacy spelling
    assert {i for i in range(10) if z.test_flag(i, ZRAM_WB)} == set(range(10)) - {3} - same


def test_huge_mode_and_page_ranges(wbdev):
    z, _ = wbdev
    write_pages(z, PAGES[:10] + NOISE)
    z.attr["writeback"] = "type=huge"
    assert [z.test_flag(i, ZRAM_WB) for i in range(10, 16)] == [True] * 6
    assert not any(z.test_flag(i, ZRAM_WB) for i in range(10))
    z.attr["writeback"] = "page_index=2 page_indexes=4-5"
    assert [z.test_flag(i, ZRAM_WB) for i in range(7)] == [False, False, True, False,
                                                           True, True, False]


def test_limit_takes_largest_first_then_eio(wbdev):
    z, _ = wbdev
    write_pages(z, PAGES[:20])
    sizes = {i: z.get_obj_size(i) for i in range(20)}
    z.attr["writeback_limit_enable"] = "1"
    z.attr["writeback_limit"] = "3"
    with pytest.raises(OSError) as e:
        z.attr["writeback"] = "page_indexes=0-19"
    assert e.value.errno == errno.EIO
    written = [i for i in range(20) if z.test_flag(i, ZRAM_WB)]
    assert len(written) == 3 and z.attr["writeback_limit"] == "0\n"
    top = sorted(sizes.values(), reverse=True)[:3]
    # buckets are 64 bytes wide: the written ones are in the top buckets
    assert min(sizes[i] for i in written) // 64 >= top[-1] // 64
    assert not any(int(z.flags[i]) & (1 << 16) for i in range(20))  # PP_SLOT released


def test_enospc_when_the_disk_is_full(system, tmp_path):
    disk = system.add_filedisk(tmp_path / "small.img", "16K")  # 4 blocks
    z = zram_device(system, "")
    z.attr["backing_dev"] = disk.path
    z.attr["disksize"] = "1M"
    write_pages(z, PAGES[:8])
    with pytest.raises(OSError) as e:
        z.attr["writeback"] = "page_indexes=0-7"
    assert e.value.errno == errno.ENOSPC
    assert bd_stat(z)[0] == 4
    assert all(np.array_equal(read(z, i), PAGES[i]) for i in range(8))


def test_compressed_writeback(system, tmp_path):
    disk = system.add_filedisk(tmp_path / "bd.img", "1M")
    z = zram_device(system, "")
    z.attr["writeback_compressed"] = "1"
    z.attr["backing_dev"] = disk.path
    z.attr["disksize"] = "1M"
    write_pages(z, PAGES[:10] + NOISE[:2])
    sizes = [z.get_obj_size(i) for i in range(12)]
    z.attr["writeback"] = "page_indexes=0-11"
    assert [z.get_obj_size(i) for i in range(12)] == sizes  # sizes kept in this mode
    assert z.test_flag(10, ZRAM_HUGE)
    for i in range(12):
        assert np.array_equal(read(z, i), (PAGES[:10] + NOISE[:2])[i])


def test_reset_releases_the_backing_device(wbdev, system):
    z, disk = wbdev
    assert disk.holder is z
    z.attr["reset"] = "1"
    assert disk.holder is None and z.attr["backing_dev"] == "none\n"


def test_recompression_with_a_secondary_algorithm(system):
    z = zram_device(system, "")
    z.attr["recomp_algorithm"] = "algo=zstd"
    z.attr["disksize"] = "4M"
    write_pages(z, PAGES)
    before = mm_stat(z)[1]
    z.attr["recompress"] = "\n"  # what `echo > recompress` writes: mode 0, every slot
    after = mm_stat(z)[1]
    assert after < before
    assert any(z.get_priority(i) == 1 for i in range(len(PAGES)))
    for i, p in enumerate(PAGES):
        assert np.array_equal(read(z, i), p)


def test_recompress_threshold_and_max_pages(system):
    z = zram_device(system, "")
    z.attr["recomp_algorithm"] = "algo=zstd"
    z.attr["disksize"] = "4M"
    write_pages(z, PAGES)
    z.attr["recompress"] = "threshold=3000 max_pages=2"
    redone = [i for i in range(len(PAGES)) if z.get_priority(i) == 1]
    assert len(redone) <= 2
    assert all(z.get_obj_size(i) < 3000 for i in redone)


def test_incompressible_pages_are_marked_and_skipped(system):
    z = zram_device(system, "")
    z.attr["recomp_algorithm"] = "algo=zstd"
    z.attr["disksize"] = "1M"
    write_pages(z, NOISE)
    z.attr["recompress"] = "type=huge"
    assert all(z.test_flag(i, ZRAM_INCOMPRESSIBLE) for i in range(len(NOISE)))
    z.attr["writeback_batch_size"] = "4"
    z.attr["recompress"] = "type=huge"  # nothing left to try; no error
    assert "n" in z.attr["block_state"].splitlines()[0][-1]


def test_batched_writeback_merges_on_the_backing_disk(wbdev):
    z, disk = wbdev
    write_pages(z, PAGES[:40])
    z.attr["writeback_batch_size"] = "8"
    z.attr["idle"] = "all"
    z.attr["writeback"] = "type=idle"
    wb = [i for i in range(40) if z.test_flag(i, ZRAM_WB)]
    st = disk.stat()
    # up to 8 one-page writes in flight; neighbouring blocks arrive as one request
    assert bd_stat(z) == [len(wb), 0, len(wb)]
    assert st["write_ios"] + st["write_merges"] == len(wb)
    assert st["write_ios"] <= -(-len(wb) // 8) and st["write_merges"] > 0
    assert all(np.array_equal(read(z, i), PAGES[i]) for i in range(40))
    assert not any(int(z.flags[i]) & (1 << 16) for i in range(40))  # PP_SLOT released
    # the largest setting takes no more requests than there are slots to write
    write_pages(z, PAGES[40:43], start=40)
    z.attr["writeback_batch_size"] = str(2**32 - 1)
    z.attr["writeback"] = "page_indexes=40-42"
    assert all(z.test_flag(i, ZRAM_WB) for i in range(40, 43))
    assert all(np.array_equal(read(z, i), PAGES[i]) for i in range(40, 43))


def test_a_failed_batch_keeps_its_pages_and_the_rest_goes(system, wbdev):
    z, disk = wbdev
    write_pages(z, PAGES[:40])
    z.attr["writeback_batch_size"] = "4"
    eligible = [i for i in range(40) if not z.test_flag(i, 1 << 13)]  # not same-filled
    system.faults.arm("disk.write.eio", target=disk.name, times=1)
    with pytest.raises(OSError) as e:
        z.attr["writeback"] = "page_indexes=0-39"
    assert e.value.errno == errno.EIO
    wb = [i for i in eligible if z.test_flag(i, ZRAM_WB)]
    kept = [i for i in eligible if not z.test_flag(i, ZRAM_WB)]
    assert 1 <= len(kept) <= 4 and len(wb) == len(eligible) - len(kept)
    assert bd_stat(z) == [len(wb), 0, len(wb)]  # the failed blocks were given back
    assert all(np.array_equal(read(z, i), PAGES[i]) for i in range(40))
    z.attr["writeback"] = "page_indexes=0-39"  # the kept pages go on a second try
    assert all(z.test_flag(i, ZRAM_WB) for i in eligible)
