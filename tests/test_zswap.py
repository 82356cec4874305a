"""zswap in the swap core: store/load/invalidate, parameters, counters, limits, writeback."""

from __future__ import annotations

import errno
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import sample_pages, zswap_machine
from swaplab import PAGE_SIZE, System
from swaplab.drivers.zram.slots import ZRAM_WB
from swaplab.mm.zswap import Zswap
from swaplab.workload.corpus import corpus_pages
from swaplab.workload.engine import Workload
from swaplab.workload.scenario import parse_scenario


@pytest.fixture
def sz(tmp_path):
    s, z, d = zswap_machine(tmp_path)
    yield s, z, d
    s.close()


def _fill(s, n, seed=1):
    mm = s.create_mm(n)
    pages = sample_pages(n, seed=seed)
    pages[pages.any(axis=1) == 0, 0] = 1  # no all-zero page: those go to the zero map
    for v in range(n):
        mm.write(v, pages[v])
    return mm, pages


def test_store_keeps_pages_off_the_device_and_load_brings_them_back(sz):
    s, z, d = sz
    mm, pages = _fill(s, 256)
    writes = d.stat()["write_ios"]
    mm.pageout()
    assert s.vmstat["zswpout"] == 256 and s.vmstat["pswpout"] == 0
    assert d.stat()["write_ios"] == writes  # no device I/O
    assert z.stored_pages == 256 and z.debugfs()["pool_total_size"] > 0
    reads = d.stat()["read_ios"]
    for v in range(256):
        assert mm.read(v) == pages[v].tobytes()
    assert s.vmstat["zswpin"] == 256 and s.vmstat["pswpin"] == 0
    assert d.stat()["read_ios"] == reads
    # loads are exclusive: the entries are gone, the pool is empty again
    assert z.stored_pages == 0 and z.debugfs()["pool_total_size"] == 0


def test_freed_slots_invalidate_their_entries(sz):
    s, z, _ = sz
    mm, _ = _fill(s, 64)
    mm.pageout()
    assert z.stored_pages == 64
    s.exit_mm(mm)
    assert z.stored_pages == 0 and s.root_memcg.zswap_bytes == 0


def test_zero_pages_never_reach_zswap(sz):
    s, z, _ = sz
    mm = s.create_mm(32)
    for v in range(32):
        mm.write(v, bytes(PAGE_SIZE))
    mm.pageout()
    assert s.vmstat["swpout_zero"] == 32 and s.vmstat["zswpout"] == 0 and z.stored_pages == 0


def test_disabled_zswap_stores_nothing_and_drops_stale_entries(sz):
    s, z, _ = sz
    z.params["enabled"] = "N"
    assert z.params["enabled"] == "N\n"
    mm, pages = _fill(s, 32)
    mm.pageout()
    assert z.stored_pages == 0 and s.vmstat["pswpout"] == 32
    assert all(mm.read(v) == pages[v].tobytes() for v in range(32))


def test_incompressible_pages_are_stored_raw_or_rejected(sz):
    s, z, _ = sz
    mm = s.create_mm(16)
    data = np.frombuffer(os.urandom(16 * PAGE_SIZE), np.uint8).reshape(16, PAGE_SIZE)
    for v in range(16):
        mm.write(v, data[v])
    mm.pageout()
    assert z.debugfs()["stored_incompressible_pages"] == 16
    assert s.root_memcg.zswap_bytes == 16 * PAGE_SIZE
    cg = s.create_cgroup("nowb")
    cg.attr["memory.zswap.writeback"] = "0"
    mm2 = s.create_mm(16, memcg=cg)
    for v in range(16):
        mm2.write(v, data[v])
    assert mm2.pageout() == 0  # rejected by zswap, and may not go to the device
    assert z.debugfs()["reject_compress_poor"] == 16
    assert all(mm2.read(v) == data[v].tobytes() for v in range(16))


def test_pool_limit_hit_then_hysteresis(sz):
    s, z, _ = sz
    z.params["max_pool_percent"] = "1"  # 163 pages of 16384
    mm, pages = _fill(s, 3000)
    mm.pageout()
    dbg = z.debugfs()
    assert dbg["pool_limit_hit"] == 1
    # checked before each store; one store may add a zspage (up to 8 pages) past it
    assert z.total_pages() < z.max_pages() + 8
    # full: everything after the limit went straight to the disk; the worker only
    # gave the 16 entries it walked their second chance (all were referenced)
    assert dbg["written_back_pages"] == 0
    assert s.vmstat["pswpout"] + z.stored_pages + s.vmstat["swpout_zero"] == 3000
    lru = z.lrus[0]
    assert sum(not z.trees[0].referenced[k & 0xFFFFFFFFFF]
               for k in lru.key[lru.head : lru.tail].tolist()) == 16
    # until the pool is below the accept threshold, stores are refused
    for v in range(10):
        mm.read(v)
    mm.pageout(0, 10)
    assert z.debugfs()["pool_limit_hit"] == 1
    # loads bring it below: stores are accepted again, and the next limit hit
    # writes back the entries whose second chance is used up
    for v in range(3000):
        assert mm.read(v) == pages[v].tobytes()
        mm.write(v, pages[v])  # dirty again: the next pageout stores every page
    assert z.stored_pages == 0
    mm.pageout()
    assert z.debugfs()["pool_limit_hit"] == 2
    # the worker, run again (as each new limit hit queues it): once every entry
    # had its second chance it writes back, oldest first, down to the threshold
    for _ in range(64):
        if z.shrink_worker():
            break
    assert z.total_pages() <= z.accept_pages()
    wb = z.debugfs()["written_back_pages"]
    assert wb > 0 and s.vmstat["zswpwb"] == wb and s.vmstat["pswpout"] >= wb
    assert all(mm.read(v) == pages[v].tobytes() for v in range(3000))


def test_parameters_behave_like_the_module_parameters(sz):
    _s, z, _ = sz
    assert z.params["max_pool_percent"] == "20\n"
    assert z.params["accept_threshold_percent"] == "90\n"
    for name, value, err in [("accept_threshold_percent", "101", errno.EINVAL),
                             ("max_pool_percent", "-1", errno.EINVAL),
                             ("enabled", "maybe", errno.EINVAL),
                             ("compressor", "842", errno.ENOENT),
                             ("zpool", "zbud", errno.ENOENT)]:
        with pytest.raises(OSError) as ei:
            z.params[name] = value
        assert ei.value.errno == err
    assert z.params["compressor"] == "lz4\n"


def test_changing_the_compressor_keeps_old_entries_readable(sz):
    s, z, _ = sz
    mm, pages = _fill(s, 64)
    mm.pageout(0, 32)
    z.params["compressor"] = "zstd"
    mm.pageout(32, 64)
    assert len(z.pools) == 2 and z.stored_pages == 64
    for v in range(64):
        assert mm.read(v) == pages[v].tobytes()
    # the old pool emptied and went away
    assert len(z.pools) == 1 and z.compressor == "zstd"


def test_corrupt_entry_fails_the_load_with_eio_and_keeps_the_pte(sz):
    s, z, _ = sz
    mm, _ = _fill(s, 4)
    mm.pageout()
    t = 0
    off = int(np.flatnonzero(z.trees[t].handle)[0])
    pool = z.pools[z.current]
    h = int(z.trees[t].handle[off])
    ln = int(z.trees[t].length[off])
    pool.zs.write(h, b"\xff" * ln)
    vpn = next(v for v in range(4) if mm.swap_entry_at(v) & ((1 << 58) - 1) == off)
    with pytest.raises(OSError) as ei:
        mm.read(vpn)
    assert ei.value.errno == errno.EIO
    assert z.debugfs()["decompress_fail"] == 1 and mm.swap_entry_at(vpn)


# --- zswap over a disk vs zram with the same disk as backing device ----------------------

def _scenario(kind: str) -> dict:
    swap = {"type": "filedisk", "size": "96M"} if kind == "zswap" else \
        {"type": "zram", "size": "96M", "backing_dev": "96M"}
    return {
        "system": {"memory": "24M", "seed": 5},
        "swap": [swap],
        "zswap": {"enabled": kind == "zswap", "max_pool_percent": 25},
        "process": [{"name": "app", "size": "40M", "pattern": "zipf", "zero": 0.05,
                     "corpus": "sample"}],
        "run": {"accesses": 15000, "verify_at_end": False},
    }


def test_zswap_and_zram_with_writeback_both_verify_and_reconcile():
    with Workload(parse_scenario(_scenario("zswap"))) as w:
        w.run()
        c = w.census()
        z = w.system.zswap
        assert c["resident"] + c["zero"] + c["zswap"] + c["device"] == c["touched"] == 10240
        assert c["zswap"] == z.stored_pages > 0
        assert z.debugfs()["written_back_pages"] > 0 and c["device"] > 0
        checked = w.verify_all()
        assert checked == c["touched"]
    with Workload(parse_scenario(_scenario("zram"))) as w:
        w.run()
        zr = w.system.modules["zram"][0]
        zr.attr["idle"] = "all"
        zr.attr["writeback"] = "idle"
        c = w.census()
        mm_stat = zr.attr["mm_stat"].split()
        bd = zr.attr["bd_stat"].split()
        assert c["resident"] + c["zero"] + c["zram"] == c["touched"] == 10240
        header_wb = int(bool(zr.flags[0] & ZRAM_WB))  # mkswap's page at slot 0
        assert c["zram_wb"] + header_wb == int(bd[0]) > 0
        # every slot zram holds belongs to a page of the workload: swapped out,
        # or swapped in and still in the swap cache
        # (+1: the swap header mkswap wrote at slot 0)
        assert int(mm_stat[0]) // PAGE_SIZE == c["zram"] + c["resident_swapcache"] + 1
        assert w.verify_all() == c["touched"]
        assert int(bd[1]) > 0 or int(zr.attr["bd_stat"].split()[1]) > 0


_EXIT_SCRIPT = """
import sys
from swaplab import System
from swaplab.mm import zswap
from swaplab.workload.corpus import corpus_pages
if sys.argv[1] == "leak":  # the pool left to the interpreter's last collection
    zswap.Zswap.destroy = lambda self: None
with System("64M") as s:
    d = s.add_filedisk(sys.argv[2], "32M")
    s.mkswap(d); s.swapon(d)
    zswap.Zswap(s, "lz4", enabled=True)
    mm = s.create_mm(2048)
    mm.populate(0, corpus_pages("sample", 2048, 1))
    mm.pageout()
    free = s.mem.nr_free
print("done", free)
"""


@pytest.mark.parametrize("how", ["close", "leak"])
def test_a_process_that_used_zswap_exits_cleanly(tmp_path, how):
    """System.close gives zswap's pool frames back while the machine is whole;
    a pool the interpreter collects at shutdown gives nothing back (its
    machine's Python may be gone): either way the process exits, no crash.
    Both used to end in a segmentation fault at exit."""
    r = subprocess.run([sys.executable, "-c", _EXIT_SCRIPT, how, str(tmp_path / "d.img")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.startswith("done")


def test_closing_the_system_empties_zswap(tmp_path):
    s = System("64M")
    d = s.add_filedisk(tmp_path / "d.img", "32M")
    s.mkswap(d)
    s.swapon(d)
    z = Zswap(s, "lz4", enabled=True)
    mm = s.create_mm(512)
    mm.populate(0, corpus_pages("sample", 512, 1))
    mm.pageout()
    assert z.stored_pages and z.total_pages()
    s.close()
    assert not z.pools and not z.trees
