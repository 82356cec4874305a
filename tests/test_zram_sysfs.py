"""Every zram attribute: exact read format and the errno of each write error."""

from __future__ import annotations

import errno

import numpy as np
import pytest

from conftest import sample_page_bytes
from swaplab import PAGE_SIZE, System, VirtualClock
from swaplab.drivers.zram.slots import ZRAM_IDLE
from zram_helpers import mm_stat, write_pages, zram_device

PAGES = [np.frombuffer(p, dtype=np.uint8) for p in sample_page_bytes(64, seed=3)]

ALL = ("disksize", "initstate", "reset", "compact", "mem_limit", "mem_used_max", "idle",
       "comp_algorithm", "algorithm_params", "io_stat", "mm_stat", "debug_stat",
       "backing_dev", "bd_stat", "writeback", "writeback_limit", "writeback_limit_enable",
       "writeback_batch_size", "recomp_algorithm", "recompress", "block_state")


def errno_of(z, name, value):
    with pytest.raises(OSError) as e:
        z.attr[name] = value
    return e.value.errno


def test_every_attribute_exists_with_its_mode(system):
    z = zram_device(system, "")
    for name in ALL:
        assert name in z.attr
    wo = {"reset", "compact", "mem_limit", "mem_used_max", "idle", "algorithm_params",
          "writeback", "recompress"}
    ro = {"initstate", "io_stat", "mm_stat", "debug_stat", "bd_stat", "block_state"}
    for name in ALL:
        mode = z.attr.mode(name)
        assert mode == (0o200 if name in wo else 0o444 if name in ro else 0o644), name
    for name in wo:
        with pytest.raises(OSError) as e:
            z.attr[name]
        assert e.value.errno == errno.EACCES
    for name in ro:
        assert errno_of(z, name, "1") == errno.EACCES
    with pytest.raises(OSError) as e:
        z.attr["num_reads"]
    assert e.value.errno == errno.ENOENT


def test_fresh_device_formats(system):
    z = zram_device(system, "")
    assert z.attr["disksize"] == "0\n"
    assert z.attr["initstate"] == "0\n"
    assert z.attr["comp_algorithm"] == "[lzo-rle] lzo lz4 lz4hc zstd deflate \n"
    assert z.attr["io_stat"] == "       0        0 0        0\n"
    assert z.attr["mm_stat"] == " ".join(["       0"] * 9) + "\n"
    assert z.attr["debug_stat"] == "version: 1\n0        0\n"
    assert z.attr["backing_dev"] == "none\n"
    assert z.attr["bd_stat"] == "       0        0        0\n"
    assert z.attr["writeback_limit"] == "0\n"
    assert z.attr["writeback_limit_enable"] == "0\n"
    assert z.attr["writeback_batch_size"] == "32\n"
    assert z.attr["recomp_algorithm"] == ""
    assert z.attr["block_state"] == ""


def test_disksize(system):
    z = zram_device(system, "")
    assert errno_of(z, "disksize", "0") == errno.EINVAL
    assert errno_of(z, "disksize", "nonsense") == errno.EINVAL
    z.attr["disksize"] = "1K"  # page-aligned up
    assert z.attr["disksize"] == "4096\n" and z.attr["initstate"] == "1\n"
    assert errno_of(z, "disksize", "8M") == errno.EBUSY
    z.attr["reset"] = "1"
    for text, want in (("8M", 8 << 20), ("1G\n", 1 << 30), ("0x100000", 1 << 20),
                       (str(5 * PAGE_SIZE), 5 * PAGE_SIZE)):
        z.attr["disksize"] = text
        assert z.attr["disksize"] == f"{want}\n"
        z.attr["reset"] = 1


def test_reset_errors(system):
    z = zram_device(system)
    assert errno_of(z, "reset", "0") == errno.EINVAL
    assert errno_of(z, "reset", "abc") == errno.EINVAL
    assert errno_of(z, "reset", "70000") == errno.ERANGE
    system.mkswap(z.bdev)
    system.swapon(z.bdev)
    assert errno_of(z, "reset", "1") == errno.EBUSY
    system.swapoff(z.bdev)
    z.attr["reset"] = "1"


def test_compact_needs_init(system):
    z = zram_device(system, "")
    assert errno_of(z, "compact", "1") == errno.EINVAL


def test_mem_limit_and_mem_used_max(system):
    z = zram_device(system)
    z.attr["mem_limit"] = ""  # a write of 0 bytes: accepted, nothing changes
    assert errno_of(z, "mem_limit", "xyz") == errno.EINVAL
    z.attr["mem_limit"] = "5000"  # page-aligned up to 8192
    assert mm_stat(z)[3] == 8192
    z.attr["mem_limit"] = "0"
    write_pages(z, PAGES)
    used = mm_stat(z)[2]
    for i in range(len(PAGES)):
        z.slot_lock(i)
        z.slot_free(i)
        z.slot_unlock(i)
    assert mm_stat(z)[4] == used and mm_stat(z)[2] < used
    assert errno_of(z, "mem_used_max", "1") == errno.EINVAL
    assert errno_of(z, "mem_used_max", "x") == errno.EINVAL
    z.attr["mem_used_max"] = "0"
    assert mm_stat(z)[4] == mm_stat(z)[2]


def test_idle_all_and_by_age():
    clock = VirtualClock()
    s = System("64M", clock=clock)
    try:
        z = zram_device(s, "")
        assert errno_of(z, "idle", "all") == errno.EINVAL  # not initialised
        z.attr["disksize"] = "4M"
        clock.advance(10)
        write_pages(z, PAGES[:4])
        for i in range(4):
            z.slot_lock(i)
            z.mark_slot_accessed(i)
            z.slot_unlock(i)
        clock.advance(100)
        z.slot_lock(3)
        z.mark_slot_accessed(3)  # used at t=110
        z.slot_unlock(3)
        z.attr["idle"] = "50"  # idle if not used since t=60
        assert [z.test_flag(i, ZRAM_IDLE) for i in range(4)] == [True, True, True, False]
        z.attr["idle"] = "200"  # cutoff before boot: nothing qualifies, IDLE cleared
        assert not any(z.test_flag(i, ZRAM_IDLE) for i in range(4))
        z.attr["idle"] = "all"
        assert all(z.test_flag(i, ZRAM_IDLE) for i in range(4))
        for bad in ("some", "-5", "1.5"):
            assert errno_of(z, "idle", bad) == errno.EINVAL
    finally:
        s.close()


def test_comp_algorithm(system):
    z = zram_device(system, "")
    z.attr["comp_algorithm"] = "zstd\n"
    assert z.attr["comp_algorithm"] == "lzo-rle lzo lz4 lz4hc [zstd] deflate \n"
    assert errno_of(z, "comp_algorithm", "lz5") == errno.EINVAL
    assert errno_of(z, "comp_algorithm", "842") == errno.EINVAL
    assert errno_of(z, "comp_algorithm", "x" * 128) == errno.E2BIG
    z.attr["disksize"] = "1M"
    assert errno_of(z, "comp_algorithm", "lz4") == errno.EBUSY


def test_algorithm_params(system, tmp_path):
    z = zram_device(system, "")
    z.attr["comp_algorithm"] = "zstd"
    z.attr["algorithm_params"] = "level=19 unknown=1"
    assert z.params[0].level == 19
    d = tmp_path / "dict"
    d.write_bytes(PAGES[0].tobytes())
    z.attr["algorithm_params"] = f"algo=zstd dict={d}"
    assert z.params[0].dict == PAGES[0].tobytes()
    assert errno_of(z, "algorithm_params", "level") == errno.EINVAL
    assert errno_of(z, "algorithm_params", "level=high") == errno.EINVAL
    assert errno_of(z, "algorithm_params", "algo=lz4hc level=3") == errno.EINVAL
    assert errno_of(z, "algorithm_params", "priority=4 level=1") == errno.EINVAL
    assert errno_of(z, "algorithm_params", f"dict={tmp_path}/missing") == errno.EINVAL
    z.attr["algorithm_params"] = "level=19"
    z.attr["disksize"] = "1M"
    assert z.comps[0].params.level == 19


def test_io_stat_and_mm_stat_formats(system):
    z = zram_device(system)
    write_pages(z, PAGES)
    text = z.attr["mm_stat"]
    assert text.endswith("\n") and len(text.split(" ")) >= 9
    assert text == " ".join(f"{v:8d}" for v in mm_stat(z)) + "\n"
    z.slot_free_notify(0)
    assert z.attr["io_stat"] == "       0        0 0        1\n"


def test_backing_dev_errors(system, tmp_path):
    z = zram_device(system, "")
    assert errno_of(z, "backing_dev", "/dev/nothere") == errno.ENOENT
    f = tmp_path / "plain"
    f.write_bytes(b"x")
    assert errno_of(z, "backing_dev", str(f)) == errno.ENOTBLK
    disk = system.add_filedisk(tmp_path / "bd.img", "4M")
    z.attr["backing_dev"] = disk.path
    assert z.attr["backing_dev"] == "/dev/loop0\n"
    z.attr["disksize"] = "4M"
    assert errno_of(z, "backing_dev", disk.path) == errno.EBUSY


def test_writeback_knobs(system):
    z = zram_device(system, "")
    z.attr["writeback_limit"] = "100"
    z.attr["writeback_limit_enable"] = "5"
    z.attr["writeback_batch_size"] = "8"
    assert (z.attr["writeback_limit"], z.attr["writeback_limit_enable"],
            z.attr["writeback_batch_size"]) == ("100\n", "1\n", "8\n")
    assert errno_of(z, "writeback_limit", "lots") == errno.EINVAL
    assert errno_of(z, "writeback_limit_enable", "on") == errno.EINVAL
    assert errno_of(z, "writeback_batch_size", "0") == errno.EINVAL
    z.attr["writeback_compressed"] = "y"
    assert z.attr["writeback_compressed"] == "1\n"
    assert errno_of(z, "writeback_compressed", "maybe") == errno.EINVAL
    z.attr["disksize"] = "1M"
    assert errno_of(z, "writeback_compressed", "0") == errno.EBUSY
    z.attr["reset"] = "1"
    # not reset by reset (the kernel's snapshot behaviour)
    assert z.attr["writeback_limit"] == "100\n" and z.attr["writeback_batch_size"] == "8\n"


def test_writeback_errors(system, tmp_path):
    z = zram_device(system, "")
    assert errno_of(z, "writeback", "idle") == errno.EINVAL  # not initialised
    z.attr["disksize"] = "1M"
    assert errno_of(z, "writeback", "idle") == errno.ENODEV
    z.attr["reset"] = "1"
    disk = system.add_filedisk(tmp_path / "bd.img", "1M")
    z.attr["backing_dev"] = disk.path
    z.attr["disksize"] = "1M"
    assert errno_of(z, "writeback", "page_index=256") == errno.ERANGE
    assert errno_of(z, "writeback", "page_indexes=5") == errno.EINVAL
    assert errno_of(z, "writeback", "page_indexes=9-3") == errno.ERANGE
    assert errno_of(z, "writeback", "page_indexes=0-256") == errno.ERANGE
    assert errno_of(z, "writeback", "sometimes") == errno.EINVAL
    assert errno_of(z, "writeback", "type=bogus") == errno.EINVAL


def test_recomp_algorithm_and_recompress_errors(system):
    z = zram_device(system, "")
    assert errno_of(z, "recompress", "type=idle") == errno.EINVAL  # not initialised
    assert errno_of(z, "recomp_algorithm", "priority=1") == errno.EINVAL
    assert errno_of(z, "recomp_algorithm", "algo=zstd priority=4") == errno.EINVAL
    assert errno_of(z, "recomp_algorithm", "algo=nope") == errno.EINVAL
    assert errno_of(z, "recomp_algorithm", "algo") == errno.EINVAL
    z.attr["recomp_algorithm"] = "algo=zstd"
    z.attr["recomp_algorithm"] = "algo=deflate priority=2"
    assert z.attr["recomp_algorithm"] == ("#1: lzo-rle lzo lz4 lz4hc [zstd] deflate \n"
                                          "#2: lzo-rle lzo lz4 lz4hc zstd [deflate] \n")
    z.attr["disksize"] = "1M"
    assert errno_of(z, "recomp_algorithm", "algo=lz4hc") == errno.EBUSY
    assert errno_of(z, "recompress", "type") == errno.EINVAL
    assert errno_of(z, "recompress", "threshold=3625") == errno.EINVAL
    assert errno_of(z, "recompress", "algo=lzo") == errno.EINVAL
    assert errno_of(z, "recompress", "priority=3") == errno.EINVAL


def test_recompress_without_secondary_is_einval(system):
    z = zram_device(system)
    assert errno_of(z, "recompress", "type=huge") == errno.EINVAL


def test_block_state_lines(system):
    z = zram_device(system)
    write_pages(z, [PAGES[0], np.zeros(PAGE_SIZE, np.uint8)], start=5)
    lines = z.attr["block_state"].splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("           5            0.000000 ")
    assert lines[1].endswith(" s.....")


# --- parsing, as the host kernel does it (kernel-facts §9) ---------------------------------

def test_a_write_of_zero_bytes_succeeds_without_effect(system):
    z = zram_device(system, "")
    for name in ("comp_algorithm", "disksize", "mem_limit", "algorithm_params", "reset"):
        z.attr[name] = b""
    assert z.attr["disksize"] == "0\n" and z.attr["initstate"] == "0\n"
    assert z.attr["comp_algorithm"] == "[lzo-rle] lzo lz4 lz4hc zstd deflate \n"
    assert errno_of(z, "mm_stat", b"") == errno.EACCES  # still a read-only file


@pytest.mark.parametrize("text, err", [
    ("16E", errno.EINVAL),                    # 16 << 60 wraps to 0
    ("18446744073709551616", errno.EINVAL),   # 2**64 wraps to 0
    ("1E", errno.ENOMEM),                     # a table no machine can allocate
    ("99999999999999999999", errno.ENOMEM),   # wraps to ~7.8e18 bytes
    ("18446744073709551615", errno.ENOMEM),   # PAGE_ALIGN wraps to 0 pages
])
def test_disksize_overflow_is_the_kernels_errno(system, text, err):
    z = zram_device(system, "")
    assert errno_of(z, "disksize", text) == err
    assert z.attr["initstate"] == "0\n"
    z.attr["disksize"] = "1M"  # and the device still works
    assert z.attr["disksize"] == f"{1 << 20}\n"


def test_trailing_newlines_and_the_name_limit_as_the_host_has_them(system):
    """Checked on the host (6.18.44) with single write(2)s: comp_algorithm drops
    one newline and sysfs_streq tolerates one more; idle takes one; the
    127-character limit counts the newline; an initialised device answers an
    unknown name with EINVAL and a known one with EBUSY."""
    z = zram_device(system, "")
    z.attr["comp_algorithm"] = "lz4\n\n"
    assert "[lz4]" in z.attr["comp_algorithm"]
    for bad in ("lzo\n\n\n", "lzo ", "\nlzo", "lzo\r"):
        assert errno_of(z, "comp_algorithm", bad) == errno.EINVAL
    assert errno_of(z, "comp_algorithm", "z" * 127 + "\n") == errno.E2BIG
    assert errno_of(z, "comp_algorithm", "z" * 126 + "\n") == errno.EINVAL
    z.attr["disksize"] = "1M"
    z.attr["idle"] = "all\n"
    assert errno_of(z, "idle", "all\n\n") == errno.EINVAL
    for name in ("lz4", "lzo-rle"):
        assert errno_of(z, "comp_algorithm", name) == errno.EBUSY
    assert errno_of(z, "comp_algorithm", "bogus") == errno.EINVAL


def test_algorithm_params_as_next_arg_reads_them(system):
    z = zram_device(system, "")
    assert errno_of(z, "algorithm_params", "priority=-1 level=3") == errno.EINVAL
    assert errno_of(z, "algorithm_params", "=3") == errno.EINVAL
    assert errno_of(z, "algorithm_params", "level=3 priority") == errno.EINVAL
    assert errno_of(z, "algorithm_params", "priority=1") == errno.EINVAL  # none there
    z.attr["algorithm_params"] = 'level="3" unknown=1'  # unknown keys are ignored
    assert z.params[0].level == 3


def test_mem_limit_0x_is_zero(system):
    z = zram_device(system, "1M")
    z.attr["mem_limit"] = "4M"
    z.attr["mem_limit"] = "0x"
    assert z.limit_pages == 0
    assert errno_of(z, "mem_limit", "x") == errno.EINVAL
