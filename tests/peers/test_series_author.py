"""The swap_ops series author's four subtests, against swaplab's zram through
its swap_ops: swap integrity without backing-device reads, notify_free and
cleanup, writeback integrity, repeated setup/teardown."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import sample_page_bytes
from swaplab import System, VirtualClock
from swaplab.drivers.zram.swap_ops import zram_swap_ops

PAGES = sample_page_bytes(1500, seed=41)


def mm_stat(z):
    return [int(x) for x in z.attr["mm_stat"].split()]


def bd_stat(z):
    return [int(x) for x in z.attr["bd_stat"].split()]


@pytest.fixture
def machine(tmp_path):
    clock = VirtualClock()
    s = System("32M", clock=clock)  # 8192 frames; the workload is 1500 pages
    s.clock_ = clock
    s.tmp = tmp_path
    yield s
    s.close()


def setup_swap(s, backing: bool):
    z = s.load_zram()[0] if "zram" not in s.modules else s.modules["zram"][0]
    if backing:
        disk = s.add_filedisk(s.tmp / "backing.img", "16M")
        z.attr["backing_dev"] = disk.path
    z.attr["comp_algorithm"] = "lz4"
    z.attr["disksize"] = "16M"
    s.mkswap(z.bdev)
    si = s.swapon(z.bdev)
    assert si.ops is zram_swap_ops and si.private_data is z
    return z


def swap_cycle(s, mm):
    for i, p in enumerate(PAGES):
        mm.write(i, p)
    assert mm.pageout() == len(PAGES)


def test_swap_integrity_without_backing_device_reads(machine):
    z = setup_swap(machine, backing=True)
    mm = machine.create_mm(len(PAGES))
    swap_cycle(machine, mm)
    for i in np.random.default_rng(0).permutation(len(PAGES)):
        assert mm.read(int(i)) == PAGES[int(i)]
    assert bd_stat(z)[1] == 0  # nothing was written back, so nothing read from it


def test_notify_free_rises_and_compr_data_returns_to_zero(machine):
    z = setup_swap(machine, backing=False)
    mm = machine.create_mm(len(PAGES))
    swap_cycle(machine, mm)
    assert mm_stat(z)[1] > 0
    before = z.stats["notify_free"]
    for i in range(0, len(PAGES), 2):
        mm.read(i)
    assert z.stats["notify_free"] >= before + len(PAGES) // 2
    machine.exit_mm(mm)
    machine.swapoff(z.bdev)
    z.attr["reset"] = "1"
    assert mm_stat(z)[1] == 0 and mm_stat(z)[0] == 0


def test_writeback_integrity(machine):
    z = setup_swap(machine, backing=True)
    mm = machine.create_mm(len(PAGES))
    swap_cycle(machine, mm)
    machine.clock_.advance(60)
    z.attr["idle"] = "all"
    z.attr["writeback"] = "type=idle"
    assert bd_stat(z)[2] > 0
    for i in np.random.default_rng(1).permutation(len(PAGES)):
        assert mm.read(int(i)) == PAGES[int(i)]
    assert bd_stat(z)[1] > 0


def test_three_setup_swapoff_reset_cycles(machine):
    for cycle in range(3):
        z = setup_swap(machine, backing=False)
        mm = machine.create_mm(len(PAGES))
        swap_cycle(machine, mm)
        assert all(mm.read(i) == PAGES[i] for i in range(0, len(PAGES), 7))
        machine.exit_mm(mm)
        machine.swapoff(z.bdev)
        z.attr["reset"] = "1"
        assert mm_stat(z) == [0] * 9, f"cycle {cycle}"
