"""Memory cgroups: limits, swap charging, memory.reclaim, memory.stat, the files' errnos."""

from __future__ import annotations

import errno

import pytest

from conftest import sample_pages
from swaplab import PAGE_SIZE, System


def _stat(cg) -> dict[str, int]:
    return {k: int(v) for k, v in (line.split() for line in cg.attr["memory.stat"].splitlines())}


def _swap(s, size="64M"):
    d = s.add_ramdisk(size)
    s.mkswap(d)
    s.swapon(d)


@pytest.mark.parametrize("populate", [False, True])
def test_populate_under_memory_max_reclaims_as_faults_do(populate):
    """Filling a cgroup's process past memory.max by MAP_POPULATE-style
    populate (chunks of 32 in array steps) keeps the limit, swaps the oldest
    pages, counts every page's fault, and loses nothing, as page-by-page
    writes do."""
    with System("64M") as s:
        _swap(s)
        cg = s.create_cgroup("app")
        cg.attr["memory.max"] = "1M"
        mm = s.create_mm(512, memcg=cg)
        pages = sample_pages(512, seed=4)
        if populate:
            for lo in range(0, 512, 100):  # ranges not aligned to the chunks
                mm.populate(lo, pages[lo : lo + 100])
                assert cg.usage <= 256
        else:
            for v in range(512):
                mm.write(v, pages[v])
        st = _stat(cg)
        assert st["pgfault"] == 512 and st["pswpout"] >= 512 - 256
        assert cg.events["max"] > 0 and cg.usage <= 256
        assert mm.resident() <= 256 and mm.resident() + mm.swapped() == 512
        for v in range(512):
            assert mm.read(v) == pages[v].tobytes()
        s.exit_mm(mm)
        assert cg.usage == 0 and s.mem.nr_free == s.mem.nr_frames - s.mem.memcg_pages[0]


def test_cgroup_over_memory_max_swaps_and_keeps_its_data():
    with System("64M") as s:
        _swap(s)
        cg = s.create_cgroup("app")
        cg.attr["memory.max"] = "1M"
        assert cg.attr["memory.max"] == f"{1 << 20}\n"
        mm = s.create_mm(512, memcg=cg)  # 2 MiB working set
        pages = sample_pages(512, seed=4)
        for v in range(512):
            mm.write(v, pages[v])
            assert cg.usage <= 256
        st = _stat(cg)
        assert st["pswpout"] > 0 and st["pgsteal"] > 0
        assert int(cg.attr["memory.swap.current"]) > 0
        assert cg.events["max"] > 0
        for v in range(512):
            assert mm.read(v) == pages[v].tobytes()
        assert _stat(cg)["pswpin"] > 0
        # the root saw the same swap-outs in /proc/vmstat
        assert s.vmstat["pswpout"] == _stat(cg)["pswpout"]
        s.exit_mm(mm)
        assert cg.attr["memory.swap.current"] == "0\n" and cg.usage == 0


def test_swap_max_zero_never_swaps_and_is_not_reclaimed_under_global_pressure():
    with System("16M") as s:
        _swap(s)
        keep = s.create_cgroup("keep")
        keep.attr["memory.swap.max"] = "0"
        hog = s.create_cgroup("hog")
        a = s.create_mm(1024, memcg=keep)
        b = s.create_mm(6000, memcg=hog)
        pa, pb = sample_pages(1024, seed=6), sample_pages(6000, seed=7)
        for v in range(1024):
            a.write(v, pa[v])
        for v in range(6000):
            b.write(v, pb[v])
        assert s.vmstat["pgsteal_kswapd"] > 0
        assert a.resident() == 1024
        assert _stat(keep)["pswpout"] == 0 and _stat(keep)["pgscan"] == 0
        assert keep.attr["memory.swap.current"] == "0\n"
        assert _stat(hog)["pswpout"] > 0
        assert all(a.read(v) == pa[v].tobytes() for v in range(1024))


def test_no_swap_allowed_and_over_memory_max_is_an_oom():
    with System("64M") as s:
        _swap(s)
        cg = s.create_cgroup("tight")
        cg.attr["memory.max"] = "256K"
        cg.attr["memory.swap.max"] = "0"
        mm = s.create_mm(128, memcg=cg)
        pages = sample_pages(128, seed=1)
        with pytest.raises(OSError) as ei:
            for v in range(128):
                mm.write(v, pages[v])
        assert ei.value.errno == errno.ENOMEM and "tight" in str(ei.value)
        assert cg.events["oom"] == 1 and _stat(cg)["pgscan"] == 0  # anon not even scanned
        assert mm.resident() == 64 and cg.usage == 64
        assert _stat(cg)["pswpout"] == 0


def test_memory_reclaim_reclaims_or_says_eagain():
    with System("64M") as s:
        _swap(s)
        cg = s.create_cgroup("app")
        mm = s.create_mm(256, memcg=cg)
        pages = sample_pages(256, seed=2)
        for v in range(256):
            mm.write(v, pages[v])
        cg.attr["memory.reclaim"] = "512K"
        assert cg.usage <= 256 - 128
        assert _stat(cg)["pswpout"] >= 128
        cg.attr["memory.swap.max"] = f"{int(cg.attr['memory.swap.current'])}"
        with pytest.raises(OSError) as ei:
            cg.attr["memory.reclaim"] = "64K"
        assert ei.value.errno == errno.EAGAIN
        assert all(mm.read(v) == pages[v].tobytes() for v in range(256))


def test_zram_pool_is_charged_to_nobody():
    with System("64M") as s:
        z = s.load_zram()[0]
        z.attr["disksize"] = "32M"
        s.mkswap(z.bdev)
        s.swapon(z.bdev)
        cg = s.create_cgroup("app")
        cg.attr["memory.max"] = "512K"
        mm = s.create_mm(1024, memcg=cg)
        pages = sample_pages(1024, seed=3)
        for v in range(1024):
            mm.write(v, pages[v])
        used = int(z.attr["mm_stat"].split()[2])
        assert used > 512 << 10  # the pool holds more than the cgroup's limit
        assert int(cg.attr["memory.current"]) == mm.resident() * PAGE_SIZE <= 512 << 10
        assert _stat(cg)["zswap"] == 0


@pytest.mark.parametrize("name, value, err", [
    ("memory.max", "lots", errno.EINVAL),
    ("memory.max", "", errno.EINVAL),
    ("memory.swap.max", "-5", errno.EINVAL),
    ("memory.zswap.writeback", "2", errno.EINVAL),
    ("memory.zswap.max", "12Q", errno.EINVAL),
    ("memory.reclaim", "1M swappiness=999", errno.EINVAL),
    ("memory.stat", "1", errno.EACCES),
    ("memory.current", "1", errno.EACCES),
    ("memory.nonsense", "1", errno.ENOENT),
])
def test_bad_writes_get_the_kernels_errno(name, value, err):
    with System("16M") as s:
        cg = s.create_cgroup("c")
        with pytest.raises(OSError) as ei:
            cg.attr[name] = value
        assert ei.value.errno == err
        assert cg.attr["memory.max"] == "max\n"


def test_limit_files_read_back_as_written():
    with System("16M") as s:
        cg = s.create_cgroup("c")
        cg.attr["memory.swap.max"] = "8M"
        cg.attr["memory.zswap.max"] = "1M"
        cg.attr["memory.zswap.writeback"] = "0"
        assert cg.attr["memory.swap.max"] == f"{8 << 20}\n"
        assert cg.attr["memory.zswap.max"] == f"{1 << 20}\n"
        assert cg.attr["memory.zswap.writeback"] == "0\n"
        cg.attr["memory.swap.max"] = "max"
        assert cg.attr["memory.swap.max"] == "max\n"
        with pytest.raises(OSError) as ei:
            s.root_memcg.attr["memory.max"] = "1M"
        assert ei.value.errno == errno.ENOENT
        with pytest.raises(OSError) as ei:
            s.create_cgroup("c")
        assert ei.value.errno == errno.EEXIST
