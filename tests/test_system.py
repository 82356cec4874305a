"""One machine per object: systems are independent and hold no shared state."""

from __future__ import annotations

import errno

import pytest

from swaplab import PAGE_SIZE, System, VirtualClock
from swaplab.clock import RealClock


def test_two_systems_are_independent(pages):
    a, b = System("32M"), System("32M")
    try:
        ra, rb = a.add_ramdisk("8M"), b.add_ramdisk("8M")
        assert ra.name == rb.name == "ram0"
        a.mkswap(ra)
        a.swapon(ra)
        mm = a.create_mm(100)
        for i in range(100):
            mm.write(i, pages[i])
        mm.pageout()
        assert a.vmstat["pswpout"] == 100
        assert b.vmstat["pswpout"] == 0
        assert b.swap.active() == []
        assert b.proc_swaps().count("\n") == 1
        assert a.swap.total_swap_pages > 0 == b.swap.total_swap_pages
        assert a.mem.data is not b.mem.data
    finally:
        a.close()
        b.close()


def test_system_holds_memory_table_counters_drivers_and_clock():
    clock = VirtualClock()
    s = System("8M", clock=clock)
    assert s.mem.nr_frames == 8 * 1024 * 1024 // PAGE_SIZE
    assert s.mem.nr_free == s.mem.nr_frames
    assert s.swap.info == [None] * s.swap.max_swapfiles
    assert s.vmstat.snapshot()["pswpin"] == 0
    assert s.swap.block_ops == {}
    assert s.clock is clock
    clock.advance(2.5)
    assert s.clock.seconds() == 2
    assert isinstance(System("1M").clock, RealClock)


def test_bad_memory_size_names_the_value():
    with pytest.raises(OSError) as e:
        System("12Q")
    assert e.value.errno == errno.EINVAL and "12Q" in str(e.value)
    with pytest.raises(OSError) as e:
        System(100)
    assert e.value.errno == errno.EINVAL


def test_virtual_clock_never_goes_back():
    c = VirtualClock()
    c.advance(ns=5)
    with pytest.raises(ValueError):
        c.advance(-1)
    assert c.now_ns() == 5


def test_close_releases_disks_files(tmp_path):
    s = System("16M")
    d = s.add_filedisk(tmp_path / "d.img", "4M")
    s.mkswap(d)
    s.swapon(d)
    s.close()
    assert s.block == {} and s.swap.active() == []


def test_load_module_is_modprobe_for_any_driver():
    with System("64M") as s:
        with pytest.raises(OSError) as e:
            s.load_module("nosuchdrv")
        assert e.value.errno == errno.ENOENT and "nosuchdrv" in str(e.value)
        with pytest.raises(OSError) as e:
            s.load_module("zram", num_devies=2)
        assert e.value.errno == errno.EINVAL and "num_devies" in str(e.value)
        assert "zram" not in s.modules  # nothing loaded by a refused modprobe
        ctl = s.load_module("zram", num_devices=2, swap_ops="none")
        assert s.modules["zram"] is ctl and len(ctl.devices) == 2
        with pytest.raises(OSError) as e:
            s.load_zram()
        assert e.value.errno == errno.EEXIST
        s.unload_module("zram")
        assert "zram" not in s.modules
        assert s.load_zram(num_devices=1) is s.modules["zram"]  # the shorthand


def test_ram_exists_before_it_is_used():
    """A System's frames are populated when it is created (as the kernel's RAM
    is there from boot), so no later first touch costs a host page fault."""
    import os

    major, minor = (int(x) for x in os.uname().release.split(".")[:2])
    if (major, minor) < (5, 14):
        pytest.skip("MADV_POPULATE_WRITE needs Linux 5.14")

    def resident(addr: int) -> int:
        """Rss of the mapping holding ``addr`` (/proc/self/smaps): this
        System's own frames, whatever other tests left for the collector."""
        inside = False
        with open("/proc/self/smaps") as f:
            for line in f:
                head = line.split()[0]
                if "-" in head and not head.endswith(":"):
                    lo, hi = (int(x, 16) for x in head.split("-"))
                    inside = lo <= addr < hi
                elif inside and head == "Rss:":
                    return int(line.split()[1]) << 10
        raise AssertionError(f"no mapping holds {addr:#x}")

    with System("64M") as s:
        rss = resident(s.mem.data.ctypes.data)
        assert rss >= 60 << 20, f"only {rss >> 20} MiB of 64 resident"
        assert s.mem.nr_free == s.mem.nr_frames


def test_run_threads_runs_all_at_once_and_raises_what_a_thread_raised():
    import threading

    from swaplab.util import run_threads

    seen, barrier = [], threading.Barrier(3)

    def worker(k):
        barrier.wait(timeout=10)  # all three run at the same time, or this breaks
        seen.append(k)

    assert run_threads(worker, [(0,), (1,), (2,)]) >= 0
    assert sorted(seen) == [0, 1, 2]

    def fails(k):
        if k:
            raise SystemExit(f"thread {k} failed")

    with pytest.raises(SystemExit, match="thread 1 failed"):
        run_threads(fails, [(0,), (1,)])
