"""The page file format and capturing a live process's memory."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from conftest import sample_pages
from swaplab import PAGE_SIZE
from swaplab.cli import main
from swaplab.workload.capture import capture, read_maps
from swaplab.workload.pagefile import (
    KIND_DATA,
    KIND_SAME,
    KIND_ZERO,
    classify,
    read_pagefile,
    write_pagefile,
)


def _mixed(n: int = 64) -> np.ndarray:
    pages = sample_pages(n, seed=3)
    pages[5] = 0
    pages.view(np.uint64)[9] = 0xDEADBEEF_00C0FFEE
    return pages


def test_round_trip_keeps_every_page_and_address(tmp_path):
    pages = _mixed()
    va = np.arange(len(pages), dtype=np.uint64) * PAGE_SIZE + 0x7F0000000000
    f = tmp_path / "p.swpl"
    write_pagefile(f, pages, va, {"source": "test"})
    pf = read_pagefile(f)
    assert np.array_equal(pf.pages, pages)
    assert np.array_equal(pf.vaddrs, va)
    assert pf.meta == {"source": "test"}


def test_zero_and_same_filled_pages_take_no_data_row(tmp_path):
    pages = _mixed()
    kind, value = classify(pages)
    assert kind[5] == KIND_ZERO and kind[9] == KIND_SAME and value[9] == 0xDEADBEEF_00C0FFEE
    ndata = int(np.count_nonzero(kind == KIND_DATA))
    assert ndata == len(pages) - 2
    nbytes = write_pagefile(tmp_path / "p.swpl", pages)
    assert nbytes == os.path.getsize(tmp_path / "p.swpl")
    # header page + index (rounded to a page) + one row per data page only
    assert nbytes <= PAGE_SIZE * (2 + ndata)


@pytest.mark.parametrize("damage, needle", [
    (lambda b: b"NOTPAGES" + b[8:], "magic"),
    (lambda b: b[: len(b) - PAGE_SIZE], "truncated"),
    (lambda b: b[:8] + (7).to_bytes(4, "little") + b[12:], "version 7"),
])
def test_corrupt_page_files_are_refused_with_einval(tmp_path, damage, needle):
    f = tmp_path / "p.swpl"
    write_pagefile(f, _mixed(16))
    f.write_bytes(damage(f.read_bytes()))
    with pytest.raises(OSError) as ei:
        read_pagefile(f)
    assert ei.value.errno == errno.EINVAL
    assert needle in str(ei.value)


def test_unknown_page_kind_is_named(tmp_path):
    f = tmp_path / "p.swpl"
    write_pagefile(f, _mixed(16))
    raw = bytearray(f.read_bytes())
    raw[PAGE_SIZE + 2 + 24 * 3 + 8] = 9  # page 3's kind (metadata "{}" is 2 bytes)
    f.write_bytes(bytes(raw))
    with pytest.raises(OSError, match="page 3 has unknown kind 9"):
        read_pagefile(f)


CHILD = r"""
import mmap, sys
buf = mmap.mmap(-1, 8 << 20, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
pat = bytes(range(256)) * 16
for i in range(0, len(buf), 4096):
    buf[i:i + 4096] = pat
    buf[i:i + 8] = (i // 4096).to_bytes(8, "little")
print("ready", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def child():
    p = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE)
    assert p.stdout.readline().strip() == b"ready"
    yield p
    p.kill()
    p.wait()


def test_capture_matches_proc_pid_mem_at_capture_time(child):
    if not os.access(f"/proc/{child.pid}/mem", os.R_OK):
        pytest.skip("no permission to read /proc/PID/mem")
    # stopped across capture and comparison, so "now" is "at capture time"
    os.kill(child.pid, signal.SIGSTOP)
    try:
        pf = capture(child.pid, freeze=False)
        fd = os.open(f"/proc/{child.pid}/mem", os.O_RDONLY)
        try:
            for k in range(len(pf)):
                assert os.pread(fd, PAGE_SIZE, int(pf.vaddrs[k])) == pf.pages[k].tobytes()
        finally:
            os.close(fd)
    finally:
        os.kill(child.pid, signal.SIGCONT)
    assert len(pf) > 2048  # at least the 8 MiB buffer
    # every page of the child's buffer is there, tag and pattern intact
    pat = np.frombuffer(bytes(range(256)) * 16, np.uint8)
    hits = (pf.pages[:, 8:] == pat[8:]).all(axis=1)
    tags = set(pf.pages[hits, :8].copy().view(np.uint64).ravel().tolist())
    assert tags >= set(range(2048))
    assert all(m.anonymous for m in read_maps(child.pid)
               if any(m.start <= int(v) < m.end for v in pf.vaddrs[:1]))
    assert pf.meta["pid"] == child.pid and pf.meta["pagemap"] in (True, False)


def test_capture_command_writes_a_readable_page_file(child, tmp_path, capsys):
    if not os.access(f"/proc/{child.pid}/mem", os.R_OK):
        pytest.skip("no permission to read /proc/PID/mem")
    out = tmp_path / "cap.swpl"
    assert main(["capture", str(child.pid), "-o", str(out), "--max-pages", "500"]) == 0
    pf = read_pagefile(out)
    assert len(pf) == 500
    assert "captured 500 pages" in capsys.readouterr().out


def test_capture_of_a_missing_process_fails_cleanly(capsys):
    pid = 2**22 + 12345
    with pytest.raises(OSError) as ei:
        capture(pid)
    assert ei.value.errno == errno.ESRCH
    assert main(["capture", str(pid), "-o", "/tmp/never.swpl"]) == 1
    assert "no process" in capsys.readouterr().err


def test_sampled_capture_is_seeded_exact_and_spread(child):
    if not os.access(f"/proc/{child.pid}/mem", os.R_OK):
        pytest.skip("no permission to read /proc/PID/mem")
    os.kill(child.pid, signal.SIGSTOP)  # the same touched pages for every capture below
    try:
        a = capture(child.pid, sample=300, seed=4, freeze=False)
        b = capture(child.pid, sample=300, seed=4, freeze=False)
        c = capture(child.pid, sample=300, seed=5, freeze=False)
        whole = capture(child.pid, freeze=False)
        everything = capture(child.pid, sample=10**9, freeze=False)
    finally:
        os.kill(child.pid, signal.SIGCONT)
    assert len(a) == 300 and np.array_equal(a.vaddrs, b.vaddrs)  # the seed decides
    assert not np.array_equal(a.vaddrs, c.vaddrs)
    assert (np.diff(a.vaddrs.astype(np.int64)) > 0).all()  # distinct, in address order
    at = {int(v): k for k, v in enumerate(whole.vaddrs)}
    for k, v in enumerate(a.vaddrs):  # each sampled page is the page at its address
        assert np.array_equal(a.pages[k], whole.pages[at[int(v)]])
    # spread over the process, not its first pages
    assert a.vaddrs.max() > whole.vaddrs[len(whole) * 3 // 4]
    assert a.meta["sample"] == 300 and a.meta["stopped_s"] >= 0
    assert len(everything) == len(whole)


BIG = r"""
import sys
buf = bytearray(1 << 30)
buf[::4096] = b"\x01" * (len(buf) // 4096)  # every page touched
print("ready", flush=True)
sys.stdin.read()
"""

MEASURE = r"""
import sys
from swaplab.workload.capture import capture
def status(key):
    with open("/proc/self/status") as f:
        return next(int(ln.split()[1]) * 1024 for ln in f if ln.startswith(key + ":"))
try:  # the high-water mark from here on (ru_maxrss would count the parent before exec)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
except OSError:
    pass
before = status("VmRSS")
pf = capture(int(sys.argv[1]), sample=int(sys.argv[2]), seed=1)
print(len(pf), status("VmHWM") - before)
"""


def test_sampled_capture_memory_is_bounded_by_the_sample():
    """On a process of 1 GiB, reading a sample of 8,192 pages (32 MiB) grows
    the capturing process by at most twice that (the whole process would be
    32 times as much)."""
    p = subprocess.Popen([sys.executable, "-c", BIG], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE)
    try:
        assert p.stdout.readline().strip() == b"ready"
        if not os.access(f"/proc/{p.pid}/mem", os.R_OK):
            pytest.skip("no permission to read /proc/PID/mem")
        r = subprocess.run([sys.executable, "-c", MEASURE, str(p.pid), "8192"],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        n, growth = r.stdout.split()
        assert int(n) == 8192
        assert int(growth) <= 2 * 8192 * PAGE_SIZE, f"grew {int(growth) >> 20} MiB"
    finally:
        p.kill()
        p.wait()


def test_capture_command_samples(child, tmp_path, capsys):
    if not os.access(f"/proc/{child.pid}/mem", os.R_OK):
        pytest.skip("no permission to read /proc/PID/mem")
    out = tmp_path / "cap.swpl"
    os.kill(child.pid, signal.SIGSTOP)  # the same touched pages for both captures
    try:
        assert main(["capture", str(child.pid), "-o", str(out), "--pages", "200", "--seed",
                     "3", "--no-freeze"]) == 0
        again = capture(child.pid, sample=200, seed=3, freeze=False)
    finally:
        os.kill(child.pid, signal.SIGCONT)
    pf = read_pagefile(out)
    assert len(pf) == 200
    assert np.array_equal(pf.vaddrs, again.vaddrs)
    assert main(["capture", str(child.pid), "-o", str(out), "--pages", "5",
                 "--max-pages", "5"]) == 2


def test_pagefile_corpus_is_a_seeded_sample(tmp_path):
    from swaplab.workload.corpus import corpus_pages
    from swaplab.workload.pagefile import write_pagefile

    pages = np.zeros((1000, PAGE_SIZE), dtype=np.uint8)
    pages[:, :8] = np.arange(1000, dtype=np.uint64).view(np.uint8).reshape(1000, 8)
    f = tmp_path / "p.swpl"
    write_pagefile(f, pages, np.arange(1000, dtype=np.uint64) * PAGE_SIZE, {})
    got = corpus_pages(f"pagefile:{f}", 100, seed=2)
    tags = got[:, :8].copy().view(np.uint64).ravel()
    assert len(set(tags.tolist())) == 100 and tags.max() > 500  # not the first 100
    assert np.array_equal(got, corpus_pages(f"pagefile:{f}", 100, seed=2))
