"""The swaplab command: output shape, files written, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from swaplab.cli import main


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "swaplab.cli", *args], capture_output=True,
                          text=True, timeout=600)


def test_bench_json_and_png(tmp_path):
    r = run("bench", "--pages", "64", "--repeat", "2", "--out", str(tmp_path), "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert json.loads((tmp_path / "bench.json").read_text()) == doc
    png = (tmp_path / "bench-latency-cdf.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    names = [x["design"] for x in doc["results"]]
    assert names == ["ram/swap_ops", "ram/bio-per-page", "file/swap_ops", "swapfile",
                     "zram/swap_ops", "zram/bio-per-page"]
    for res in doc["results"]:
        assert res["repeats"] == 2 and res["verified"] == 128
        for key in ("lat_avg_us", "lat_p50_us", "lat_p99_us", "lat_p999_us"):
            v = res[key]
            assert 0 < v["min"] <= v["median"] <= v["max"]
        assert res["vmstat"]["pswpout"] + res["vmstat"]["swpout_zero"] == 64
        assert len(res["runs"]) == 2
    assert doc["machine"]["cpus"] >= 1 and doc["corpus"]["pages"] == 64


def test_bench_table(tmp_path):
    r = run("bench", "--pages", "32", "--repeat", "1", "--design", "ram/swap_ops",
            "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "ram/swap_ops" in r.stdout and "p99" in r.stdout and "32/32" in r.stdout
    assert "ram/bio-per-page" not in r.stdout


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["bench", "--frobnicate"], "unrecognized arguments"),
        (["bench", "--pages", "0"], "must be positive"),
        (["bench", "--pages", "many"], "not a whole number"),
        (["bench", "--design", "nope"], "unknown design 'nope'"),
        (["bench", "--corpus", "/no/such/dir"], "/no/such/dir"),
        ([], "required"),
    ],
)
def test_usage_errors_exit_2(argv, needle, capsys, tmp_path):
    code = main([*argv, "--out", str(tmp_path)] if argv else argv)
    assert code == 2
    assert needle in capsys.readouterr().err


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert "swaplab" in capsys.readouterr().out
