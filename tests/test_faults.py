"""Named failure points: each gives the outcome the kernel documents, and no page is lost."""

from __future__ import annotations

import errno

import numpy as np
import pytest

from conftest import sample_pages
from swaplab import PAGE_SIZE, PG, System
from swaplab.faults import POINTS
from swaplab.mm.swapfile import swap_cache_get_folio
from swaplab.mm.zswap import Zswap

N = 96


def _pages(n=N, seed=3):
    p = sample_pages(n, seed=seed, kind="text")  # all compress: a fault decides the outcome
    p[:, :8] = np.arange(1, n + 1, dtype=np.uint64).view(np.uint8).reshape(n, 8)  # none zero
    return p


class Box:
    """A machine with a process holding N real pages and one kind of swap."""

    def __init__(self, kind: str, tmp) -> None:
        self.s = s = System("64M")
        self.zswap = None
        if kind == "ramdisk":
            self.dev = s.add_ramdisk("16M")
        elif kind == "filedisk":
            self.dev = s.add_filedisk(tmp / "swap.img", "16M")
        elif kind == "zswap":
            self.dev = s.add_filedisk(tmp / "swap.img", "16M")
            self.zswap = Zswap(s, "lz4", enabled=True)
        else:
            z = self.zram = s.load_zram()[0]
            if kind == "zram+bd":
                self.bd = s.add_filedisk(tmp / "backing.img", "16M")
                z.attr["backing_dev"] = f"/dev/{self.bd.name}"
            z.attr["disksize"] = "16M"
            self.dev = z.bdev
        s.mkswap(self.dev)
        s.swapon(self.dev)
        self.mm = s.create_mm(N)
        self.pages = _pages()
        for v in range(N):
            self.mm.write(v, self.pages[v])

    def intact(self) -> bool:
        return all(self.mm.read(v) == self.pages[v].tobytes() for v in range(N))

    def close(self) -> None:
        self.s.faults.disarm()
        self.s.close()


@pytest.fixture
def box(request, tmp_path):
    b = Box(request.param, tmp_path)
    yield b
    b.close()


def _io(z) -> list[int]:
    return [int(x) for x in z.attr["io_stat"].split()]


def test_every_point_is_named_and_arming_checks_names():
    assert len(POINTS) >= 10
    with System("16M") as s:
        with pytest.raises(OSError) as ei:
            s.faults.arm("disk.write.eiox")
        assert ei.value.errno == errno.EINVAL
        with pytest.raises(OSError):
            s.faults.arm("disk.write.eio", probability=0)


@pytest.mark.parametrize("box, point", [("ramdisk", "disk.write.eio"),
                                        ("filedisk", "disk.write.enospc"),
                                        ("filedisk", "disk.write.short")], indirect=["box"])
def test_failed_swap_writes_leave_pages_dirty_in_memory(box, point):
    s, mm = box.s, box.mm
    s.faults.arm(point, target=box.dev.name, times=None)
    assert mm.pageout() == 0
    assert s.faults.fired[point] > 0
    assert s.vmstat["pswpout"] == N  # counted at submission, as the kernel does
    # unmapped, but every page is still in memory: a dirty folio in the swap cache
    for v in range(N):
        f = swap_cache_get_folio(s, mm.swap_entry_at(v))
        assert f is not None and f.test(PG.dirty)
    majfault = s.vmstat["pgmajfault"]
    assert box.intact() and s.vmstat["pgmajfault"] == majfault  # minor faults only
    s.faults.disarm()
    assert mm.pageout() == N  # the dirty folios are written again, this time for good
    assert box.intact()


@pytest.mark.parametrize("box, point", [("ramdisk", "disk.read.eio"),
                                        ("filedisk", "disk.read.short")], indirect=["box"])
def test_failed_swap_reads_report_eio_and_keep_the_page_on_swap(box, point):
    s, mm = box.s, box.mm
    mm.pageout()
    s.swap_ra.set_page_cluster(0)
    pswpin = s.vmstat["pswpin"]
    s.faults.arm(point, target=box.dev.name)
    with pytest.raises(OSError) as ei:
        mm.read(7)
    assert ei.value.errno == errno.EIO and "page 7" in str(ei.value)
    assert mm.swap_entry_at(7) and s.vmstat["pswpin"] == pswpin
    assert box.intact()


@pytest.mark.parametrize("box", ["zram"], indirect=True)
def test_zram_compressor_failure_fails_the_write_and_keeps_the_pages(box):
    s, mm, z = box.s, box.mm, box.zram
    s.faults.arm("zcomp.compress", target=z.name, times=None)
    assert mm.pageout() == 0
    assert _io(z)[1] > 0  # failed_writes
    assert "Compression failed" in s.printk.text()
    s.faults.disarm()
    assert box.intact()  # minor faults: the pages never left memory
    assert mm.pageout() == N and box.intact()


@pytest.mark.parametrize("box", ["zram"], indirect=True)
def test_zram_pool_allocation_failure_is_enomem_and_loses_nothing(box):
    s, mm, z = box.s, box.mm, box.zram
    s.faults.arm("zsmalloc.alloc", target=z.name, times=3)
    freed = mm.pageout()
    assert freed < N and _io(z)[1] >= 1
    # the failed batches' folios stay in memory, dirty, in the swap cache
    kept = [v for v in range(N) if swap_cache_get_folio(s, mm.swap_entry_at(v))]
    assert len(kept) == N - freed
    assert all(swap_cache_get_folio(s, mm.swap_entry_at(v)).test(PG.dirty) for v in kept)
    assert box.intact()


def test_zram_mem_limit_keeps_the_old_contents(tmp_path):
    with System("64M") as s:
        z = s.load_zram()[0]
        z.attr["disksize"] = "8M"
        a, b = _pages(2)
        z.bdev.pwrite(a, 0)
        s.faults.arm("zram.mem_limit", target=z.name)
        with pytest.raises(OSError):
            z.bdev.pwrite(b, 0)
        assert z.bdev.pread(PAGE_SIZE, 0) == a.tobytes()
        assert _io(z)[1] == 1


@pytest.mark.parametrize("box", ["zram"], indirect=True)
def test_zram_decompression_failure_fails_the_read_and_keeps_the_slot(box):
    s, mm, z = box.s, box.mm, box.zram
    mm.pageout()
    s.faults.arm("zcomp.decompress", target=z.name)
    with pytest.raises(OSError) as ei:
        mm.read(11)
    assert ei.value.errno == errno.EIO and _io(z)[0] == 1  # failed_reads
    assert box.intact()  # the stored object was fine: the next read works


@pytest.mark.parametrize("box", ["zram"], indirect=True)
def test_corrupt_stored_data_is_an_error_never_wrong_data(box):
    s, mm, z = box.s, box.mm, box.zram
    s.faults.arm("zram.corrupt", target=z.name, skip=5)  # the 6th object stored
    mm.pageout()
    bad = []
    for v in range(N):
        try:
            assert mm.read(v) == box.pages[v].tobytes()
        except OSError as e:
            assert e.errno == errno.EIO
            bad.append(v)
    assert len(bad) == 1 and _io(z)[0] >= 1
    assert mm.swap_entry_at(bad[0])  # reported, still on swap, never mapped wrong


@pytest.mark.parametrize("box", ["zswap"], indirect=True)
def test_zswap_compress_and_alloc_failures(box):
    s, mm, zs = box.s, box.mm, box.zswap
    s.faults.arm("zcomp.compress", target="zswap", times=4)
    mm.pageout(0, 32)
    assert zs.debugfs()["stored_incompressible_pages"] == 4  # stored raw: writeback allowed
    s.faults.arm("zsmalloc.alloc", target="zswap", times=5)
    mm.pageout(32, N)
    assert zs.debugfs()["reject_alloc_fail"] == 5
    assert s.vmstat["pswpout"] == 5  # those went to the disk instead
    assert box.intact()


@pytest.mark.parametrize("box", ["zswap"], indirect=True)
def test_zswap_decompression_failure_is_eio(box):
    s, mm, zs = box.s, box.mm, box.zswap
    mm.pageout()
    s.faults.arm("zcomp.decompress", target="zswap")
    with pytest.raises(OSError) as ei:
        mm.read(3)
    assert ei.value.errno == errno.EIO and zs.debugfs()["decompress_fail"] == 1
    assert box.intact()


@pytest.mark.parametrize("box", ["zram+bd"], indirect=True)
def test_backing_device_write_error_keeps_pages_in_zram(box):
    s, mm, z = box.s, box.mm, box.zram
    mm.pageout()
    z.attr["idle"] = "all"
    s.faults.arm("disk.write.eio", target=box.bd.name, times=None)
    with pytest.raises(OSError):
        z.attr["writeback"] = "idle"
    assert int(z.attr["bd_stat"].split()[0]) == 0  # nothing counted as written back
    s.faults.disarm()
    assert box.intact()


@pytest.mark.parametrize("box", ["zram+bd"], indirect=True)
def test_backing_device_read_error_fails_the_fault_only(box):
    s, mm, z = box.s, box.mm, box.zram
    mm.pageout()
    z.attr["idle"] = "all"
    z.attr["writeback"] = "idle"
    assert int(z.attr["bd_stat"].split()[0]) > 0
    s.faults.arm("disk.read.eio", target=box.bd.name)
    with pytest.raises(OSError) as ei:
        mm.read(20)
    assert ei.value.errno == errno.EIO and mm.swap_entry_at(20)
    assert box.intact()


def test_probabilistic_faults_are_seeded_and_lose_nothing(tmp_path):
    fired = []
    for _ in range(2):
        b = Box("ramdisk", tmp_path)
        try:
            b.s.faults.seed(7)
            b.s.faults.arm("disk.write.eio", probability=0.5, times=None)
            for _ in range(6):
                b.mm.pageout()
                for v in range(0, N, 3):  # dirty again: the next pageout writes them
                    b.mm.write(v, b.pages[v])
            fired.append(b.s.faults.fired["disk.write.eio"])
            b.s.faults.disarm()
            assert b.intact()
        finally:
            b.close()
    assert fired[0] == fired[1] > 0


def test_a_page_two_processes_map_is_freed_once():
    """A frame mapped by two processes' PTEs (as after fork) is freed by the
    process its reverse map names, whichever exits first; the other's exit
    only clears its PTE (the buddy allocator refuses a double free)."""
    with System("4M") as s:
        a, b = s.create_mm(4), s.create_mm(4)
        a.write(0, np.full(PAGE_SIZE, 7, np.uint8))
        b.ptes[0] = a.ptes[0]  # b maps a's frame; the reverse map names a
        free = s.mem.nr_free
        assert b.zap(0, 4) == 1 and s.mem.nr_free == free and a.read(0)[0] == 7
        b.ptes[0] = a.ptes[0]
        a.release()
        assert s.mem.nr_free == free + 1
        assert b.zap(0, 4) == 1 and s.mem.nr_free == free + 1
