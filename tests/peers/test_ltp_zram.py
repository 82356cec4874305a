"""LTP's zram tests (testcases/kernel/device-drivers/zram), ported as behaviour
specs against swaplab's zram. The shell drives sysfs exactly as LTP does; there
is no filesystem here, so where LTP fills a filesystem we fill the device."""

from __future__ import annotations

import errno

import numpy as np
import pytest

from conftest import sample_page_bytes
from swaplab import PAGE_SIZE, System
from swaplab.lib.compress import available

MIB = 1 << 20


def fill_until_enospc(z, make_chunk) -> int:
    """dd-style: write 1 MiB chunks until the device says ENOSPC; bytes written."""
    off = 0
    k = 0
    while True:
        try:
            off += z.bdev.pwrite(make_chunk(k), off)
        except OSError as e:
            assert e.errno == errno.ENOSPC
            return off
        k += 1


def mm_stat(z):
    return [int(x) for x in z.attr["mm_stat"].split()]


@pytest.mark.parametrize("algo", available())
@pytest.mark.parametrize("content", ["file-data", "1k-random"])
def test_zram01_fill_25m_device_with_25m_limit(algo, content):
    """zram01: 25 MiB device, mem_limit 25M, filled to ENOSPC; ratio data/total >= 1."""
    s = System("128M")
    try:
        ctl = s.load_zram(num_devices=1)
        z = ctl[0]
        z.attr["comp_algorithm"] = algo
        z.attr["disksize"] = "25M"
        z.attr["mem_limit"] = "25M"
        pages = [np.frombuffer(p, np.uint8) for p in sample_page_bytes(256, seed=1)]
        rng = np.random.default_rng(7)

        def chunk(k):
            if content == "file-data":
                return np.concatenate(pages).tobytes()
            buf = np.zeros((256, PAGE_SIZE), np.uint8)
            buf[:, :1024] = rng.integers(0, 256, (256, 1024), dtype=np.uint8)
            return buf.tobytes()

        written = fill_until_enospc(z, chunk)
        assert written == 25 * MIB
        st = mm_stat(z)
        assert st[0] == 25 * MIB  # orig_data_size: every page stored
        assert st[2] > 0 and st[0] / st[2] >= 1.0
        assert z.stats["failed_writes"] == 0
    finally:
        s.close()


def test_zram02_huge_device_small_limit_as_swap():
    """zram02: a 100 GB device with mem_limit 1M can mkswap, swapon, swapoff."""
    s = System("64M")
    try:
        z = s.load_zram()[0]
        z.attr["disksize"] = "100G"
        z.attr["mem_limit"] = "1M"
        s.mkswap(z.bdev)
        si = s.swapon(z.bdev)
        assert si.pages == 100 * (1 << 30) // PAGE_SIZE - 1
        assert "/dev/zram0" in s.proc_swaps()
        s.swapoff(z.bdev)
        assert s.proc_swaps().count("\n") == 1
    finally:
        s.close()


def test_zram03_512m_of_a_reads_back():
    """zram03: 512 MiB written with 'a' reads back exactly (same-filled pages)."""
    s = System("64M")
    try:
        z = s.load_zram()[0]
        z.attr["disksize"] = "512M"
        chunk = b"a" * MIB
        for off in range(0, 512 * MIB, MIB):
            z.bdev.pwrite(chunk, off)
        for off in range(0, 512 * MIB, 16 * MIB):
            assert z.bdev.pread(MIB, off) == chunk
        st = mm_stat(z)
        assert st[0] == 512 * MIB and st[5] == 512 * MIB // PAGE_SIZE and st[2] == 0
    finally:
        s.close()
