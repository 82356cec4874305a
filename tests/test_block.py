"""The block layer: bios, accounting, pread/pwrite like /dev/X, the two real disks."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest

from swaplab import PAGE_SIZE
from swaplab.block import (
    Bio,
    ReqOp,
    bio_endio,
    blk_plug,
    submit_bio,
    submit_bio_wait,
    submit_bios_wait,
)
from swaplab.block.blkdev import BlkFeat


def test_pwrite_pread_roundtrip(disk):
    data = os.urandom(3 * PAGE_SIZE + 512)
    assert disk.pwrite(data, 8192 + 512) == len(data)
    assert disk.pread(len(data), 8192 + 512) == data
    assert disk.pread(512, 0) == bytes(512)


def test_alignment_is_einval(disk):
    with pytest.raises(OSError) as e:
        disk.pwrite(b"x" * 100, 0)
    assert e.value.errno == errno.EINVAL and "100" in str(e.value)
    with pytest.raises(OSError) as e:
        disk.pread(512, 3)
    assert e.value.errno == errno.EINVAL


def test_end_of_device(disk):
    cap = disk.capacity
    with pytest.raises(OSError) as e:
        disk.pwrite(bytes(512), cap)
    assert e.value.errno == errno.ENOSPC
    assert disk.pwrite(bytes(1024), cap - 512) == 512
    assert disk.pread(1024, cap - 512) == bytes(512)
    assert disk.pread(512, cap) == b""


def test_bio_past_end_is_eio(disk):
    buf = np.zeros(PAGE_SIZE, dtype=np.uint8)
    bio = Bio(disk, ReqOp.READ, disk.nr_sectors - 4, [buf])
    assert submit_bio_wait(bio) == -errno.EIO


def test_stat_accounting_matches_sys_block_stat(disk):
    disk.reset_stat()
    disk.pwrite(bytes(2 << 20), 0)  # two 1 MiB bios
    disk.pread(PAGE_SIZE, 0)
    st = disk.stat()
    assert st["write_ios"] == 2 and st["write_sectors"] == 4096
    assert st["read_ios"] == 1 and st["read_sectors"] == 8
    assert st["in_flight"] == 0
    text = disk.stat_text()
    fields = text.split()
    assert len(fields) == 17 and text.endswith("\n")
    assert int(fields[4]) == 2 and int(fields[6]) == 4096
    # 17 fields, each right-aligned in 8 columns, single spaces between
    assert len(text) == 17 * 9
    assert [int(text[i * 9 : i * 9 + 8]) for i in range(17)] == [int(f) for f in fields]


def test_bio_ends_exactly_once(ramdisk):
    ended = []
    buf = np.zeros(PAGE_SIZE, dtype=np.uint8)
    bio = Bio(ramdisk, ReqOp.READ, 0, [buf], end_io=ended.append)
    submit_bio(bio)
    assert ended == [bio]
    with pytest.raises(RuntimeError):
        bio_endio(bio)


def test_ramdisk_discard_zeroes(ramdisk):
    ramdisk.pwrite(b"\xff" * PAGE_SIZE, PAGE_SIZE)
    ramdisk.discard(PAGE_SIZE, PAGE_SIZE)
    assert ramdisk.pread(PAGE_SIZE, PAGE_SIZE) == bytes(PAGE_SIZE)
    assert ramdisk.stat()["discard_ios"] == 1


def test_filedisk_uses_a_real_file_with_o_direct(system, tmp_path):
    path = tmp_path / "d.img"
    d = system.add_filedisk(path, "1M")
    drv = system.driver(d)
    assert path.stat().st_size == 1 << 20
    assert drv.direct_io and drv.direct_io_fallback is None
    data = os.urandom(PAGE_SIZE)
    d.pwrite(data, PAGE_SIZE)
    with open(path, "rb") as f:
        f.seek(PAGE_SIZE)
        assert f.read(PAGE_SIZE) == data
    assert not d.features & BlkFeat.ROTATIONAL
    assert system.add_filedisk(tmp_path / "r.img", "1M", rotational=True).features & \
        BlkFeat.ROTATIONAL


def test_filedisk_falls_back_and_surfaces_enospc(system):
    """/dev/full refuses O_DIRECT (fallback, said clearly) and fails writes with ENOSPC."""
    d = system.add_filedisk("/dev/full", "1M")
    drv = system.driver(d)
    assert not drv.direct_io and "O_DIRECT" in drv.direct_io_fallback
    with pytest.raises(OSError) as e:
        d.pwrite(bytes(PAGE_SIZE), 0)
    assert e.value.errno == errno.ENOSPC
    assert d.pread(PAGE_SIZE, 0) == bytes(PAGE_SIZE)


def test_filedisk_short_read_is_eio(system, tmp_path):
    path = tmp_path / "d.img"
    d = system.add_filedisk(path, "1M")
    os.truncate(path, PAGE_SIZE)
    with pytest.raises(OSError) as e:
        d.pread(PAGE_SIZE, 8 * PAGE_SIZE)
    assert e.value.errno == errno.EIO


def test_filedisk_unaligned_buffers_bounce(system, tmp_path):
    d = system.add_filedisk(tmp_path / "d.img", "1M")
    raw = bytearray(PAGE_SIZE + 1)
    raw[1:] = os.urandom(PAGE_SIZE)
    view = memoryview(raw)[1:]
    d.pwrite(view, 0)
    assert d.pread(PAGE_SIZE, 0) == bytes(view)


def test_filedisk_needs_size_for_char_devices(system):
    with pytest.raises(OSError) as e:
        system.add_filedisk("/dev/zero")
    assert e.value.errno == errno.EINVAL


def test_device_names_and_removal(system, tmp_path):
    a, b = system.add_ramdisk("1M"), system.add_ramdisk("1M")
    assert (a.name, b.name, a.path) == ("ram0", "ram1", "/dev/ram0")
    system.mkswap(a)
    system.swapon(a)
    with pytest.raises(OSError) as e:
        system.del_disk(a)
    assert e.value.errno == errno.EBUSY
    system.swapoff(a)
    system.del_disk(a)
    assert "ram0" not in system.block


def test_flush_reaches_the_driver(system, tmp_path):
    d = system.add_filedisk(tmp_path / "d.img", "1M")
    bio = Bio(d, ReqOp.FLUSH, 0, nr_sectors=0)
    assert submit_bio_wait(bio) == 0
    assert d.stat()["flush_ios"] == 1


# --- plugging ---------------------------------------------------------------------------

def _pages(n, seed):
    return np.random.default_rng(seed).integers(0, 256, (n, PAGE_SIZE), dtype=np.uint8)


def _plugged_writes(dev, pages, blocks):
    """Write page k to block blocks[k] under one plug, one bio each; the bios."""
    ended = []
    bios = [Bio(dev, ReqOp.WRITE, b * 8, [pages[k]], end_io=ended.append)
            for k, b in enumerate(blocks)]
    with blk_plug():
        for bio in bios:
            submit_bio(bio)
        held = len(ended)
    return bios, ended, held


def test_plug_merges_neighbouring_writes_into_one_request(filedisk):
    pages = _pages(6, 1)
    bios, ended, held = _plugged_writes(filedisk, pages, [10, 11, 12, 20, 21, 5])
    assert held == 0  # nothing reached the driver before the plug ended
    assert ended == bios and all(b.status == 0 for b in bios)
    st = filedisk.stat()
    # three requests: 10-12, 20-21 and 5; three bios merged into earlier ones
    assert (st["write_ios"], st["write_merges"], st["write_sectors"]) == (3, 3, 6 * 8)
    for k, b in enumerate([10, 11, 12, 20, 21, 5]):
        assert filedisk.pread(PAGE_SIZE, b * PAGE_SIZE) == pages[k].tobytes()


def test_bio_based_devices_see_every_bio(ramdisk):
    pages = _pages(4, 2)
    bios, ended, held = _plugged_writes(ramdisk, pages, [0, 1, 2, 3])
    assert held == 4 and ended == bios
    st = ramdisk.stat()
    assert (st["write_ios"], st["write_merges"]) == (4, 0)


def test_a_full_plug_and_a_sleeping_submitter_flush(filedisk):
    from swaplab.block.plug import BLK_MAX_REQUEST_COUNT

    pages = _pages(BLK_MAX_REQUEST_COUNT + 1, 3)
    ended = []
    with blk_plug():  # every other block: nothing merges
        for k in range(BLK_MAX_REQUEST_COUNT + 1):
            submit_bio(Bio(filedisk, ReqOp.WRITE, 2 * k * 8, [pages[k]], end_io=ended.append))
        assert len(ended) == BLK_MAX_REQUEST_COUNT  # the 33rd request flushed the first 32
        # a thread about to sleep on I/O dispatches its plug first: no deadlock
        out = np.empty(PAGE_SIZE, np.uint8)
        assert submit_bio_wait(Bio(filedisk, ReqOp.READ, 0, [out])) == 0
        assert len(ended) == BLK_MAX_REQUEST_COUNT + 1
    assert np.array_equal(out, pages[0])


def test_a_failed_merged_request_fails_every_bio_in_it(system, filedisk):
    pages = _pages(3, 4)
    system.faults.arm("disk.write.eio", target=filedisk.name, times=1)
    bios, ended, _ = _plugged_writes(filedisk, pages, [7, 8, 9])
    assert ended == bios and [b.status for b in bios] == [errno.EIO] * 3
    assert filedisk.pread(3 * PAGE_SIZE, 7 * PAGE_SIZE) == bytes(3 * PAGE_SIZE)


def test_submit_bios_wait_returns_each_result_in_order(system, filedisk):
    pages = _pages(4, 5)
    chained = []
    # 3 and 4 are neighbours (one request under the plug); 9 fails, alone
    bios = [Bio(filedisk, ReqOp.WRITE, b * 8, [pages[k]]) for k, b in enumerate([3, 4, 9, 12])]
    bios[1].end_io = chained.append
    system.faults.arm("disk.write.eio", target=filedisk.name, times=1, skip=1)
    with blk_plug():
        assert submit_bios_wait(bios) == [0, 0, -errno.EIO, 0]
    assert chained == [bios[1]]  # the submitter's own end_io still runs, once
    st = filedisk.stat()
    assert (st["write_ios"], st["write_merges"]) == (3, 1)
    for k, b in ((0, 3), (1, 4), (3, 12)):
        assert filedisk.pread(PAGE_SIZE, b * PAGE_SIZE) == pages[k].tobytes()
    assert filedisk.pread(PAGE_SIZE, 9 * PAGE_SIZE) == bytes(PAGE_SIZE)
    assert submit_bios_wait([]) == []
