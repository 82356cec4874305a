"""The kernel's cgroup zswap selftest (tools/testing/selftests/cgroup/test_zswap.c),
its eight cases ported as behaviour specs against swaplab's cgroups and zswap.

A "process" here is an address space in the cgroup; the C test's
``allocate_bytes`` (write one byte per page) and ``allocate_and_read_bytes``
become page writes and reads through the fault path. Sizes are the C test's.
Left out: the writeback tests' child cgroup (swaplab's cgroups are flat, so
there is no parent setting to inherit).
"""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest

from conftest import zswap_machine
from swaplab import PAGE_SIZE, System
from swaplab.mm.zswap import Zswap

MB = 1 << 20


def _stat(cg, key: str) -> int:
    for line in cg.attr["memory.stat"].splitlines():
        k, v = line.split()
        if k == key:
            return int(v)
    raise KeyError(key)


@pytest.fixture
def machine(tmp_path):
    s, zs, _ = zswap_machine(tmp_path, "512M", "256M")
    yield s, zs
    s.close()


def _a_page() -> np.ndarray:
    p = np.zeros(PAGE_SIZE, np.uint8)
    p[0] = ord("a")
    return p


def allocate_bytes(s, cg, size: int, read: bool = False):
    mm = s.create_mm(size // PAGE_SIZE, memcg=cg)
    page = _a_page()
    for v in range(mm.nr_pages):
        mm.write(v, page)
    ok = True
    if read:
        ok = all(mm.read(v) == page.tobytes() for v in range(mm.nr_pages))
    return mm, ok


def test_zswap_usage(machine):
    s, _ = machine
    cg = s.create_cgroup("no_shrink_test")
    cg.attr["memory.max"] = "1M"
    before = _stat(cg, "zswpout")
    mm, _ = allocate_bytes(s, cg, 4 * MB)
    assert _stat(cg, "zswpout") > before
    s.exit_mm(mm)


def test_swapin_nozswap(machine):
    s, _ = machine
    cg = s.create_cgroup("no_zswap_test")
    cg.attr["memory.max"] = "24M"
    cg.attr["memory.zswap.max"] = "0"
    _mm, ok = allocate_bytes(s, cg, 32 * MB, read=True)
    assert ok
    assert int(cg.attr["memory.swap.peak"]) >= 8 * MB
    assert _stat(cg, "zswpout") == 0


def test_zswapin(machine):
    s, _ = machine
    cg = s.create_cgroup("zswapin_test")
    cg.attr["memory.max"] = "8M"
    cg.attr["memory.zswap.max"] = "max"
    _mm, ok = allocate_bytes(s, cg, 32 * MB, read=True)
    assert ok
    assert _stat(cg, "zswpin") >= 24 * MB // PAGE_SIZE


def _attempt_writeback(s, cg, wb: bool) -> None:
    memsize = PAGE_SIZE * 1024
    buf = np.zeros(PAGE_SIZE, np.uint8)
    buf[: PAGE_SIZE // 2] = np.arange(PAGE_SIZE // 2) % 256  # half data, half zeroes
    mm = s.create_mm(1024, memcg=cg)
    for v in range(1024):
        mm.write(v, buf)
    cg.attr["memory.reclaim"] = str(memsize)  # everything into zswap
    usage = int(cg.attr["memory.zswap.current"])
    assert usage > 0
    assert all(mm.read(v) == buf.tobytes() for v in range(1024))  # zswpin
    cg.attr["memory.zswap.max"] = str(usage // 2)
    if wb:
        cg.attr["memory.reclaim"] = str(memsize)
    else:
        with pytest.raises(OSError) as ei:
            cg.attr["memory.reclaim"] = str(memsize)
        assert ei.value.errno == errno.EAGAIN
    assert all(mm.read(v) == buf.tobytes() for v in range(1024))


@pytest.mark.parametrize("wb", [True, False], ids=["enabled", "disabled"])
def test_zswap_writeback(machine, wb):
    s, _ = machine
    cg = s.create_cgroup("zswap_writeback_test")
    cg.attr["memory.zswap.writeback"] = "1" if wb else "0"
    assert _stat(cg, "zswpwb") == 0
    _attempt_writeback(s, cg, wb)
    assert bool(_stat(cg, "zswpwb")) == wb


def test_no_invasive_cgroup_shrink(machine):
    s, _ = machine
    wb_group = s.create_cgroup("per_memcg_wb_test1")
    wb_group.attr["memory.zswap.max"] = "64K"
    wb_group.attr["memory.max"] = "32M"
    control = s.create_cgroup("per_memcg_wb_test2")
    control.attr["memory.max"] = "32M"
    allocate_bytes(s, control, 64 * MB)
    assert _stat(control, "zswapped") >= 1
    allocate_bytes(s, wb_group, 64 * MB)
    assert _stat(wb_group, "zswpwb") > 0 and _stat(control, "zswpwb") == 0


def test_no_kmem_bypass(tmp_path):
    """Pages kswapd pushes into zswap are charged to the cgroup that owns them."""
    with System("64M") as s:
        disk = s.add_filedisk(tmp_path / "swap.img", "128M")
        s.mkswap(disk)
        s.swapon(disk)
        zs = Zswap(s, "lz4", enabled=True)
        zs.params["max_pool_percent"] = "50"
        totalram = 64 * MB
        s.set_min_free_kbytes(totalram // 500000)
        cg = s.create_cgroup("kmem_bypass_test")
        # the child: all of memory but the high reserve, plus 5%
        allocate_bytes(s, cg, totalram - totalram // 2000 * 1000 + totalram * 5 // 100)
        s.set_min_free_kbytes(totalram // 2000)  # raise the watermarks: kswapd must work
        page = _a_page()
        for _ in range(20):
            trigger = s.create_mm(totalram // 20 // PAGE_SIZE)  # root allocation
            for v in range(trigger.nr_pages):
                trigger.write(v, page)
            s.exit_mm(trigger)
            if zs.stored_pages > totalram // 5 // PAGE_SIZE:
                break
        stored = zs.stored_pages
        assert stored > totalram // 5 // PAGE_SIZE
        zswapped = _stat(cg, "zswapped")
        assert stored * PAGE_SIZE - zswapped < stored * PAGE_SIZE / 4
        assert s.vmstat["pgsteal_kswapd"] > 0


def test_zswap_incompressible(machine):
    s, zs = machine
    cg = s.create_cgroup("zswap_incompressible_test")
    cg.attr["memory.max"] = "32M"
    mm = s.create_mm(4 * MB // PAGE_SIZE, memcg=cg)
    data = np.frombuffer(os.urandom(4 * MB), np.uint8).reshape(-1, PAGE_SIZE)
    for v in range(mm.nr_pages):
        mm.write(v, data[v])
    mm.pageout()  # MADV_PAGEOUT
    assert _stat(cg, "zswap_incomp") > 0
    assert zs.debugfs()["stored_incompressible_pages"] == _stat(cg, "zswap_incomp")
    assert all(mm.read(v) == data[v].tobytes() for v in range(0, mm.nr_pages, 7))
