"""swapon / swapoff, priorities, flags, /proc/swaps."""

from __future__ import annotations

import errno
import os

import pytest

from swaplab import PAGE_SIZE, SWP, System
from swaplab.mm.folio import Folio
from swaplab.mm.swapfile import (
    SWAP_FLAG_DISCARD,
    SWAP_FLAG_PREFER,
    folio_alloc_swap,
)
from swaplab.mm.swapops import MAX_SWAPFILES, swp_type


def test_swp_flag_values_are_the_kernels():
    assert (SWP.USED, SWP.WRITEOK, SWP.DISCARDABLE, SWP.SOLIDSTATE, SWP.BLKDEV,
            SWP.ACTIVATED, SWP.STABLE_WRITES, SWP.SYNCHRONOUS_IO) == \
        (1, 2, 4, 16, 64, 128, 1 << 11, 1 << 12)
    assert SWAP_FLAG_PREFER == 0x8000 and SWAP_FLAG_DISCARD == 0x10000


def test_swapon_sets_up_the_area(system, disk):
    system.mkswap(disk)
    si = system.swapon(disk)
    assert si.type == 0 and si.prio == -1
    assert si.max == disk.capacity // PAGE_SIZE and si.pages == si.max - 1
    assert si.inuse_pages == 0
    assert si.flags & (SWP.USED | SWP.WRITEOK | SWP.BLKDEV | SWP.SOLIDSTATE)
    assert not si.flags & SWP.SYNCHRONOUS_IO
    assert si.ops.name == "bdev" and si.private_data is None
    assert si.bdev is disk and si.swap_file is None
    assert system.swap.total_swap_pages == si.pages == system.swap.nr_swap_pages
    assert "Adding 16380k swap on " + disk.path in system.printk.text()


def test_synchronous_device_gives_synchronous_io(system):
    rd = system.add_ramdisk("4M", synchronous=True)
    system.mkswap(rd)
    assert system.swapon(rd).flags & SWP.SYNCHRONOUS_IO


def test_no_signature_is_einval(system, ramdisk):
    with pytest.raises(OSError) as e:
        system.swapon(ramdisk)
    assert e.value.errno == errno.EINVAL and "signature" in str(e.value)
    assert ramdisk.holder is None  # nothing left claimed


def test_already_active_is_ebusy(system, disk, tmp_path):
    system.mkswap(disk)
    system.swapon(disk)
    with pytest.raises(OSError) as e:
        system.swapon(disk)
    assert e.value.errno == errno.EBUSY
    f = tmp_path / "swapfile"
    with open(f, "wb") as fh:
        os.posix_fallocate(fh.fileno(), 0, 1 << 20)
    system.mkswap(f)
    system.swapon(f)
    with pytest.raises(OSError) as e:
        system.swapon(str(f))
    assert e.value.errno == errno.EBUSY


def test_unknown_flags_are_einval(system, ramdisk):
    system.mkswap(ramdisk)
    with pytest.raises(OSError) as e:
        system.swapon(ramdisk, flags=0x100000)
    assert e.value.errno == errno.EINVAL and "0x100000" in str(e.value)


def test_more_than_max_swapfiles_is_eperm():
    s = System("16M")
    try:
        disks = [s.add_ramdisk("64K") for _ in range(MAX_SWAPFILES + 1)]
        for d in disks[:MAX_SWAPFILES]:
            s.mkswap(d)
            s.swapon(d)
        s.mkswap(disks[-1])
        with pytest.raises(OSError) as e:
            s.swapon(disks[-1])
        assert e.value.errno == errno.EPERM
        assert disks[-1].holder is None
    finally:
        s.close()


def test_swapoff_not_active_is_einval(system, ramdisk):
    with pytest.raises(OSError) as e:
        system.swapoff(ramdisk)
    assert e.value.errno == errno.EINVAL and "/dev/ram0" in str(e.value)


def test_header_claims_more_than_the_device(system, tmp_path):
    big, small = system.add_ramdisk("8M"), system.add_ramdisk("4M")
    system.mkswap(big)
    small.pwrite(big.pread(PAGE_SIZE, 0), 0)
    with pytest.raises(OSError) as e:
        system.swapon(small)
    assert e.value.errno == errno.EINVAL and "shorter" in str(e.value)


def test_bad_pages_are_never_allocated(system, ramdisk):
    from swaplab.mm.swap_header import build_swap_header

    ramdisk.pwrite(build_swap_header(4096, badpages=(1, 2, 3)), 0)
    si = system.swapon(ramdisk)
    assert si.pages == 4096 - 1 - 3
    f = Folio.alloc(system.mem)
    assert folio_alloc_swap(f) == 0
    assert f.swap & 0xFFFF == 4


def test_priorities_highest_first(system):
    a, b = system.add_ramdisk("4M"), system.add_ramdisk("4M")
    for d in (a, b):
        system.mkswap(d)
    lo = system.swapon(a, prio=5)
    hi = system.swapon(b, prio=10)
    types = []
    for _ in range(600):
        f = Folio.alloc(system.mem)
        assert folio_alloc_swap(f) == 0
        types.append(swp_type(f.swap))
    assert set(types) == {hi.type}
    assert lo.inuse_pages == 0


def test_equal_priorities_round_robin_by_cluster(system):
    a, b = system.add_ramdisk("8M"), system.add_ramdisk("8M")
    for d in (a, b):
        system.mkswap(d)
    sa, sb = system.swapon(a), system.swapon(b)
    types = []
    for _ in range(511 + 512 + 512 + 100):
        f = Folio.alloc(system.mem)
        assert folio_alloc_swap(f) == 0
        types.append(swp_type(f.swap))
    # cluster 0 of a has the header (511 slots), then b's cluster 0, then a's cluster 1...
    runs = []
    for t in types:
        if not runs or runs[-1][0] != t:
            runs.append([t, 0])
        runs[-1][1] += 1
    assert [r[0] for r in runs] == [sa.type, sb.type, sa.type, sb.type]
    assert [r[1] for r in runs][:2] == [511, 511]


def test_proc_swaps_format(system, tmp_path):
    rd = system.add_ramdisk("16M")
    system.mkswap(rd)
    system.swapon(rd, prio=3)
    f = tmp_path / "swap file"
    with open(f, "wb") as fh:
        os.posix_fallocate(fh.fileno(), 0, 1 << 20)
    system.mkswap(f)
    system.swapon(f)
    text = system.proc_swaps()
    lines = text.split("\n")
    assert lines[0] == "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority"
    assert lines[1] == "/dev/ram0" + " " * 31 + "partition\t16380\t\t0\t\t3"
    esc = str(f).replace(" ", "\\040")
    pad = " " * (40 - len(esc)) if len(esc) < 40 else " "
    assert lines[2] == f"{esc}{pad}file\t\t1020\t\t0\t\t-1"
    assert text.endswith("\n") and len(lines) == 4


def test_proc_swaps_large_sizes_drop_the_second_tab(system):
    rd = system.add_ramdisk("16G")
    system.mkswap(rd)
    system.swapon(rd)
    line = system.proc_swaps().split("\n")[1]
    assert line.endswith("partition\t16777212\t0\t\t-1")


def test_discard_flags(system):
    rd = system.add_ramdisk("4M")
    system.mkswap(rd)
    rd.pwrite(b"\xff" * PAGE_SIZE, 8 * PAGE_SIZE)
    si = system.swapon(rd, flags=SWAP_FLAG_DISCARD)
    assert si.flags & (SWP.DISCARDABLE | SWP.AREA_DISCARD | SWP.PAGE_DISCARD) == \
        SWP.DISCARDABLE | SWP.AREA_DISCARD | SWP.PAGE_DISCARD
    assert rd.pread(PAGE_SIZE, 8 * PAGE_SIZE) == bytes(PAGE_SIZE)  # area discarded
    assert rd.pread(PAGE_SIZE, 0)[-10:] == b"SWAPSPACE2"  # header kept


def test_swapfile_with_holes_is_einval(system, tmp_path):
    f = tmp_path / "sparse"
    f.write_bytes(b"")
    os.truncate(f, 1 << 20)
    system.mkswap(f)
    with pytest.raises(OSError) as e:
        system.swapon(f)
    assert e.value.errno == errno.EINVAL
    assert "swapfile has holes" in system.printk.text()


def test_swapfile_extents_from_the_block_map(system, tmp_path):
    f = tmp_path / "swapfile"
    with open(f, "wb") as fh:
        os.posix_fallocate(fh.fileno(), 0, 4 << 20)
    system.mkswap(f)
    si = system.swapon(f)
    assert si.ops.name == "fs" and not si.flags & SWP.BLKDEV
    assert sum(n for _, n, _ in si.extents) == si.max == 1024
    assert si.extents[0][0] == 0
    assert si.swap_file == str(f)
    with pytest.raises(FileNotFoundError):
        system.swapon(tmp_path / "missing")


def test_swapoff_brings_every_page_back(system, disk, pages):
    system.mkswap(disk)
    system.swapon(disk)
    mm = system.create_mm(len(pages))
    for i, p in enumerate(pages):
        mm.write(i, p)
    assert mm.pageout() == len(pages)
    assert mm.resident() == 0
    si = system.swap.active()[0]
    assert si.inuse_pages == len(pages)
    assert si.writeok and si.solidstate  # the bools the hot paths read, beside the flags
    free_before = system.mem.nr_free
    system.swapoff(disk)
    assert not si.writeok and not si.flags & SWP.WRITEOK
    assert system.swap.active() == [] and disk.holder is None
    assert mm.resident() == len(pages)
    assert system.mem.nr_free == free_before - len(pages)
    reads = system.vmstat["pswpin"]
    assert reads == len(pages)  # through the normal read path
    assert all(mm.read(i) == p for i, p in enumerate(pages))
    assert system.vmstat["pswpin"] == reads  # no more I/O: all in memory
    assert system.swap.total_swap_pages == 0 == system.swap.nr_swap_pages


def test_swapoff_of_a_swapfile(system, tmp_path, pages):
    f = tmp_path / "swapfile"
    with open(f, "wb") as fh:
        os.posix_fallocate(fh.fileno(), 0, 4 << 20)
    system.mkswap(f)
    system.swapon(f)
    mm = system.create_mm(300)
    for i in range(300):
        mm.write(i, pages[i])
    mm.pageout()
    system.swapoff(str(f))
    assert all(mm.read(i) == pages[i] for i in range(300))


def test_swapoff_enomem_changes_nothing(pages):
    s = System("4M")  # 1024 frames
    try:
        rd = s.add_ramdisk("8M")
        s.mkswap(rd)
        si = s.swapon(rd)
        mm = s.create_mm(900)
        for i in range(900):
            mm.write(i, pages[i % len(pages)])
        mm.pageout()
        hog = s.create_mm(400)
        for i in range(400):
            hog.write(i, pages[0])
        with pytest.raises(OSError) as e:
            s.swapoff(rd)
        assert e.value.errno == errno.ENOMEM and "900" in str(e.value)
        assert si.flags & SWP.WRITEOK and s.swap.active() == [si]
        assert si.inuse_pages == 900 and mm.resident() == 0
        s.exit_mm(hog)
        s.swapoff(rd)
        assert all(mm.read(i) == pages[i % len(pages)] for i in range(900))
    finally:
        s.close()


def test_queue_features_become_swp_flags(system):
    from swaplab.block.blkdev import BlkFeat

    rd = system.add_ramdisk("4M", synchronous=True)
    rd.features |= BlkFeat.STABLE_WRITES | BlkFeat.ROTATIONAL
    system.mkswap(rd)
    si = system.swapon(rd)
    assert si.flags & SWP.STABLE_WRITES and si.flags & SWP.SYNCHRONOUS_IO
    assert not si.flags & SWP.SOLIDSTATE
