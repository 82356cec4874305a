"""The throughput benchmark's paths on a small corpus: every path reads back
what it wrote (the benchmark checks each page itself), and the swap_ops path
reaches zram without a bio while the bio-per-page ops build one per page.
No timing is asserted here (docs/PERFORMANCE.md has the figures)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import zram_throughput as zt

from conftest import sample_pages


@pytest.fixture(scope="module")
def pages():
    return sample_pages(192, seed=3)


def test_plain_loop_and_blockdev_path_time_both_directions(pages) -> None:
    for loop in (zt.plain_loop, zt.blockdev_path):
        tw, tr = loop(pages, "lz4")
        assert tw > 0 and tr > 0


def test_two_threads_write_every_page(pages) -> None:
    one, two = zt.two_threads(pages, "lz4")  # each run checks every page read back
    assert one > 0 and two > 0


def test_the_kernels_two_writers_store_every_page(pages) -> None:
    from swaplab.kernel.zram import KernelZram, unavailable

    if unavailable():
        pytest.skip(unavailable())
    with KernelZram("lz4", 256 * 4096) as kz:  # three writers: uneven shares
        kz.write_pages_threads(pages, 3)
        back, _ = kz.read_pages(len(pages))
    assert (back == pages).all()
    one, two = zt.kernel_two_threads(pages, "lz4")  # checks every page itself
    assert one > 0 and two > 0


@pytest.mark.parametrize("core", [False, True])
def test_swap_ops_path_stores_every_page_without_a_bio(pages, core) -> None:
    tw, tr, stats = zt.swap_path(pages, "lz4", bio_per_page=False, core=core)
    assert tw > 0 and tr > 0
    assert stats["bio_writes"] == 1  # mkswap's header; the swap-out used none
    # orig_data_size: every page stored, and mkswap's header page
    assert int(stats["mm_stat"][0]) == (len(pages) + 1) * 4096


def test_bio_path_builds_a_bio_per_page(pages) -> None:
    _, _, stats = zt.swap_path(pages, "lz4", bio_per_page=True, core=False)
    assert stats["bio_writes"] == 1 + len(pages)  # mkswap's header, then one a page


def test_ratios_name_each_reference() -> None:
    res = {p: {"write_mib_s": 100.0, "read_mib_s": 400.0, "rounds": [[90, 400], [100, 300]]}
           for p in ("plain", "kernel")}
    res["swap_ops"] = {"write_mib_s": 50.0, "read_mib_s": 100.0,
                       "rounds": [[45, 100], [50, 60]]}
    r = zt.ratios(res)
    assert r["swap_ops / plain"][:2] == (0.5, 0.25)
    # best against best, then the median of the rounds paired one by one
    assert r["swap_ops / kernel"] == (0.5, 0.25, ">= 1.0x write, >= 0.8x read", 0.5, 0.225)
    assert "blockdev / kernel" not in r  # no blockdev figure, no ratio


@pytest.mark.parametrize("skip", [None, "faults", "pageout"])
def test_fault_profile_pages_out_faults_in_and_checks_every_page(monkeypatch, capsys,
                                                                  skip) -> None:
    import fault_profile

    argv = ["fault_profile.py", "--pages", "256"] + (["--skip", skip] if skip else [])
    monkeypatch.setattr(sys, "argv", argv)
    fault_profile.main()  # exits naming the page when one reads back differently
    out = capsys.readouterr().out
    assert ("pageout" in out) == (skip != "pageout")
    assert ("latency p50" in out) == (skip is None)


def test_run_phase_runs_the_same_access_phase_as_swaplab_run(tmp_path) -> None:
    """benchmarks/run_phase.py populates and runs the accesses through the
    engine's own phases: its run-phase counters are those of ``Workload.run``
    on the same scenario, and --no-accesses stops after populating."""
    import run_phase

    from swaplab.workload.engine import Workload
    from swaplab.workload.scenario import load_scenario

    sc = tmp_path / "s.toml"
    sc.write_text('[system]\nmemory = "32M"\n[[swap]]\ntype = "zram"\nsize = "64M"\n'
                  'swap_ops = "activate"\n[[cgroup]]\nname = "app"\nmemory_max = "4M"\n'
                  '[[process]]\nname = "p"\nsize = "8M"\ncgroup = "app"\ncorpus = "sample"\n'
                  '[run]\naccesses = 3000\nverify_at_end = false\n')
    got = run_phase.main([str(sc)])
    with Workload(load_scenario(sc)) as w:
        want = w.run()["run_vmstat"]
    assert got["accesses"] == 3000 and got["pswpin"] > 0
    for k in ("pgfault", "pswpin", "pswpout", "pgscan_direct", "pgsteal_direct"):
        assert got[k] == want[k], k
    base = run_phase.main([str(sc), "--no-accesses"])
    assert base["accesses"] == 0 and base["pgfault"] == 0
