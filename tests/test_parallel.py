"""Sweeps: the same cells here, on local processes and as Ray tasks give the
same results (every figure that is not a timing)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: what a run decides, as opposed to what it times
SAME = ("design", "verified", "pages", "pool_mib", "compr_ratio", "backing_reads_per_fault",
        "cold_fault_ratio", "vmstat", "counters")


def bench(tmp_path, name, *extra):
    out = tmp_path / name
    r = subprocess.run([sys.executable, "-m", "swaplab.cli", "bench", "--pages", "128",
                        "--repeat", "2", "--corpus", "sample", "--design", "zram/swap_ops",
                        "--design", "zswap/filedisk", "--out", str(out), "--json", *extra],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["results"]


def same(a, b):
    assert [r["design"] for r in a] == [r["design"] for r in b]
    for x, y in zip(a, b, strict=True):
        for k in SAME:
            assert x[k] == y[k], (x["design"], k)
        for run_x, run_y in zip(x["runs"], y["runs"], strict=True):
            assert run_x["verified"] == run_y["verified"] == 128


def test_bench_on_local_processes_equals_one_process(tmp_path):
    same(bench(tmp_path, "one"), bench(tmp_path, "jobs", "--jobs", "2"))


def test_bench_on_ray_equals_the_local_run(tmp_path):
    pytest.importorskip("ray")
    same(bench(tmp_path, "one"), bench(tmp_path, "ray", "--ray", "local"))


def test_advise_on_ray_equals_the_local_run():
    pytest.importorskip("ray")
    from swaplab.bench.advise import run_advice
    from swaplab.workload.corpus import corpus_pages

    pages = corpus_pages("sample", 256, 3)
    local = run_advice(pages, 3, 256)
    remote = run_advice(pages, 3, 256, ray_address="local")
    for x, y in zip(local, remote, strict=True):
        for k in ("setting", "verified", "pool_bytes", "compr_ratio", "same_share",
                  "huge_share", "full_pool_bytes"):
            assert x[k] == y[k], (x["setting"], k)


def test_ray_missing_is_a_clear_error(monkeypatch):
    import builtins

    from swaplab.bench.parallel import run_cells

    real = builtins.__import__

    def no_ray(name, *a, **kw):
        if name == "ray":
            raise ImportError("no ray here")
        return real(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(OSError, match=r"pip install 'swaplab\[ray\]'"):
        run_cells(max, [1], 0, ray_address="local")
