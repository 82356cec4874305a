"""How a driver provides its ops: registration, swap_activate, the bio-per-page ops,
and swap_range_free's order of hooks."""

from __future__ import annotations

import errno

import pytest

from backends import ArrayBackend, fops_like_brd, ramdisk_with_fops
from swaplab import PAGE_SIZE, SWP, SwapOps
from swaplab.mm.page_io import swap_bdev_ops
from swaplab.mm.swapops import swp_offset, swp_type


def test_register_needs_submit_read_and_write(system):
    fops = fops_like_brd("drv")
    be = ArrayBackend(16)
    bad = SwapOps(name="bad", submit_write=be.submit_write, submit_read=None)
    assert system.swap_register_block_ops(fops, bad) == -errno.EINVAL
    bad = SwapOps(name="bad", submit_write=None, submit_read=be.submit_read)
    assert system.swap_register_block_ops(fops, bad) == -errno.EINVAL
    assert system.swap_register_block_ops(fops, be.ops) == 0
    assert system.swap_register_block_ops(fops, ArrayBackend(16).ops) == -errno.EBUSY


def test_two_drivers_registered_at_once(system):
    fa, fb = fops_like_brd("drv_a"), fops_like_brd("drv_b")
    ba, bb = ArrayBackend(2048), ArrayBackend(2048)
    assert system.swap_register_block_ops(fa, ba.ops) == 0
    assert system.swap_register_block_ops(fb, bb.ops) == 0
    da = ramdisk_with_fops(system, 8 << 20, fa, name="a")
    db = ramdisk_with_fops(system, 8 << 20, fb, name="b")
    plain = system.add_ramdisk("8M")
    for d in (da, db, plain):
        system.mkswap(d)
    sa, sb, sp = system.swapon(da), system.swapon(db), system.swapon(plain)
    assert sa.ops is ba.ops and sb.ops is bb.ops and sp.ops is swap_bdev_ops
    mm = system.create_mm(3 * 600)
    for i in range(1800):
        mm.write(i, bytes([i % 250 + 1]) * PAGE_SIZE)
    mm.pageout()
    assert ba.batches and bb.batches
    assert all(mm.read(i) == bytes([i % 250 + 1]) * PAGE_SIZE for i in range(1800))


def test_unregister_of_another_driver_warns(system):
    fa, fb = fops_like_brd("drv_a"), fops_like_brd("drv_b")
    assert system.swap_register_block_ops(fa, ArrayBackend(16).ops) == 0
    with pytest.warns(RuntimeWarning, match="drv_b"):
        system.swap_unregister_block_ops(fb)
    assert "WARNING: swap_unregister_block_ops" in system.printk.text()
    assert id(fa) in system.swap.block_ops  # the other registration stays
    system.swap_unregister_block_ops(fa)
    assert system.swap.block_ops == {}


def test_areas_keep_their_ops_until_swapoff(system):
    fops = fops_like_brd("drv")
    be = ArrayBackend(2048)
    system.swap_register_block_ops(fops, be.ops)
    d = ramdisk_with_fops(system, 8 << 20, fops)
    system.mkswap(d)
    si = system.swapon(d)
    system.swap_unregister_block_ops(fops)
    assert si.ops is be.ops
    mm = system.create_mm(10)
    for i in range(10):
        mm.write(i, b"\7" * PAGE_SIZE)
    mm.pageout()
    assert be.batches
    system.swapoff(d)
    si = system.swapon(d)
    assert si.ops is swap_bdev_ops


def test_swap_activate_installs_ops_and_private_data(system):
    be = ArrayBackend(2048)
    seen = {}

    def activate(sis):
        seen["sis"] = sis
        sis.ops = be.ops
        sis.private_data = {"driver": "state"}
        return 0

    def deactivate(sis):
        seen["deactivated"] = sis.private_data

    fops = fops_like_brd("act", swap_activate=activate, swap_deactivate=deactivate)
    other = ArrayBackend(16)
    assert system.swap_register_block_ops(fops, other.ops) == 0  # activate wins
    d = ramdisk_with_fops(system, 8 << 20, fops)
    system.mkswap(d)
    si = system.swapon(d)
    assert seen["sis"] is si and si.ops is be.ops
    assert si.private_data == {"driver": "state"}
    assert si.flags & SWP.ACTIVATED
    system.swapoff(d)
    assert seen["deactivated"] == {"driver": "state"}
    assert si.private_data is None and si.ops is None


def test_swap_activate_may_decline_or_fail(system):
    fops = fops_like_brd("no", swap_activate=lambda sis: -errno.EOPNOTSUPP)
    d = ramdisk_with_fops(system, 4 << 20, fops)
    system.mkswap(d)
    assert system.swapon(d).ops is swap_bdev_ops
    fops2 = fops_like_brd("fail", swap_activate=lambda sis: -errno.ENOMEM)
    d2 = ramdisk_with_fops(system, 4 << 20, fops2)
    system.mkswap(d2)
    with pytest.raises(OSError) as e:
        system.swapon(d2)
    assert e.value.errno == errno.ENOMEM
    assert d2.holder is None and len(system.swap.active()) == 1


def test_swap_activate_without_submit_is_einval(system):
    def activate(sis):
        sis.ops = SwapOps(name="half", submit_write=lambda ctx: None, submit_read=None)
        return 0

    d = ramdisk_with_fops(system, 4 << 20, fops_like_brd("half", swap_activate=activate))
    system.mkswap(d)
    with pytest.raises(OSError) as e:
        system.swapon(d)
    assert e.value.errno == errno.EINVAL


def test_pre_series_path_one_bio_per_page_and_bdev_notify(system):
    freed = []
    be = ArrayBackend(16)
    fops = fops_like_brd("old", swap_slot_free_notify=lambda bdev, off: freed.append(
        (bdev.name, off)), swap_activate=lambda sis: (_ for _ in ()).throw(
        AssertionError("the old path has no swap_activate")))
    system.swap_register_block_ops(fops, be.ops)
    d = ramdisk_with_fops(system, 8 << 20, fops)
    system.mkswap(d)
    si = system.swapon(d, ops="bio-per-page")
    assert si.ops.name == "bio-per-page"
    mm = system.create_mm(64)
    for i in range(64):
        mm.write(i, bytes([i + 1]) * PAGE_SIZE)
    d.reset_stat()
    mm.pageout()
    assert d.stat()["write_ios"] == 64  # one bio per page
    assert system.vmstat["nrswpout"] == 64  # one batch per folio
    assert not be.batches  # registration is not used on the old path
    entries = [mm.swap_entry_at(i) for i in range(64)]
    assert all(mm.read(i) == bytes([i + 1]) * PAGE_SIZE for i in range(64))
    mm.pageout()
    system.swapoff(d)
    assert sorted(off for _, off in freed) == sorted(swp_offset(e) for e in entries)
    assert {n for n, _ in freed} == {d.name}


def test_series_path_one_bio_per_batch_on_the_same_device(system):
    d = system.add_ramdisk("8M")
    system.mkswap(d)
    system.swapon(d)
    mm = system.create_mm(64)
    for i in range(64):
        mm.write(i, bytes([i + 1]) * PAGE_SIZE)
    d.reset_stat()
    mm.pageout()
    assert d.stat()["write_ios"] == 2


def test_bio_per_page_ops_need_a_block_device(system, tmp_path):
    with pytest.raises(OSError) as e:
        system.swapon(tmp_path / "f", ops="bio-per-page")
    assert e.value.errno == errno.EINVAL


class ZswapRecorder:
    """Records the hooks the core calls on zswap (nothing stored: every load misses)."""

    def __init__(self, log, si_ref):
        self.log, self.si_ref = log, si_ref

    def store(self, folio):
        return False

    def load(self, folio):
        return -errno.ENOENT

    def invalidate(self, entry):
        self.log.append(("zswap", swp_offset(entry)))

    def swapon(self, type_, maxpages):
        self.log.append(("swapon", type_))

    def swapoff(self, type_):
        self.log.append(("swapoff", type_))

    def destroy(self):
        self.log.append(("destroy",))


def test_swap_range_free_order(system):
    log: list = []
    si_ref: list = []
    be = ArrayBackend(2048)

    def notify(sis, off):
        c = off // 512
        log.append(("notify", off, sis.cluster_locks[c].locked()))

    ops = SwapOps(name="rec", submit_write=be.submit_write, submit_read=be.submit_read,
                  slot_free_notify=notify)

    def activate(sis):
        sis.ops = ops
        return 0

    system.zswap = ZswapRecorder(log, si_ref)
    d = ramdisk_with_fops(system, 8 << 20, fops_like_brd("rec", swap_activate=activate))
    system.mkswap(d)
    si = system.swapon(d)
    assert log == [("swapon", si.type)]
    from swaplab import Folio
    from swaplab.mm.swapfile import folio_alloc_swap, swap_cache_del_folio

    f = Folio.alloc(system.mem, 2)
    f.lock()
    assert folio_alloc_swap(f) == 0
    off = swp_offset(f.swap)
    log.clear()
    swap_cache_del_folio(f)
    f.unlock()
    assert log == [("zswap", off + i) for i in range(4)] + \
        [("notify", off + i, True) for i in range(4)]
    assert swp_type(f.swap) == 0 and si.inuse_pages == 0
    log.clear()
    system.swapoff(d)
    assert log == [("swapoff", si.type)]


def test_swapon_names_only_the_cores_ops(system):
    with pytest.raises(OSError) as e:
        system.swapon(system.add_ramdisk("1M"), ops="bio")
    assert e.value.errno == errno.EINVAL and "bio-per-page" in str(e.value)


def test_bio_per_page_ops_report_frees_to_the_block_device(system):
    """The per-page ops carry their own slot_free_notify: the core calls it like
    any ops table's, and it reaches the device's block_device_operations hook."""
    from swaplab.mm.page_io import swap_bio_per_page_ops

    z = system.load_module("zram")[0]
    z.attr["disksize"] = "1M"
    system.mkswap(z.bdev)
    si = system.swapon(z.bdev, ops="bio-per-page")
    assert si.ops is swap_bio_per_page_ops
    assert si.ops.slot_free_notify is not None
    mm = system.create_mm(4)
    for i in range(4):
        mm.write(i, bytes([i + 1]) * PAGE_SIZE)
    mm.pageout()
    before = z.stats["notify_free"]
    system.exit_mm(mm)  # frees every slot
    assert z.stats["notify_free"] == before + 4
