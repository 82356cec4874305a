"""The workload engine: patterns, scenario files, runs with every page verified."""

from __future__ import annotations

import errno
import json
import textwrap

import numpy as np
import pytest

from swaplab import PAGE_SIZE
from swaplab.cli import main
from swaplab.mm.swapops import swp_offset
from swaplab.workload.corpus import SOURCES, corpus_pages, describe, file_pages, sample_corpus
from swaplab.workload.engine import PageCorruption, Workload, page_hash
from swaplab.workload.patterns import (
    DirtyModel,
    access_chunks,
    read_trace,
    schedule,
)
from swaplab.workload.scenario import load_scenario, parse_scenario

SMALL = {
    "system": {"memory": "16M", "seed": 3},
    "swap": [{"type": "zram", "size": "64M"}],
    # the shipped pages compress to ~55%: with zero and same-filled pages among
    # them the pool fits beside the working set in 16 MiB
    "process": [{"name": "a", "size": "24M", "pattern": "zipf", "zipf_s": 0.9,
                 "corpus": "sample", "zero": 0.4, "same": 0.1}],
    "run": {"accesses": 12000},
}


# --- corpora and patterns -------------------------------------------------------------

def test_corpus_is_seeded_and_has_the_stated_zero_and_same_shares():
    a = corpus_pages("sample", 1000, seed=9, zero=0.2, same=0.1)
    b = corpus_pages("sample", 1000, seed=9, zero=0.2, same=0.1)
    assert np.array_equal(a, b)
    d = describe(a)
    assert d["zero"] >= 0.2 and d["same_filled"] >= 0.3
    assert d["same_filled"] < 0.45  # real file pages are rarely same-filled
    assert not np.array_equal(a, corpus_pages("sample", 1000, seed=10, zero=0.2, same=0.1))
    with pytest.raises(OSError) as ei:
        corpus_pages("nowhere", 10)
    assert ei.value.errno == errno.EINVAL and "nowhere" in str(ei.value)
    with pytest.raises(OSError):
        corpus_pages("sample", 10, zero=0.8, same=0.5)


def test_file_pages_come_from_the_files_that_pass_the_filter(tmp_path):
    """The ``elf`` source's reader on a folder made here: ELF files (the magic,
    then shipped ELF pages) beside text files; only ELF pages come out."""
    corpus = sample_corpus()
    elf_pages = set()
    for k in range(4):
        body = corpus[1024 + 8 * k : 1024 + 8 * (k + 1)].copy()
        body[0, :4] = np.frombuffer(b"\x7fELF", np.uint8)
        (tmp_path / f"prog{k}").write_bytes(body.tobytes())
        elf_pages |= {row.tobytes() for row in body}
        (tmp_path / f"doc{k}.txt").write_bytes(corpus[8 * k : 8 * (k + 1)].tobytes())
    _roots, is_elf = SOURCES["elf"]
    p = file_pages(300, seed=1, roots=(str(tmp_path),), want=is_elf)
    assert len(p) == 300 and all(row.tobytes() in elf_pages for row in p)
    assert len({row.tobytes() for row in p}) > 8  # pages of several files


def test_patterns_are_deterministic_and_shaped():
    def run(pattern, seed):
        return np.concatenate([v for v, _ in access_chunks(pattern, 1000, 20000, seed=seed)])
    for pat in ("sequential", "uniform", "zipf"):
        assert np.array_equal(run(pat, 1), run(pat, 1))
    seq = run("sequential", 1)
    assert np.array_equal(seq[:2500], np.arange(2500) % 1000)
    uni = np.bincount(run("uniform", 1), minlength=1000)
    zipf = np.sort(np.bincount(run("zipf", 1), minlength=1000))[::-1]
    # zipf(1.0) over 1000 pages: the hottest 10% take more than half the accesses
    assert zipf[:100].sum() > 0.5 * 20000 > uni[np.argsort(uni)[::-1][:100]].sum()
    writes = np.concatenate([w for _, w in access_chunks("uniform", 100, 10000, seed=2,
                                                          write_ratio=0.25)])
    assert 0.2 < writes.mean() < 0.3
    with pytest.raises(OSError):
        next(access_chunks("spiral", 10, 10, seed=1))


def test_phased_schedule_lets_processes_take_turns():
    streams = [access_chunks("sequential", 100, 3000, seed=i) for i in range(3)]
    order = [i for i, v, _ in schedule(streams, "phased", phase=1000) for _ in range(len(v))]
    runs = [order[k] for k in range(0, 9000, 1000)]
    assert runs == [0, 1, 2, 0, 1, 2, 0, 1, 2]
    assert all(len(set(order[k : k + 1000])) == 1 for k in range(0, 9000, 1000))


def test_dirty_model_changes_a_span_with_real_bytes():
    donors = corpus_pages("sample", 50, seed=1)
    page = donors[0].copy()
    before = page.copy()
    DirtyModel(donors, seed=1).apply(page)
    diff = np.flatnonzero(page != before)
    assert len(diff) and diff[-1] - diff[0] < 1024 + 8


def test_dirty_model_writes_the_same_span_through_a_flat_view():
    donors = corpus_pages("sample", 50, seed=1)
    pages = donors[:8].copy()
    by_page = pages.copy()
    a, b = DirtyModel(donors, seed=3), DirtyModel(donors, seed=3)
    flat = memoryview(pages.reshape(-1))
    for k in [5, 0, 7, 5, 2] * 900:  # past one batch of drawn spans
        a.write(flat, k * PAGE_SIZE)
        b.apply(by_page[k])
    assert np.array_equal(pages, by_page)
    assert not np.array_equal(pages[5], donors[5])  # written pages changed
    assert np.array_equal(pages[1], donors[1])  # the others did not


def test_trace_file_is_parsed_and_bad_lines_are_named(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("time,pid,address,rw\n0.0,0,0x1000,r\n0.5,1,8192,w\n")
    tr = read_trace(f)
    assert tr.vpn.tolist() == [1, 2] and tr.write.tolist() == [False, True]
    f.write_text("0.0,0,0x1000,r\n0.1,0,0x2000,x\n")
    with pytest.raises(OSError, match=r"t\.csv:2: rw is 'x'"):
        read_trace(f)


# --- scenarios ---------------------------------------------------------------------------

@pytest.mark.parametrize("patch, needle", [
    ({"process": [{"name": "a", "size": "8M", "pattern": "zipfy"}]}, "process[0].pattern"),
    ({"process": [{"name": "a", "size": "lots"}]}, "process[0].size = 'lots'"),
    ({"process": [{"name": "a", "size": "8M", "colour": 1}]}, "process[0].colour"),
    ({"swap": [{"type": "tape", "size": "8M"}]}, "swap[0].type = 'tape'"),
    ({"system": {"page_cluster": 40}}, "system.page_cluster = 40"),
    ({"process": [{"name": "a", "size": "8M", "cgroup": "nope"}]}, "'nope'"),
    ({"cgroup": [{"name": "x", "memory_max": "12Q"}]}, "cgroup[0].memory_max = '12Q'"),
    ({"swap": [{"type": "ramdisk", "size": "8M", "backing_dev": "1M"}]}, "zram settings"),
    ({"swap": [{"type": "zram", "size": "8M", "virtual": True}]}, "not a zram"),
    ({"swap": [{"type": "ramdisk", "size": "8M", "layout": "C"}]}, "virtual = true"),
    ({"swap": [{"type": "ramdisk", "size": "8M", "virtual": True, "layout": "B"}]},
     "swap[0].layout = 'B'"),
    ({"swap": [{"type": "ramdisk", "size": "8M", "virtual": True}] * 2}, "one virtual"),
])
def test_scenario_errors_name_the_key_and_the_value(patch, needle):
    with pytest.raises(OSError) as ei:
        parse_scenario({**SMALL, **patch}, "s.toml")
    assert ei.value.errno == errno.EINVAL
    assert needle in ei.value.strerror and ei.value.strerror.startswith("s.toml: ")


def test_scenario_file_loads(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text(textwrap.dedent("""
        [system]
        memory = "32M"
        [[swap]]
        type = "zram"
        size = "64M"
        backing_dev = "16M"
        [[cgroup]]
        name = "app"
        memory_max = "8M"
        swap_max = "max"
        [[process]]
        name = "p"
        size = "16M"
        cgroup = "app"
        vmas = [1024, 3072]
    """))
    sc = load_scenario(f)
    assert sc.system.memory == 32 << 20 and sc.cgroup[0].memory_max == 8 << 20
    assert sc.cgroup[0].swap_max is None and sc.process[0].vmas == [1024, 3072]
    f.write_text("[system\n")
    with pytest.raises(OSError, match="not valid TOML"):
        load_scenario(f)


# --- runs --------------------------------------------------------------------------------

def _run(data, **kw):
    with Workload(parse_scenario(data)) as w:
        return w.run(**kw)


def test_run_verifies_every_fault_and_is_deterministic():
    a = _run(SMALL)
    b = _run(SMALL)
    touched = 24 * 256
    assert a["pages_verified"] >= touched + a["run_vmstat"]["pswpin"] > touched
    assert a["vmstat"]["pswpout"] > 0 and a["vmstat"]["pswpin"] > 0
    for k in ("pgfault", "pgmajfault", "pswpin", "pswpout", "swpout_zero"):
        assert a["vmstat"][k] == b["vmstat"][k]
    assert a["zram"]["zram0"]["mm_stat"] == b["zram"]["zram0"]["mm_stat"]
    assert set(a["zram"]["zram0"]["mm_stat"]) >= {"orig_data_size", "mem_used_total"}
    assert a["faults_per_s"] > 0 and a["swapped_pages_per_s"] > 0
    assert a["resident_pages"] <= 4096


def test_a_page_corrupted_on_the_device_is_caught_and_named():
    sc = parse_scenario({**SMALL, "run": {"accesses": 0, "verify_at_end": False}})
    with Workload(sc) as w:
        w.run()
        proc = w.procs[0]
        mm = proc.mm
        vpn = next(v for v in range(mm.nr_pages) if mm.swap_entry_at(v)
                   and w.system.swap.info_of(mm.swap_entry_at(v)).zeromap[
                       swp_offset(mm.swap_entry_at(v))] == 0)
        entry = mm.swap_entry_at(vpn)
        z = w.system.modules["zram"][0]
        z.bdev.pwrite(b"\x5a" * 100 + bytes(PAGE_SIZE - 100), swp_offset(entry) * PAGE_SIZE)
        with pytest.raises(PageCorruption) as ei:
            w.access(proc, np.array([vpn]), np.array([False]))
        msg = str(ei.value)
        assert f"page {vpn} " in msg and "swapped out 1 times" in msg
        assert f"slot {swp_offset(entry)}" in msg and "zram0" in msg


def test_cgroups_in_a_scenario_limit_and_swap():
    data = {
        "system": {"memory": "64M", "seed": 1},
        "swap": [{"type": "ramdisk", "size": "64M"}],
        "cgroup": [{"name": "small", "memory_max": "4M"},
                   {"name": "noswap", "swap_max": 0}],
        "process": [{"name": "a", "size": "8M", "cgroup": "small", "pattern": "uniform",
                     "corpus": "sample"},
                    {"name": "b", "size": "4M", "cgroup": "noswap", "corpus": "sample"}],
        "run": {"accesses": 8000, "schedule": "phased", "phase": 2000},
    }
    r = _run(data)
    small = r["cgroups"]["small"]
    assert small["memory.current"] <= 4 << 20
    assert "pswpout 0\n" not in small["memory.stat"]
    assert "pswpout 0\n" in r["cgroups"]["noswap"]["memory.stat"]
    assert r["cgroups"]["noswap"]["memory.swap.current"] == 0


@pytest.mark.parametrize("layout", ["A", "C"])
def test_virtual_swap_with_compressed_writeback_under_pressure(layout):
    """zswap's pool limit makes it write back while the workload runs: blobs go
    to the disk behind the virtual entries, and every page comes back right."""
    data = {
        "system": {"memory": "32M", "seed": 2},
        "swap": [{"type": "ramdisk", "size": "64M", "virtual": True,
                  "compressed_writeback": True, "layout": layout}],
        "zswap": {"enabled": True, "max_pool_percent": 5},
        "cgroup": [{"name": "app", "memory_max": "8M"}],
        "process": [{"name": "a", "size": "24M", "cgroup": "app", "pattern": "zipf",
                     "corpus": "sample", "zero": 0.1, "write_ratio": 0.2}],
        "run": {"accesses": 6000},
    }
    with Workload(parse_scenario(data)) as w:
        r = w.run()
        vs = w.system.swap.vswap.statistics().files
        zs = w.system.zswap.debugfs()
    assert r["pages_verified"] > 24 * 256
    assert r["vmstat"]["zswpwb"] > 0 and zs["writeback_decompressions"] == 0
    assert zs["written_back_compressed_pages"] > 0 and zs["compressed_blob_reads"] > 0
    assert vs["blob_pages_written"] > 0


def test_trace_replay_runs_on_the_virtual_clock(tmp_path):
    f = tmp_path / "t.csv"
    rows = [f"{k * 0.01:.2f},{k % 2},{(k * 7 % 1024) * PAGE_SIZE},{'w' if k % 3 else 'r'}"
            for k in range(3000)]
    f.write_text("\n".join(rows) + "\n")
    data = {**SMALL, "process": [{"name": "a", "size": "4M", "corpus": "sample"},
                                 {"name": "b", "size": "4M", "corpus": "sample"}],
            "run": {"trace": str(f), "populate": False}}
    r = _run(data)
    assert r["accesses"] == 3000 and r["virtual_s"] >= 29.98
    bad = tmp_path / "bad.csv"
    bad.write_text("0,5,0,r\n")
    with pytest.raises(OSError, match="names pid 5"):
        _run({**data, "run": {"trace": str(bad)}})


def test_run_command_prints_the_report(tmp_path, capsys):
    f = tmp_path / "s.toml"
    f.write_text('[system]\nmemory = "16M"\n[[swap]]\ntype = "zram"\nsize = "32M"\n'
                 '[[process]]\nname = "a"\nsize = "20M"\ncorpus = "sample"\nzero = 0.4\n'
                 '[run]\naccesses = 2000\n')
    assert main(["run", str(f), "--out", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "all verified" in out and "zram0 mm_stat" in out and "swap-in faults" in out
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["swapin_fault_latency_us"]["faults"] > 0
    assert rep["swapin_fault_latency_us"]["p50"] <= rep["swapin_fault_latency_us"]["p99"]
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["run", str(tmp_path / "missing.toml")]) == 2
    f.write_text("[[process]]\nname = 1\n")
    assert main(["run", str(f)]) == 2
    assert "process[0]" in capsys.readouterr().err


def test_page_hash_is_of_the_contents():
    a = np.zeros(PAGE_SIZE, np.uint8)
    b = a.copy()
    b[4095] = 1
    assert page_hash(a) != page_hash(b) and page_hash(a) == page_hash(a.copy())
