"""zramctl view: columns, size strings, raw/bytes, and the host's zramctl as oracle."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from conftest import sample_pages
from swaplab.drivers.zram import zramctl
from swaplab.drivers.zram.zramctl import size_to_human_string
from swaplab.kernel.zram import KernelZram, unavailable
from zram_helpers import zram_device


@pytest.mark.parametrize(("n", "text"), [(0, "0B"), (100, "100B"), (1024, "1K"),
                                         (1536, "1.5K"), (64 << 20, "64M"), (4 << 30, "4G"),
                                         (8192000, "7.8M"), (1048575, "1024K")])
def test_size_strings(n, text):
    assert size_to_human_string(n) == text


def test_swaplab_devices_listed(system):
    z = zram_device(system, "64M")
    z.bdev.pwrite(sample_pages(2000, 1).tobytes(), 0)
    views = zramctl.swaplab_views(system)
    table = zramctl.rows(views)
    assert len(table) == 1
    row = table[0]
    mm = [int(x) for x in z.attr["mm_stat"].split()]
    assert row["NAME"] == "/dev/zram0" and row["ALGORITHM"] == "lzo-rle"  # the default
    assert row["DISKSIZE"] == "64M" and row["DATA"] == size_to_human_string(mm[0])
    assert row["MOUNTPOINT"] == ""
    all_ = zramctl.rows(views, zramctl.ALL_COLUMNS, in_bytes=True)[0]
    assert all_["COMP-RATIO"] == f"{mm[0] / mm[2]:.2f}" and all_["DATA"] == str(mm[0])
    assert all_["ZERO-PAGES"] == str(mm[5])
    system.mkswap(z.bdev)
    system.swapon(z.bdev)
    assert zramctl.rows(zramctl.swaplab_views(system))[0]["MOUNTPOINT"] == "[SWAP]"


def test_uninitialised_devices_are_not_listed(system):
    zram_device(system, "")
    assert zramctl.rows(zramctl.swaplab_views(system)) == []


def test_table_alignment():
    table = [{"NAME": "/dev/zram0", "ALGORITHM": "lz4", "DISKSIZE": "64M", "DATA": "7.8M",
              "COMPR": "4.3M", "TOTAL": "5.6M", "STREAMS": "2", "MOUNTPOINT": ""}]
    text = zramctl.format_table(table, zramctl.DEFAULT_COLUMNS)
    assert text == ("NAME       ALGORITHM DISKSIZE  DATA COMPR TOTAL STREAMS MOUNTPOINT\n"
                    "/dev/zram0 lz4            64M  7.8M  4.3M  5.6M       2\n")
    raw = zramctl.format_table(table, zramctl.DEFAULT_COLUMNS, raw=True, noheadings=True)
    assert raw == "/dev/zram0 lz4 64M 7.8M 4.3M 5.6M 2 \n"


def test_cli(tmp_path):
    r = subprocess.run([sys.executable, "-m", "swaplab.cli", "zramctl", "--fill", "500",
                        "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    dev = json.loads(r.stdout)["zramdevices"][0]
    assert dev["name"] == "/dev/zram0" and dev["disksize"] == "64M"
    for argv, code in ((["-a", "842"], 2), (["-o", "FOO"], 2), (["-s", "zero"], 2),
                       (["--fill", "100000"], 2)):
        r = subprocess.run([sys.executable, "-m", "swaplab.cli", "zramctl", *argv],
                           capture_output=True, text=True)
        assert r.returncode == code, (argv, r.stderr)
        assert r.stderr.strip()


@pytest.mark.skipif(unavailable() is not None or shutil.which("zramctl") is None,
                    reason="needs root, the kernel's zram and util-linux zramctl")
def test_same_text_as_util_linux_zramctl():
    pages = sample_pages(2000, 1)
    with KernelZram("lz4", 64 << 20) as kz:
        kz.write_pages(pages)
        cols = ("NAME", "ALGORITHM", "DISKSIZE", "DATA", "COMPR", "TOTAL", "MOUNTPOINT")
        theirs = subprocess.run(["zramctl", "-o", ",".join(cols)], capture_output=True,
                                text=True, check=True).stdout
        mine = zramctl.format_table(zramctl.rows(zramctl.host_views(), cols), cols)
        theirs_lines = [ln.rstrip() for ln in theirs.splitlines() if
                        ln.startswith(("NAME", f"/dev/{kz.name} "))]
        assert [ln.rstrip() for ln in mine.splitlines()] == theirs_lines
        raw_t = subprocess.run(["zramctl", "--raw", "-b", "-o", ",".join(cols)],
                               capture_output=True, text=True, check=True).stdout
        raw_m = zramctl.format_table(zramctl.rows(zramctl.host_views(), cols, True), cols,
                                     raw=True)
        assert [ln for ln in raw_m.splitlines()] == [ln for ln in raw_t.splitlines() if
                                                     ln.startswith(("NAME", f"/dev/{kz.name} "))]
