"""LRU aging, reclaim batches, watermarks, and swap readahead (mm/vmscan, mm/swap_state)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from conftest import sample_page_bytes, sample_pages
from swaplab import PAGE_SIZE, PG, System
from swaplab.mm.lru import LRU_INACTIVE_ANON
from swaplab.mm.swap_state import swapin_nr_pages_window
from swaplab.mm.swapfile import swap_cache_get_folio
from swaplab.mm.vmscan import ScanControl, balance_pgdat, shrink_inactive_list
from swaplab.system import zone_watermarks


def _fill(mm, pages):
    for v, p in enumerate(pages):
        mm.write(v, p)


# --- watermarks and LRU ------------------------------------------------------------------

def test_watermarks_follow_min_free_kbytes():
    # 256 MiB: min_free_kbytes = sqrt(262144 * 16) = 2048 KiB -> 512 pages; step 128
    assert zone_watermarks(65536) == {"min": 512, "low": 640, "high": 768}
    # 16 MiB: sqrt(16384 * 16) = 512 KiB -> 128 pages; step max(32, 4) = 32
    assert zone_watermarks(4096) == {"min": 128, "low": 160, "high": 192}


def test_new_pages_start_inactive_and_second_reference_activates():
    with System("64M") as s:
        s.swapon(_mk(s, s.add_ramdisk("16M")))
        mm = s.create_mm(64)
        _fill(mm, sample_page_bytes(64))
        lv = s.root_memcg.lruvec
        assert (lv.nr_inactive, lv.nr_active) == (64, 0)
        for v in range(8):  # touched again: accessed bit set
            mm.fault(v)
        sc = ScanControl(nr_to_reclaim=32)
        freed = shrink_inactive_list(s, lv, 64, sc)
        # first pass: every page was young (the fault), none referenced yet -> all kept
        assert freed == 0 and lv.nr_inactive == 64
        for v in range(8):
            mm.fault(v)
        freed = shrink_inactive_list(s, lv, 64, sc)
        # second pass: the 8 touched again are activated, the other 56 reclaimed
        assert lv.nr_active == 8 and freed == 56
        assert s.vmstat["pswpout"] == 56
        assert all(mm.folio_at(v) is not None for v in range(8))
        assert mm.resident() == 8


def _mk(s, bdev):
    s.mkswap(bdev)
    return bdev


def test_reclaim_writes_in_batches_of_at_most_32_through_one_ctx():
    with System("64M") as s:
        s.swapon(_mk(s, s.add_ramdisk("32M")))
        mm = s.create_mm(200)
        _fill(mm, sample_page_bytes(200))
        assert mm.pageout() == 200
        assert s.vmstat["pswpout"] == 200
        # 200 pages in one pass: 6 full batches and one of 8
        assert s.vmstat["nrswpout"] == 7


def test_kswapd_keeps_free_memory_above_min_and_data_survives():
    with System("16M") as s:
        s.swapon(_mk(s, s.add_ramdisk("64M")))
        mm = s.create_mm(8192)  # 32 MiB in a 16 MiB machine
        pages = sample_pages(8192, seed=5)
        for v in range(8192):
            mm.write(v, pages[v])
            assert s.mem.nr_free >= s.watermark["min"]
        assert s.vmstat["pgsteal_kswapd"] > 4096
        assert s.vmstat["pgsteal_direct"] == 0
        for v in np.random.default_rng(1).permutation(8192)[:500]:
            assert mm.read(int(v)) == pages[v].tobytes()


def test_balance_pgdat_stops_at_high_watermark():
    with System("16M") as s:
        s.swapon(_mk(s, s.add_ramdisk("64M")))
        s.kswapd_enabled = False
        mm = s.create_mm(4096)
        pages = sample_pages(4096, seed=2)
        v = 0
        while s.mem.nr_free >= s.watermark["low"]:
            mm.write(v, pages[v])
            v += 1
        assert s.vmstat["pgscan_kswapd"] == 0
        balance_pgdat(s)
        assert s.watermark["high"] <= s.mem.nr_free < s.watermark["high"] + 64


def test_without_swap_anon_memory_is_not_scanned():
    with System("16M") as s:
        mm = s.create_mm(64)
        _fill(mm, sample_page_bytes(64))
        s.kswapd_enabled = False
        assert balance_pgdat(s) == 0
        assert s.vmstat["pgscan_kswapd"] == 0 and mm.resident() == 64


# --- readahead ---------------------------------------------------------------------------

@pytest.mark.parametrize("prev, off, hits, maxp, prev_win, want", [
    (0, 11, 0, 8, 0, 1),    # no hits, not adjacent: one page
    (11, 12, 0, 8, 1, 2),   # adjacent: two
    (0, 40, 1, 8, 2, 4),    # hits + 2 = 3 -> rounded up to 4
    (0, 40, 5, 8, 4, 8),    # 7 -> 8
    (0, 40, 30, 8, 8, 8),   # capped at max
    (0, 40, 0, 8, 8, 4),    # never below half the previous window
])
def test_window_heuristic(prev, off, hits, maxp, prev_win, want):
    assert swapin_nr_pages_window(prev, off, hits, maxp, prev_win) == want


def _swapped_mm(s, n=256, vmas=None):
    s.swapon(_mk(s, s.add_ramdisk("16M")))
    mm = s.create_mm(n, vmas=vmas)
    _fill(mm, sample_page_bytes(n))
    assert mm.pageout() == n
    return mm


def test_cluster_readahead_reads_the_aligned_block_and_counts_hits():
    with System("64M") as s:
        s.swap_ra.vma_ra_enabled = False
        mm = _swapped_mm(s)
        data = sample_page_bytes(256)
        mm.read(10)            # offset 11: not next to 0 -> 1 page, no readahead
        assert s.vmstat["swap_ra"] == 0
        mm.read(11)            # offset 12, adjacent: window 2 -> [12, 13], 13 ahead
        assert s.vmstat["swap_ra"] == 1
        assert mm.read(12) == data[12]   # the readahead folio: a hit, no I/O
        assert s.vmstat["swap_ra_hit"] == 1
        pswpin = s.vmstat["pswpin"]
        mm.read(13)            # hits 1 -> window 4: [12..15]; only 15 is new
        assert s.vmstat["swap_ra"] == 2 and s.vmstat["pswpin"] == pswpin + 2
        assert swap_cache_get_folio(s, mm.swap_entry_at(14)) is not None
        assert swap_cache_get_folio(s, mm.swap_entry_at(14)).test(PG.readahead)


def test_page_cluster_zero_disables_readahead():
    with System("64M") as s:
        s.swap_ra.set_page_cluster(0)
        mm = _swapped_mm(s)
        for v in range(64):
            mm.read(v)
        assert s.vmstat["swap_ra"] == 0 and s.vmstat["pswpin"] == 64
    with System("64M") as s, pytest.raises(OSError, match=r"outside 0\.\.31"):
        s.swap_ra.set_page_cluster(32)


def test_vma_readahead_stays_inside_the_vma():
    with System("64M") as s:
        mm = _swapped_mm(s, 256, vmas=[64, 192])
        data = sample_page_bytes(256)
        for v in (58, 59, 60, 61, 62, 63):
            assert mm.read(v) == data[v]
        assert s.vmstat["swap_ra"] > 0
        # nothing past the VMA end was read ahead
        for v in range(64, 80):
            e = mm.swap_entry_at(v)
            assert e and swap_cache_get_folio(s, e) is None
        assert s.vmstat["swap_ra_hit"] > 0


def test_synchronous_device_skips_readahead_and_frees_the_slot():
    with System("64M") as s:
        z = s.load_zram()[0]
        z.attr["disksize"] = "16M"
        s.mkswap(z.bdev)
        s.swapon(z.bdev)
        mm = s.create_mm(64)
        data = sample_page_bytes(64)
        _fill(mm, data)
        mm.pageout()
        stored = int(z.attr["mm_stat"].split()[0])
        for v in range(32):
            assert mm.read(v) == data[v]
        assert s.vmstat["swap_ra"] == 0
        assert int(z.attr["mm_stat"].split()[0]) == stored - 32 * PAGE_SIZE
        assert s.vmstat["pswpin"] == 32
        assert mm.swap_entry_at(0) == 0 and mm.folio_at(0) is not None
        assert not mm.folio_at(0).test(PG.swapcache)
        assert s.root_memcg.lruvec.lists[LRU_INACTIVE_ANON] is not None


def test_a_fault_on_a_locked_swap_cache_folio_waits_for_the_unlock():
    """The end of a fault (the compiled swapin_map step) refuses a folio that
    someone holds locked; do_swap_page then sleeps on the folio lock, as
    folio_lock does, and maps it once it is released."""
    with System("64M") as s:
        s.swap_ra.vma_ra_enabled = False
        mm = _swapped_mm(s)
        data = sample_page_bytes(256)
        mm.read(10)
        assert mm.read(11) == data[11]  # adjacent: reads 12 ahead into the swap cache
        entry = mm.swap_entry_at(12)
        folio = swap_cache_get_folio(s, entry)
        assert folio is not None and folio.test(PG.uptodate)
        folio.lock()  # as reclaim would while it looks at the folio
        got = []
        t = threading.Thread(target=lambda: got.append(mm.read(12)))
        t.start()
        t.join(0.3)
        assert t.is_alive() and not got  # still waiting on the lock
        assert mm.swap_entry_at(12) == entry  # the PTE not yet changed
        folio.unlock()
        t.join(30)
        assert not t.is_alive() and got == [data[12]]
        assert mm.folio_at(12) == folio and mm.swap_entry_at(12) == 0
        assert not folio.test(PG.locked)
        assert s.vmstat["swap_ra_hit"] == 1
