"""The I/O core: batching, exactly-once completion, failure semantics, counters."""

from __future__ import annotations

import errno
import shutil
import time

import numpy as np
import pytest

from backends import ArrayBackend, fops_like_brd, ramdisk_with_fops
from swaplab import PAGE_SIZE, PG, SWAP_CLUSTER_MAX, Folio, SwapIoCtx
from swaplab.mm.page_io import (
    READ,
    WRITE,
    swap_add_folio,
    swap_read_end,
    swap_read_folio,
    swap_read_submit,
    swap_write_end,
    swap_write_submit,
    swap_writeout,
)
from swaplab.mm.swap_iocb import swap_iocb_folio, swap_iocb_nr_folios
from swaplab.mm.swapfile import (
    folio_alloc_swap,
    swap_cache_del_folio,
    swap_dup_entries,
    swap_put_entries,
)
from swaplab.mm.swapops import pte_present, swp_offset, swp_type
from swaplab.mm.vmscan import try_to_unmap


def area_with(system, backend: ArrayBackend, name="arr"):
    """A RAM disk whose driver installs ``backend``'s ops through swap_activate."""

    def activate(sis):
        sis.ops = backend.ops
        sis.private_data = backend
        return 0

    bdev = ramdisk_with_fops(system, 8 << 20, fops_like_brd(name, swap_activate=activate))
    system.mkswap(bdev)
    return system.swapon(bdev)


def swap_folio(system, order: int = 0) -> Folio:
    """A locked, dirty, swap-cache folio whose swap entry a PTE holds (order 0:
    a page of a process, unmapped as reclaim does) or a test reference
    (large folios; dropped by :func:`release_large`)."""
    if order:
        f = Folio.alloc(system.mem, order)
        f.data[:] = np.random.default_rng(f.pfn).integers(1, 255, f.size, dtype=np.uint8)
        f.set(PG.uptodate | PG.dirty | PG.swapbacked)
        f.lock()
        assert folio_alloc_swap(f) == 0
        assert swap_dup_entries(system, f.swap, f.nr_pages) == 0
        return f
    mm = system.mms.get(0) or system.create_mm(4096)
    vpn = int(np.count_nonzero(mm.ptes))
    mm.write(vpn, np.random.default_rng(vpn).integers(1, 255, PAGE_SIZE, dtype=np.uint8))
    f = mm.folio_at(vpn)
    f.lock()
    assert folio_alloc_swap(f) == 0
    assert try_to_unmap(system, f)
    return f


def release_large(system, folios) -> None:
    for f in folios:
        e, n = f.swap, f.nr_pages
        f.lock()
        swap_cache_del_folio(f)
        f.unlock()
        swap_put_entries(system, e, n)
        f.free()


def write_folios(system, folios):
    ctx = SwapIoCtx()
    for f in folios:
        f.clear(PG.dirty)
        swap_writeout([f], ctx)
    swap_write_submit(ctx)


def test_batches_hold_32_folios(system):
    be = ArrayBackend(2048)
    area_with(system, be)
    folios = [swap_folio(system) for _ in range(70)]
    write_folios(system, folios)
    assert [len(b[1]) for b in be.batches] == [32, 32, 6]
    assert system.vmstat["nrswpout"] == 3
    assert system.vmstat["pswpout"] == 70
    assert SWAP_CLUSTER_MAX == 32


def test_none_can_merge_batches_any_offsets(system):
    be = ArrayBackend(2048)
    area_with(system, be)
    folios = [swap_folio(system) for _ in range(40)]
    write_folios(system, folios[::-1][:10])  # descending, non-contiguous offsets
    assert len(be.batches) == 1
    assert be.batches[0][1] == sorted(be.batches[0][1], reverse=True)
    write_folios(system, folios[::-1][10:])


def test_can_merge_false_splits(system):
    be = ArrayBackend(2048, can_merge=lambda f, prev, size, rw: swp_offset(f.swap) % 4 != 0)
    area_with(system, be)
    folios = [swap_folio(system) for _ in range(12)]
    write_folios(system, folios)
    for _, offs in be.batches:
        assert all(o % 4 != 0 for o in offs[1:])
    assert len(be.batches) == 4  # offsets 1..12: new batch at 4, 8, 12


def test_area_change_splits(system):
    a, b = ArrayBackend(2048), ArrayBackend(2048)
    area_with(system, a, "a")
    area_with(system, b, "b")
    fa = [swap_folio(system) for _ in range(3)]
    # rotate: force the next allocations onto b by filling the percpu hint's cluster
    system.swap.percpu_cluster[0] = None
    fb = []
    while len(fb) < 3:
        f = swap_folio(system)
        (fb if swp_type(f.swap) == 1 else fa).append(f)
    mixed = [fa[0], fa[1], fb[0], fb[1], fa[2]]
    write_folios(system, mixed)
    assert [len(x[1]) for x in a.batches] == [2, 1]
    assert [len(x[1]) for x in b.batches] == [2]
    write_folios(system, fa[3:] + fb[2:])


def test_bdev_ops_merge_only_contiguous_sectors(system, ramdisk):
    system.mkswap(ramdisk)
    si = system.swapon(ramdisk)
    assert si.ops.name == "bdev"
    folios = [swap_folio(system) for _ in range(10)]
    ramdisk.reset_stat()
    write_folios(system, [folios[i] for i in (0, 1, 2, 5, 6, 9)])
    st = ramdisk.stat()
    assert st["write_ios"] == 3 and st["write_sectors"] == 6 * 8
    for f in folios:
        assert f.test(PG.swapcache)
    write_folios(system, [folios[i] for i in (3, 4, 7, 8)])


def test_write_end_and_read_end_run_once(system):
    be = ArrayBackend(2048)
    area_with(system, be)
    f = swap_folio(system)
    ctx = SwapIoCtx()
    f.clear(PG.dirty)
    swap_writeout([f], ctx)
    sio = ctx.sio
    assert swap_iocb_nr_folios(sio) == 1 and swap_iocb_folio(sio, 0) == f
    swap_write_submit(ctx)
    assert ctx.sio is None and sio.ended
    with pytest.raises(RuntimeError, match="twice"):
        swap_write_end(sio, False)


def test_read_end_twice_raises(system):
    be = ArrayBackend(2048)
    area_with(system, be)
    f = swap_folio(system)
    write_folios(system, [f])
    f.lock()
    f.clear(PG.uptodate)
    ctx = SwapIoCtx()
    swap_read_folio(f, ctx)
    sio = ctx.sio
    swap_read_submit(ctx)
    assert f.test(PG.uptodate) and not f.test(PG.locked)
    with pytest.raises(RuntimeError, match="swap_read_end called twice"):
        swap_read_end(sio, False)


def test_failed_write_redirties_every_page_and_keeps_data(system):
    be = ArrayBackend(2048)
    area_with(system, be)
    mm = system.create_mm(40)
    data = [bytes([i + 1]) * PAGE_SIZE for i in range(40)]
    for i, d in enumerate(data):
        mm.write(i, d)
    be.fail_writes = True
    freed = mm.pageout()
    assert freed == 0
    assert len(be.batches) == 2
    for v in range(40):
        pte = int(mm.ptes[v])
        assert not pte_present(pte)  # unmapped: the PTE holds the swap entry
    # every folio is still in memory, dirty, in the swap cache, not under writeback
    si = system.swap.active()[0]
    cached = si.cache[si.cache >= 0]
    assert len(cached) == 40
    for pfn in cached:
        f = Folio(system.mem, int(pfn))
        assert f.test(PG.dirty) and not f.test(PG.writeback) and not f.test(PG.reclaim)
    assert system.vmstat["pswpout"] == 40  # counted at submission
    be.batches.clear()
    assert [mm.read(i) for i in range(40)] == data
    assert be.batches == []  # came back from the swap cache, no I/O
    be.fail_writes = False
    assert mm.pageout() == 40
    assert [mm.read(i) for i in range(40)] == data


def _paged_out(system, be: ArrayBackend):
    """40 pages (page i holds byte i + 7) written and paged out to ``be``'s area."""
    si = area_with(system, be)
    mm = system.create_mm(40)
    for i in range(40):
        mm.write(i, bytes([i + 7]) * PAGE_SIZE)
    assert mm.pageout() == 40
    return si, mm


@pytest.mark.parametrize("raises", [False, True], ids=["fails-the-batch", "raises"])
def test_failed_read_leaves_not_uptodate_and_reports_eio(system, raises):
    """A read batch the backend fails, or a backend that raises from
    submit_read: EIO naming the page, no pswpin, the page still on swap, the
    area idle (swapoff works), and the page readable once the backend is."""
    be = _Raising(2048) if raises else ArrayBackend(2048)
    si, mm = _paged_out(system, be)
    be.fail_reads = True
    with pytest.raises(OSError) as e:
        mm.read(3)
    assert e.value.errno == errno.EIO and "page 3" in str(e.value)
    assert system.vmstat["pswpin"] == 0  # not counted for a failed batch
    assert not pte_present(int(mm.ptes[3]))  # still on swap
    assert si.inflight == 0
    assert ("submit_read" in system.printk.text()) == raises
    be.fail_reads = False
    assert mm.read(3) == bytes([10]) * PAGE_SIZE
    assert system.vmstat["pswpin"] == 1
    system.swapoff(si.bdev)  # brings every page back through the working backend
    assert [mm.read(i) for i in range(40)] == [bytes([i + 7]) * PAGE_SIZE for i in range(40)]

def test_failed_read_batch_flags(system):
    be = ArrayBackend(2048)
    area_with(system, be)
    fs = [swap_folio(system) for _ in range(3)]
    write_folios(system, fs)
    be.fail_reads = True
    ctx = SwapIoCtx()
    for f in fs:
        f.lock()
        f.clear(PG.uptodate)
        swap_read_folio(f, ctx)
    swap_read_submit(ctx)
    for f in fs:
        assert not f.test(PG.uptodate) and f.test(PG.error) and not f.test(PG.locked)


def test_zero_pages_never_reach_the_device(system):
    be = ArrayBackend(2048)
    si = area_with(system, be)
    mm = system.create_mm(10)
    for i in range(10):
        mm.write(i, bytes(PAGE_SIZE) if i % 2 else b"\1" * PAGE_SIZE)
    mm.pageout()
    assert sum(len(b[1]) for b in be.batches) == 5
    assert system.vmstat["swpout_zero"] == 5 and system.vmstat["pswpout"] == 5
    assert int(np.count_nonzero(si.zeromap)) == 5
    assert all(mm.read(i) == (bytes(PAGE_SIZE) if i % 2 else b"\1" * PAGE_SIZE)
               for i in range(10))
    assert system.vmstat["swpin_zero"] == 5 and system.vmstat["pswpin"] == 5


@pytest.mark.parametrize("order", [2, 4, 9])
def test_large_folios_count_as_one_bvec(system, order):
    be = ArrayBackend(8192)
    area_with(system, be)
    fs = [swap_folio(system, order=order) for _ in range(2)]
    write_folios(system, fs)
    assert [len(b[1]) for b in be.batches] == [2]
    n = 1 << order
    assert system.vmstat["pswpout"] == 2 * n
    assert system.vmstat.mthp(order, "swpout") == 2
    assert system.vmstat["thp_swpout"] == (2 if order == 9 else 0)
    saved = [f.data.copy() for f in fs]
    ctx = SwapIoCtx()
    for f in fs:
        f.lock()
        f.clear(PG.uptodate)
        f.data[:] = 0
        swap_read_folio(f, ctx)
    swap_read_submit(ctx)
    assert system.vmstat["pswpin"] == 2 * n
    assert system.vmstat.mthp(order, "swpin") == 2
    assert all((f.data == d).all() for f, d in zip(fs, saved, strict=True))
    release_large(system, fs)


def test_write_then_read_through_bdev_ops_on_both_disks(system, disk, pages):
    system.mkswap(disk)
    system.swapon(disk)
    mm = system.create_mm(len(pages))
    for i, p in enumerate(pages):
        mm.write(i, p)
    mm.pageout()
    assert system.vmstat["nrswpout"] == -(-len(pages) // 32)
    order = np.random.default_rng(3).permutation(len(pages))
    assert all(mm.read(int(i)) == pages[int(i)] for i in order)


def test_file_ops_merge_by_file_offset(system, tmp_path, pages):
    import os

    f = tmp_path / "swapfile"
    with open(f, "wb") as fh:
        os.posix_fallocate(fh.fileno(), 0, 8 << 20)
    system.mkswap(f)
    si = system.swapon(f)
    assert si.ops.name == "fs"
    mm = system.create_mm(100)
    for i in range(100):
        mm.write(i, pages[i])
    mm.pageout()
    assert system.vmstat["nrswpout"] == 4
    with open(f, "rb") as fh:
        for i in (0, 57, 99):
            fh.seek(PAGE_SIZE * (1 + i))
            assert fh.read(PAGE_SIZE) == pages[i]
    assert all(mm.read(i) == pages[i] for i in range(100))


@pytest.fixture
def tiny_tmpfs(tmp_path):
    """A 1 MiB tmpfs mounted for the test (root only): writes past it get ENOSPC."""
    import os
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                       capture_output=True)
    if r.returncode:
        pytest.skip(f"cannot mount tmpfs: {r.stderr.decode().strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_write_error_on_a_real_file_keeps_pages(system, tiny_tmpfs, pages):
    """A disk over a sparse file on a full filesystem: swap writes get ENOSPC from
    the filesystem, every page stays in memory, dirty, and reads back intact."""
    d = system.add_filedisk(tiny_tmpfs / "disk.img", "4M")
    filler = tiny_tmpfs / "filler"
    system.mkswap(d)
    import os

    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, bytes(PAGE_SIZE))
    except OSError as e:
        assert e.errno == errno.ENOSPC
    finally:
        os.close(fd)
    system.swapon(d)
    mm = system.create_mm(64)
    for i in range(64):
        mm.write(i, pages[i])
    assert mm.pageout() == 0
    assert "Write-error on swap-device (7:0:" in system.printk.text()
    assert all(mm.read(i) == pages[i] for i in range(64))
    filler.unlink()
    assert mm.pageout() == 64
    assert all(mm.read(i) == pages[i] for i in range(64))


def test_read_error_on_a_real_file_then_recovery(system, tmp_path, pages):
    path = tmp_path / "disk.img"
    d = system.add_filedisk(path, "4M")
    system.mkswap(d)
    system.swapon(d)
    mm = system.create_mm(64)
    for i in range(64):
        mm.write(i, pages[i])
    mm.pageout()
    shutil.copy(path, tmp_path / "saved.img")
    import os

    os.truncate(path, PAGE_SIZE)  # every swapped page now reads short: EIO
    with pytest.raises(OSError) as e:
        mm.read(10)
    assert e.value.errno == errno.EIO
    assert "Read-error on swap-device (7:0:" in system.printk.text()
    shutil.copy(tmp_path / "saved.img", path)
    assert all(mm.read(i) == pages[i] for i in range(64))


def test_rw_mixing_in_one_ctx_flushes(system):
    be = ArrayBackend(2048)
    area_with(system, be)
    a, b = swap_folio(system), swap_folio(system)
    write_folios(system, [a])
    ctx = SwapIoCtx()
    b.clear(PG.dirty)
    swap_writeout([b], ctx)
    a.lock()
    a.clear(PG.uptodate)
    swap_add_folio(ctx, a, READ)
    assert [x[0] for x in be.batches] == [WRITE, WRITE]
    swap_read_submit(ctx)
    assert [x[0] for x in be.batches] == [WRITE, WRITE, READ]


class _Raising(ArrayBackend):
    """A broken backend: its submit raises instead of completing the batch."""

    def submit_write(self, ctx) -> None:
        if self.fail_writes:
            raise RuntimeError("backend bug in submit_write")
        super().submit_write(ctx)

    def submit_read(self, ctx) -> None:
        if self.fail_reads:
            raise RuntimeError("backend bug in submit_read")
        super().submit_read(ctx)


def test_a_backend_raising_in_submit_write_fails_the_batch_and_keeps_the_data(system):
    be = _Raising(2048)
    si = area_with(system, be)
    mm = system.create_mm(40)
    data = [bytes([i + 1]) * PAGE_SIZE for i in range(40)]
    for i, d in enumerate(data):
        mm.write(i, d)
    be.fail_writes = True
    assert mm.pageout() == 0  # nothing freed: every write batch failed
    assert si.inflight == 0
    assert "submit_write" in system.printk.text() and "backend bug" in system.printk.text()
    for pfn in si.cache[si.cache >= 0]:
        f = Folio(system.mem, int(pfn))
        assert f.test(PG.dirty) and not f.test(PG.writeback)
    assert [mm.read(i) for i in range(40)] == data
    system.swapoff(si.bdev)  # does not wait for a batch that never ends
    assert not system.swap.active()


class _Slow(ArrayBackend):
    """A backend that holds every batch ``delay`` seconds before completing it."""

    delay = 0.02

    def submit_write(self, ctx) -> None:
        time.sleep(self.delay)
        super().submit_write(ctx)

    def submit_read(self, ctx) -> None:
        time.sleep(self.delay)
        super().submit_read(ctx)


def test_an_area_sums_the_time_its_backend_holds_each_batch(system):
    be = _Slow(2048)
    si = area_with(system, be)
    mm = system.create_mm(8)
    for i in range(8):
        mm.write(i, bytes([i + 1]) * PAGE_SIZE)
    assert si.backend_ns == [0, 0]
    mm.pageout()
    writes = sum(1 for b in be.batches if b[0] == WRITE)
    assert writes and si.backend_ns[WRITE] >= writes * _Slow.delay * 1e9
    assert si.backend_ns[READ] == 0
    assert mm.read(3) == bytes([4]) * PAGE_SIZE  # one fault, one read batch at least
    reads = sum(1 for b in be.batches if b[0] == READ)
    assert reads and si.backend_ns[READ] >= reads * _Slow.delay * 1e9
