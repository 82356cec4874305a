"""Bad input, fuzzed: every writable zram attribute, zswap's parameters, the cgroup
files, the CLI, scenario files, swap headers and page files.

Each input must give a clear error (OSError with an errno, or exit code 2 with
a message) or a correct result — never another exception, a hang (Hypothesis
deadline) or the silent acceptance of a value the kernel would refuse (checked
against a reference parse where the attribute reads back).

Examples per target: ``SWAPLAB_FUZZ_EXAMPLES`` (default 60 in the test suite;
the documented run in docs/RELIABILITY.md uses 1000).
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import re
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swaplab import PAGE_SIZE, System
from swaplab.cli import build_parser, main
from swaplab.drivers.zram.sysfs import ATTRS
from swaplab.mm.swap_header import build_swap_header, parse_swap_header
from swaplab.mm.zswap import Zswap
from swaplab.workload.pagefile import read_pagefile, write_pagefile
from swaplab.workload.scenario import parse_scenario

N = int(os.environ.get("SWAPLAB_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=N, deadline=5000, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
ERRNOS = {errno.EINVAL, errno.EBUSY, errno.ENOENT, errno.ENOMEM, errno.ENOSPC, errno.EIO,
          errno.EACCES, errno.ENODEV, errno.ENOTBLK, errno.EPERM, errno.E2BIG, errno.ERANGE,
          errno.EEXIST, errno.EAGAIN, errno.ENXIO, errno.EOPNOTSUPP}

# text a user might write into a sysfs file: numbers with suffixes, keywords,
# key=value lists, junk, overlong numbers, NULs and newlines
TEXT = st.one_of(
    st.text(max_size=40),
    st.from_regex(r"-?(0x)?[0-9]{1,25}[KMGTPEkmgtpe]?\n?", fullmatch=True),
    st.from_regex(r"(type|algo|priority|threshold|max_pages|page_index|page_indexes|"
                  r"level|dict|all|idle|huge|huge_idle|incompressible)(=[-0-9a-z/.]{0,12})?"
                  r"( [a-z_]{1,10}=[-0-9a-z]{0,8}){0,2}\n?", fullmatch=True),
    st.sampled_from(["", "\n", "0", "1", "all", "lz4", "zstd", "lzo-rle", "842", "max",
                     "4096", "1M", "18446744073709551616", "-1", "0x10", "1 2", "\0"]),
)

WRITABLE = sorted(name for name, (_, store) in ATTRS.items() if store is not None)


def _kstrtoull(text: str) -> int | None:
    t = text[:-1] if text.endswith("\n") else text
    if not re.fullmatch(r"\+?[0-9]+", t):
        return None
    v = int(t)
    return v if v < 1 << 64 else None


def _device(initialised: bool):
    s = System("64M")
    z = s.load_zram()[0]
    if initialised:
        z.attr["disksize"] = "8M"
        z.bdev.pwrite(np.full(PAGE_SIZE * 4, 7, np.uint8), 0)
    return s, z


@pytest.mark.parametrize("initialised", [False, True], ids=["fresh", "initialised"])
@pytest.mark.parametrize("name", WRITABLE)
def test_zram_attribute(name, initialised):
    s, z = _device(initialised)
    try:
        @FUZZ
        @given(TEXT)
        def check(text):
            try:
                z.attr[name] = text
            except OSError as e:
                assert e.errno in ERRNOS, f"{name}={text!r}: errno {e.errno}"
                assert e.strerror, f"{name}={text!r}: an error without a message"
                return
            if not text:  # a write of 0 bytes is accepted and changes nothing (sysfs)
                return
            # accepted: it must be a value the kernel accepts, and read back as such
            if name in ("writeback_limit", "writeback_batch_size"):
                v = _kstrtoull(text)
                assert v is not None, f"{name} accepted {text!r}"
                if name == "writeback_batch_size":
                    assert v > 0 and z.attr[name] == f"{v}\n"
            if name == "comp_algorithm":
                assert re.search(r"\[" + re.escape(text.strip()) + r"\]", z.attr[name])
            for other in ("mm_stat", "io_stat", "debug_stat", "disksize", "initstate"):
                z.attr[other]  # still readable
        check()
    finally:
        s.close()


def test_every_writable_attribute_is_fuzzed():
    """The fuzzed list is the attribute table's stores; it must be kernel-facts
    §3.12's writable files, by name (so a store lost or added shows here)."""
    assert set(WRITABLE) == {
        "disksize", "reset", "compact", "mem_limit", "mem_used_max", "idle",
        "comp_algorithm", "algorithm_params", "backing_dev", "writeback",
        "writeback_limit", "writeback_limit_enable", "writeback_batch_size",
        "writeback_compressed", "compressed_writeback", "recomp_algorithm", "recompress"}


@FUZZ
@given(st.sampled_from(["enabled", "compressor", "max_pool_percent",
                        "accept_threshold_percent", "shrinker_enabled"]), TEXT)
def test_zswap_parameters(name, text):
    with System("16M") as s:
        z = Zswap(s)
        try:
            z.params[name] = text
        except OSError as e:
            assert e.errno in ERRNOS
            return
        if name == "accept_threshold_percent":
            assert 0 <= int(z.params[name]) <= 100
        z.params[name]  # reads back


@FUZZ
@given(st.sampled_from(["memory.max", "memory.swap.max", "memory.zswap.max",
                        "memory.zswap.writeback", "memory.reclaim"]), TEXT)
def test_cgroup_files(name, text):
    with System("16M") as s:
        cg = s.create_cgroup("fuzz")
        try:
            cg.attr[name] = text
        except OSError as e:
            assert e.errno in ERRNOS
            return
        if name != "memory.reclaim":
            assert re.fullmatch(r"(max|[0-9]+)\n", cg.attr[name]), cg.attr[name]


ARGV = st.lists(st.one_of(
    st.sampled_from(["zramctl", "compare", "capture", "run", "calibrate", "bench", "advise",
                     "--json", "--jobs", "--ray", "--ram",
                     "--pages", "--repeat", "--design", "--corpus", "-o", "--output", "-s",
                     "--raw", "--bytes", "-n", "--fill", "0", "-1", "64", "nope", "zram0",
                     "NAME,ALGORITHM", "+ZERO-PAGES", "/nonexistent", "pagefile:/x", "--seed",
                     "--algo", "-a", "lz4", "zstd", "842", "--out", "--kernel", "--progress",
                     "--max-pages", "--no-freeze", "--output-all", "100T", "", "1E", "0x"]),
    st.text(max_size=12)), max_size=6)


@FUZZ
@given(ARGV)
def test_command_line(argv):
    if argv and argv[0] in ("bench", "calibrate", "capture", "run", "advise"):
        # these run for real on valid input: check the parser alone
        try:
            build_parser().parse_args(argv)
        except Exception as e:  # the parser's usage error
            assert type(e).__name__ == "UsageError", repr(e)
        return
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    assert code in (0, 1, 2)
    assert "internal error" not in err.getvalue(), err.getvalue()


JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
              st.text(max_size=8), st.sampled_from(["zram/swap_ops", "median", "results"])),
    lambda ch: st.one_of(st.lists(ch, max_size=3), st.dictionaries(st.sampled_from(
        ["results", "design", "vmstat", "lat_p50_us", "median", "min", "max", "runs",
         "faults_per_s", "pool_mib"]), ch, max_size=4)),
    max_leaves=10)


@FUZZ
@given(JSON, JSON)
def test_compare_reports(a, b):
    with tempfile.TemporaryDirectory() as tmp:
        pa, pb = os.path.join(tmp, "a.json"), os.path.join(tmp, "b.json")
        for path, doc in ((pa, a), (pb, b)):
            with open(path, "w") as f:
                json.dump(doc, f)
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(["compare", pa, pb])
    assert code in (0, 2)
    assert "internal error" not in err.getvalue(), err.getvalue()


SCEN = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-5, 1 << 40), st.floats(allow_nan=True),
              st.text(max_size=10), st.sampled_from(["64M", "zipf", "zram", "max", "8M"])),
    lambda ch: st.one_of(st.lists(ch, max_size=3),
                         st.dictionaries(st.sampled_from(
                             ["system", "swap", "process", "cgroup", "run", "zswap", "memory",
                              "size", "name", "type", "pattern", "accesses", "cgroup",
                              "memory_max", "vmas", "trace", "bogus"]), ch, max_size=4)),
    max_leaves=12)


@FUZZ
@given(st.dictionaries(st.sampled_from(["system", "swap", "process", "cgroup", "run",
                                        "zswap", "x"]), SCEN, max_size=4))
def test_scenario_files(data):
    try:
        parse_scenario(data, "fuzz.toml")
    except OSError as e:
        assert e.errno == errno.EINVAL and e.strerror.startswith("fuzz.toml: ")


@FUZZ
@given(st.lists(st.tuples(st.integers(0, PAGE_SIZE - 1), st.integers(0, 255)), min_size=1,
                max_size=8))
def test_corrupt_swap_headers(edits):
    page = bytearray(build_swap_header(4096))
    for off, val in edits:
        page[off] = val
    try:
        h = parse_swap_header(bytes(page))
    except OSError as e:
        assert e.errno == errno.EINVAL
        return
    assert h.last_page >= 1  # accepted: a header swapon can use


@FUZZ
@given(st.data())
def test_corrupt_page_files(tmp_path_factory, data):
    d = tmp_path_factory.mktemp("pf")
    f = d / "p.swpl"
    pages = np.zeros((6, PAGE_SIZE), np.uint8)
    pages[1:3] = 0x41
    pages[3, ::7] = 9
    write_pagefile(f, pages)
    raw = bytearray(f.read_bytes())
    cut = data.draw(st.one_of(st.none(), st.integers(0, len(raw))))
    edits = data.draw(st.lists(st.tuples(st.integers(0, 2 * PAGE_SIZE), st.integers(0, 255)),
                               max_size=6))
    for off, val in edits:
        if off < len(raw):
            raw[off] = val
    if cut is not None:
        raw = raw[:cut]
    f.write_bytes(bytes(raw))
    try:
        pf = read_pagefile(f)
    except OSError as e:
        assert e.errno == errno.EINVAL, e
        return
    assert pf.pages.shape[1] == PAGE_SIZE and len(pf.vaddrs) == len(pf.pages)
