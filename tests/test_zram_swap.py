"""zram as swap: its swap_ops (activate / register), the default block ops into
zram, and the bio-per-page ops (one bio a page), on the same device and pages."""

from __future__ import annotations

import errno
import threading
import time

import numpy as np
import pytest

from conftest import sample_page_bytes, sample_pages
from swaplab import PAGE_SIZE, SWP, SwapIoCtx, System
from swaplab.drivers.zram.swap_ops import zram_swap_ops
from swaplab.mm.page_io import swap_bdev_ops, swap_bio_per_page_ops, swap_read_submit
from swaplab.mm.swap_state import read_swap_cache_async
from swaplab.mm.swapfile import swap_dup_entries, swapcache_clear, swapcache_prepare
from swaplab.mm.swapops import pte_present, swp_offset
from zram_helpers import mm_stat, zram_device

PAGES = sample_page_bytes(400, seed=21)


def run_swap(system, z, n=None, **swapon_kw):
    n = len(PAGES) if n is None else n
    # a fixed UUID: the header page is stored too, and must compress the same
    system.mkswap(z.bdev, uuid="01234567-89ab-cdef-0123-456789abcdef")
    si = system.swapon(z.bdev, **swapon_kw)
    mm = system.create_mm(n)
    for i in range(n):
        mm.write(i, PAGES[i])
    z.bdev.reset_stat()
    assert mm.pageout() == n
    return si, mm


@pytest.mark.parametrize("mode", ["activate", "register"])
def test_zram_swap_ops_path(system, mode):
    z = zram_device(system, "16M", swap_ops=mode)
    si, mm = run_swap(system, z)
    assert si.ops is zram_swap_ops
    assert si.private_data is (z if mode == "activate" else None)
    assert si.flags & SWP.SYNCHRONOUS_IO and si.flags & SWP.STABLE_WRITES
    # swap_ops bypass bios: the disk stat file sees nothing
    assert z.bdev.stat()["write_ios"] == 0
    assert system.vmstat["pswpout"] == len(PAGES) - system.vmstat["swpout_zero"]
    stored = mm_stat(z)[0] // PAGE_SIZE
    assert stored == system.vmstat["pswpout"] + 1  # + the header page
    assert all(mm.read(i) == PAGES[i] for i in range(len(PAGES)))
    assert z.bdev.stat()["read_ios"] == 0
    # synchronous device: every fault freed its slot through slot_free_notify
    assert z.stats["notify_free"] == stored - 1 and z.stats["miss_free"] == 0
    system.swapoff(z.bdev)
    assert si.private_data is None
    z.attr["reset"] = "1"
    assert mm_stat(z)[1] == 0


def test_default_block_ops_into_zram(system):
    z = zram_device(system, "16M", swap_ops="none")
    si, mm = run_swap(system, z)
    assert si.ops is swap_bdev_ops
    nbatches = system.vmstat["nrswpout"]
    assert z.bdev.stat()["write_ios"] == nbatches < len(PAGES)
    assert all(mm.read(i) == PAGES[i] for i in range(len(PAGES)))
    assert z.bdev.stat()["read_ios"] > 0


def test_pre_series_path_on_the_same_device(system):
    z = zram_device(system, "16M")
    si, mm = run_swap(system, z, ops="bio-per-page")
    assert si.ops is swap_bio_per_page_ops
    assert z.bdev.stat()["write_ios"] == system.vmstat["pswpout"]  # one bio per page
    assert all(mm.read(i) == PAGES[i] for i in range(len(PAGES)))
    assert z.stats["notify_free"] > 0  # through the block device's ops table


def test_same_pages_through_every_path_store_the_same(system):
    """mm_stat is deterministic: the three paths store identical bytes."""
    from swaplab import System

    results = []
    for kw, mode in (({}, "activate"), ({}, "none"), ({"ops": "bio-per-page"}, "activate")):
        s = System("64M")
        try:
            z = zram_device(s, "16M", swap_ops=mode)
            run_swap(s, z, **kw)
            results.append(mm_stat(z)[:2] + mm_stat(z)[5:6])
        finally:
            s.close()
    assert results[0] == results[1] == results[2]


def test_write_failure_redirties_the_batch(system):
    z = zram_device(system, "16M")
    z.attr["mem_limit"] = "32K"
    system.mkswap(z.bdev)
    system.swapon(z.bdev)
    mm = system.create_mm(100)
    for i in range(100):
        mm.write(i, PAGES[i])
    freed = mm.pageout()
    assert freed < 100
    nbatches = system.vmstat["nrswpout"]
    assert 1 <= z.stats["failed_writes"] <= nbatches  # once per failing batch
    assert "Write-error on swap-device zram0 at index" in system.printk.text()
    assert all(mm.read(i) == PAGES[i] for i in range(100))


def test_read_failure_is_eio_and_counted_once(system):
    z = zram_device(system, "16M")
    _si, mm = run_swap(system, z, n=64)
    slot = next(i for i in range(1, 65) if z.get_obj_size(i) not in (0, PAGE_SIZE))
    z.mem_pool.write(int(z.handle[slot]), np.full(z.get_obj_size(slot), 0xFF, np.uint8))
    vpn = next(v for v in range(64) if swp_offset(mm.swap_entry_at(v)) == slot)
    with pytest.raises(OSError) as e:
        mm.read(vpn)
    assert e.value.errno == errno.EIO
    assert z.stats["failed_reads"] == 1
    assert not pte_present(int(mm.ptes[vpn]))  # still a swap entry


def test_busy_slot_is_a_missed_free(system):
    z = zram_device(system, "16M")
    _si, mm = run_swap(system, z, n=8)
    entry = mm.swap_entry_at(0)
    off = entry & ((1 << 58) - 1)
    z.slot_lock(off)
    from swaplab.mm.swapfile import swap_put_entries

    swap_put_entries(system, entry)  # the last reference: notify runs, trylock fails
    mm.ptes[0] = 0
    z.slot_unlock(off)
    assert z.stats["miss_free"] == 1
    assert z.slot_allocated(off)  # stale data stays until overwritten or reset


def test_backing_device_sends_reads_down_the_bio_path(system, tmp_path):
    disk = system.add_filedisk(tmp_path / "bd.img", "16M")
    z = zram_device(system, "", swap_ops="activate")
    z.attr["backing_dev"] = disk.path
    z.attr["disksize"] = "16M"
    si, mm = run_swap(system, z, n=64)
    assert si.ops is zram_swap_ops
    assert all(mm.read(i) == PAGES[i] for i in range(64))
    assert z.bdev.stat()["read_ios"] > 0 and z.bdev.stat()["write_ios"] == 0


# --- swap-in of a synchronous device: through the swap table, or the old bypass --------

SWAPIN_MODES = ("swap-table", "sync-bypass")


def _zram_swap(mode: str, nr: int):
    s = System("64M", swapin=mode)
    z = s.load_module("zram")[0]
    z.attr["disksize"] = "8M"
    s.mkswap(z.bdev)
    s.swapon(z.bdev)
    mm = s.create_mm(nr)
    pages = sample_pages(nr, seed=11)
    pages[nr // 2 + 1] = 0  # a zero page: the zero map, no device read
    mm.populate(0, pages)
    return s, z, mm, pages


@pytest.mark.parametrize("mode", SWAPIN_MODES)
def test_both_swapin_paths_keep_every_page_and_the_counters(mode):
    s, z, mm, pages = _zram_swap(mode, 96)
    with s:
        assert mm.pageout() == 96
        nonzero = int(np.count_nonzero(pages.any(axis=1)))
        for v in np.random.default_rng(3).permutation(96).tolist():
            assert mm.read(v) == pages[v].tobytes()
        vm = s.vmstat
        assert vm["pgmajfault"] == 96 and vm["pswpin"] == nonzero
        assert vm["swap_ra"] == 0  # a synchronous device: no readahead either way
        assert vm["nr_swapcached"] == 0  # nothing left in the swap cache
        # every slot freed on swap-in (slot_free_notify): the swap header is left
        assert mm_stat(z)[0] == PAGE_SIZE
        si = s.swap.active()[0]
        assert si.inuse_pages == 0 and (si.cache[: si.max] == -1).all()
        assert mm.pageout() == 96  # dirty again: the page is the only copy now
        assert all(mm.read(v) == pages[v].tobytes() for v in range(96))


@pytest.mark.parametrize("mode", SWAPIN_MODES)
def test_a_failed_swapin_leaves_the_page_on_swap_in_both_paths(mode):
    s, _, mm, pages = _zram_swap(mode, 8)
    with s:
        mm.pageout()
        s.faults.arm("zcomp.decompress", target="zram0")
        with pytest.raises(OSError) as e:
            mm.read(2)
        assert e.value.errno == errno.EIO
        s.faults.disarm("zcomp.decompress")
        si = s.swap.active()[0]
        assert not pte_present(int(mm.ptes[2])) and (si.cache[: si.max] == -1).all()
        assert mm.read(2) == pages[2].tobytes()


def test_a_slot_claimed_by_a_bypassing_swapin_is_read_once_after_it():
    """While a bypassing swap-in holds a slot (swapcache_prepare), the swap
    cache refuses a folio for it and a reader backs off until the claim goes."""
    s, _, mm, pages = _zram_swap("sync-bypass", 4)
    with s:
        mm.pageout()
        entry = mm.swap_entry_at(1)
        assert swapcache_prepare(s, entry) == 0
        assert swapcache_prepare(s, entry) == -errno.EEXIST
        got = []

        def reader() -> None:
            ctx = SwapIoCtx()
            folio, started = read_swap_cache_async(s, entry, ctx)
            swap_read_submit(ctx)
            got.append((folio, started))

        t = threading.Thread(target=reader)
        t.start()
        time.sleep(0.05)
        assert not got and s.vmstat["pswpin"] == 0  # waiting on the claim
        swapcache_clear(s, entry)
        t.join(10)
        (folio, started), = got
        assert started and s.vmstat["pswpin"] == 1
        folio.lock()
        assert folio.data.tobytes() == pages[1].tobytes()
        folio.unlock()
        assert mm.read(1) == pages[1].tobytes() and s.vmstat["pswpin"] == 1  # from the cache


def test_swapin_mode_is_checked():
    with pytest.raises(OSError, match="swapin 'nope'") as e:
        System("4M", swapin="nope")
    assert e.value.errno == errno.EINVAL


def test_a_bypass_fault_on_a_slot_taken_meanwhile_goes_through_the_swap_cache():
    s, _, mm, pages = _zram_swap("sync-bypass", 4)
    with s:
        mm.pageout()
        z = s.modules["zram"][0]
        stored = mm_stat(z)[0]
        entry = mm.swap_entry_at(2)
        assert swapcache_prepare(s, entry) == 0  # someone else is reading it
        got = []
        t = threading.Thread(target=lambda: got.append(mm.read(2)))
        t.start()
        time.sleep(0.05)
        assert not got  # the fault waits for the slot instead of failing
        swapcache_clear(s, entry)
        t.join(10)
        assert got == [pages[2].tobytes()] and s.vmstat["pswpin"] == 1
        # out of the cache again and its slot freed, as on the bypass
        assert s.vmstat["nr_swapcached"] == 0 and mm_stat(z)[0] == stored - PAGE_SIZE


@pytest.mark.parametrize("mode", SWAPIN_MODES)
def test_racing_faults_on_one_entry_read_the_page_once(mode):
    """Two processes share a swapped page (as after fork: one entry, count 2)
    and fault on it at once from two threads: the swap cache gives both the
    same read, in either mode (a shared entry is never bypassed)."""
    s, _, mm, pages = _zram_swap(mode, 16)
    with s:
        mm.pageout()
        other = s.create_mm(16)
        for v in range(16):
            entry = mm.swap_entry_at(v)
            if entry:
                assert swap_dup_entries(s, entry) == 0
                other.ptes[v] = mm.ptes[v]
        barrier = threading.Barrier(2)
        got: dict[int, list[bytes]] = {0: [], 1: []}

        def touch(k: int, proc) -> None:
            for v in range(16):
                barrier.wait()
                got[k].append(proc.read(v))

        threads = [threading.Thread(target=touch, args=(k, p)) for k, p in enumerate((mm, other))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        want = [pages[v].tobytes() for v in range(16)]
        assert got[0] == want and got[1] == want
        nonzero = int(np.count_nonzero(pages.any(axis=1)))
        assert s.vmstat["pswpin"] == nonzero  # each shared page read once
        assert s.swap.active()[0].inuse_pages == 0  # both references dropped
