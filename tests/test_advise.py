"""swaplab advise: every setting on the same pages, the exact pool, and advice
that follows from the figures it prints."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from swaplab import PAGE_SIZE
from swaplab.bench.advise import (
    COMPRESS_FLOOR_MIB_S,
    LATENCY_SLACK,
    ZRAM_GENERATOR_CAP,
    recommend,
    settings,
)
from swaplab.lib.compress import available


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("advise")
    r = subprocess.run([sys.executable, "-m", "swaplab.cli", "advise", "sample", "--pages",
                        "1024", "--ram", "2G", "--out", str(out), "--json"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert json.loads((out / "advise.json").read_text()) == doc
    assert (out / "advise.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return doc


def test_every_setting_runs_on_every_page(report):
    rows = report["rows"]
    assert [r["setting"] for r in rows] == [s.name for s in settings()]
    assert {r["algorithm"] for r in rows if r["kind"] == "zram"} == set(available())
    for r in rows:
        assert r["verified"] == r["pages"] == 1024
        assert r["compr_ratio"] == pytest.approx(1024 * PAGE_SIZE / r["pool_bytes"])
        assert r["compress_mib_s"] > 0 and r["decompress_mib_s"] > 0
        assert 0 < r["swapin_p50_us"] <= r["swapin_p99_us"]
    pools = {r["setting"]: r["pool_bytes"] for r in rows}
    assert pools["zram zstd level=9"] < pools["zram lz4"]  # a denser codec, a smaller pool


def test_the_recommendation_follows_from_the_printed_figures(report):
    rows, rec = report["rows"], report["recommendation"]
    zram = [r for r in rows if r["kind"] == "zram"]
    fastest = min(r["swapin_p50_us"] for r in zram)
    ok = [r for r in zram if r["swapin_p50_us"] <= LATENCY_SLACK * fastest
          and r["compress_mib_s"] >= COMPRESS_FLOOR_MIB_S]
    pick = min(ok, key=lambda r: r["pool_bytes"])
    assert rec["pick"] == pick["setting"] and rec["comp_algorithm"] == pick["algorithm"]
    assert rec["algorithm_params"] == pick["params"]
    assert rec["disksize"] == 1 << 30  # zram-generator: half of --ram 2G
    assert rec["mem_limit"] == int(pick["full_pool_bytes"] * 1.25)
    assert rec["why"][0].startswith(pick["setting"])


def test_recommend_rules_on_their_own():
    def row(name, algo, pool, p50, comp=400.0, huge=0.0, params=None):
        return {"setting": name, "kind": "zram", "algorithm": algo, "params": params,
                "pool_bytes": pool, "compr_ratio": 4096.0 / pool, "swapin_p50_us": p50,
                "compress_mib_s": comp, "huge_share": huge, "full_pool_bytes": 10 * pool,
                "full_size_bytes": 40960}
    rows = [row("zram lz4", "lz4", 1000, 10.0), row("zram zstd", "zstd", 700, 14.0),
            row("zram deflate", "deflate", 500, 30.0, comp=20.0)]
    rec = recommend(rows, 64 << 30)
    assert rec["pick"] == "zram zstd"  # smallest pool within 1.5x latency
    assert rec["recomp_algorithm"] == "algo=deflate priority=1"  # 29% smaller again
    assert rec["disksize"] == ZRAM_GENERATOR_CAP and rec["writeback"] is None
    rows[1]["huge_share"] = 0.2
    assert recommend(rows, 4 << 30)["writeback"] == "huge"
    slow = [row("zram lz4", "lz4", 1000, 10.0, comp=50.0)]
    assert recommend(slow, 4 << 30)["pick"] == "zram lz4"  # none qualifies: the fastest
