"""The swaplab command: output shape, files written, exit codes."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys

import pytest

from swaplab.cli import build_parser, main
from swaplab.kernel.swapin import swap_areas
from swaplab.kernel.zram import unavailable


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "swaplab.cli", *args], capture_output=True,
                          text=True, timeout=600)


def test_bench_json_and_png(tmp_path):
    r = run("bench", "--pages", "64", "--repeat", "2", "--corpus", "sample", "--out",
            str(tmp_path), "--json")
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    doc = json.loads(r.stdout)
    assert json.loads((tmp_path / "bench.json").read_text()) == doc
    for name in ("bench-latency-cdf.png", "bench-time-split.png", "bench-writeback.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    names = [x["design"] for x in doc["results"]]
    assert names == ["zram/bio-per-page", "zram/swap_ops", "zram/bio-per-page+wb",
                     "zram/swap_ops+wb", "zswap/filedisk", "vswap/zswap", "vswap/zswap+cwb"]
    for res in doc["results"]:
        assert res["repeats"] == 2 and res["verified"] == 128
        for key in ("lat_avg_us", "lat_p50_us", "lat_p99_us", "lat_p999_us"):
            v = res[key]
            assert 0 < v["min"] <= v["median"] <= v["max"]
        vm = res["vmstat"]
        # zswap's writeback is device I/O of pages already counted as zswpout
        assert vm["pswpout"] - vm["zswpwb"] + vm["zswpout"] + vm["swpout_zero"] == 64
        assert len(res["runs"]) == 2
        for run_ in res["runs"]:  # a fault's time = the core's + the backend's
            assert run_["core_avg_us"] + run_["backend_avg_us"] == pytest.approx(
                run_["lat_avg_us"])
            assert run_["core_avg_us"] > 0
            # every zram fault reads from its device, and a vswap one from the disk
            # zswap wrote back to; zswap alone holds all 64 pages
            assert (run_["backend_avg_us"] > 0) == (not res["design"].startswith("zswap"))
        vswap = res["design"].startswith("vswap")
        wb = res["design"].endswith("+wb") or vswap
        # every page but the zero ones written back, at most a page's bytes each
        assert (res["wb_pages"]["median"] > 0) == wb
        assert res["wb_bytes_per_page"]["median"] <= 4096
        if vswap:  # written back decompressed, or as compressed blobs
            cwb = res["design"].endswith("+cwb")
            assert (res["wb_decompressions"]["median"] == 0) == cwb
            assert (res["wb_bytes_per_page"]["median"] < 4096) == cwb
            assert res["counters"]["vswap"]["slots_none"] > 0
        # written back: every non-zero page comes from the backing device
        assert (res["cold_fault_ratio"]["median"] > 0.9) == wb
        assert (res["backing_reads_per_fault"]["median"] > 0.9) == wb
        if res["design"].startswith("zram"):
            zr = res["counters"]["zram0"]
            assert (zr["bd_stat"]["bd_writes"] > 0) == wb
        else:
            assert res["counters"]["zswap"]["stored_pages"] == 0  # loads are exclusive
            assert vm["zswpin"] + vm["pswpin"] + vm["swpin_zero"] == 64
        assert res["pool_mib"]["median"] >= 0 and res["compr_ratio"]["median"] >= 0
    assert doc["machine"]["cpus"] >= 1 and doc["corpus"]["pages"] == 64
    assert doc["corpus"]["source"] == "sample"


def test_bench_default_corpus_is_a_live_heap():
    # not run here: its pages are the machine's own standard library (tests
    # use the shipped sample corpus, the same on every machine)
    assert build_parser().parse_args(["bench"]).corpus == "pyheap"


def test_bench_table(tmp_path):
    r = run("bench", "--pages", "32", "--repeat", "1", "--design", "ram/swap_ops",
            "--corpus", "sample", "--out", str(tmp_path))
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
        (["bench", "--design", "ram/swap_ops", "--design", "ram/swap_ops"],
         "--design 'ram/swap_ops' given twice"),
        (["bench", "--algo", "lz4", "--algo", "lz4"], "--algo 'lz4' given twice"),
        (["bench", "--algo", "bogus"], "--algo 'bogus': not an algorithm"),
        (["bench", "--corpus", "/no/such/dir"], "/no/such/dir"),
        (["bench", "--corpus", "pagefile:/no/such.swpl"], "no such page file"),
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


def test_python_dash_m_runs_the_command():
    out = subprocess.run([sys.executable, "-m", "swaplab", "--version"], capture_output=True,
                         text=True, check=False)
    assert out.returncode == 0 and out.stdout.startswith("swaplab ")
    bad = subprocess.run([sys.executable, "-m", "swaplab", "bench", "--algo", "bogus"],
                         capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "--algo 'bogus'" in bad.stderr


def _bench_json(tmp_path, name, *extra):
    out = tmp_path / name
    r = run("bench", "--pages", "32", "--repeat", "1", "--design", "zram/swap_ops",
            "--design", "zswap/filedisk", "--out", str(out), "--corpus", "sample", *extra)
    assert r.returncode == 0, r.stderr
    return out / "bench.json"


def test_compare_puts_two_bench_reports_side_by_side(tmp_path):
    a = _bench_json(tmp_path, "a")
    b = _bench_json(tmp_path, "b", "--seed", "2")
    r = run("compare", str(a), str(b), "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    whats = [row["what"] for row in doc["rows"]]
    assert "zram/swap_ops lat_p50_us" in whats and "zswap/filedisk pool_mib" in whats
    for row in doc["rows"]:
        if row["a"] and row["b"] is not None:
            assert row["ratio"] == pytest.approx(row["b"] / row["a"])
    r = run("compare", str(a), str(b))
    assert r.returncode == 0 and "ratio" in r.stdout


def test_compare_marks_changes_within_the_repeats_spread(tmp_path):
    a = _bench_json(tmp_path, "a", "--repeat", "3")
    b = _bench_json(tmp_path, "b", "--repeat", "3", "--seed", "2")
    doc = json.loads(run("compare", str(a), str(b), "--json").stdout)
    ra = {r["design"]: r for r in json.loads(a.read_text())["results"]}
    rb = {r["design"]: r for r in json.loads(b.read_text())["results"]}
    for row in doc["rows"]:
        design, key = row["what"].split(" ")
        x, y = ra[design][key], rb[design][key]
        if isinstance(x, dict):
            overlap = x["min"] <= y["max"] and y["min"] <= x["max"]
            assert row["within_spread"] is overlap, row
    r = run("compare", str(a), str(b))
    header = next(ln for ln in r.stdout.splitlines() if "figure" in ln)
    assert header.split("┃")[1:5] and "ratio" in header  # the ratio under its own head
    assert "min-max ranges over their repeats overlap" in " ".join(r.stdout.split())


def test_compare_two_run_reports_shows_memory_and_latency(tmp_path):
    sc = tmp_path / "s.toml"
    sc.write_text('[system]\nmemory = "32M"\n[[swap]]\ntype = "zram"\nsize = "64M"\n'
                  '[[cgroup]]\nname = "app"\nmemory_max = "8M"\n'
                  '[[process]]\nname = "p"\nsize = "16M"\ncgroup = "app"\ncorpus = "sample"\n'
                  '[run]\naccesses = 4000\n')
    reports = []
    for algo in ("lz4", "lzo-rle"):
        text = sc.read_text().replace('type = "zram"', f'type = "zram"\nalgorithm = "{algo}"')
        (tmp_path / f"{algo}.toml").write_text(text)
        r = run("run", str(tmp_path / f"{algo}.toml"), "--out", str(tmp_path / f"{algo}.json"))
        assert r.returncode == 0, r.stderr
        assert "mm_stat: orig_data_size" in r.stdout  # labelled, not a row of numbers
        reports.append(tmp_path / f"{algo}.json")
    doc = json.loads(run("compare", *map(str, reports), "--json").stdout)
    rows = {row["what"]: row for row in doc["rows"]}
    for what in ("zram0 mem_used_total", "zram0 compression ratio", "swap-in latency p50 µs",
                 "faults_per_s"):
        assert rows[what]["a"] and rows[what]["b"], what
    # the two codecs store the same pages in different sizes
    assert rows["zram0 compr_data_size"]["a"] != rows["zram0 compr_data_size"]["b"]


def test_compare_refuses_what_it_cannot_compare(tmp_path):
    a = _bench_json(tmp_path, "a")
    run_report = tmp_path / "run.json"
    run_report.write_text(json.dumps({"vmstat": {"pswpin": 1}, "faults_per_s": 3.0}))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    for args, needle in (([str(a), str(run_report)], "two `swaplab bench` reports"),
                         ([str(a), str(tmp_path / "missing.json")], "no such file"),
                         ([str(a), str(bad)], "not a JSON report")):
        r = run("compare", *args)
        assert r.returncode == 2 and needle in r.stderr, r.stderr


def test_calibrate_without_root_fails_with_the_reason():
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root to drop to an unprivileged user")
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable]
    env = {**os.environ, "HOME": "/tmp"}
    if subprocess.run([*nobody, "-c", "import swaplab.cli"], capture_output=True,
                      timeout=120, env=env).returncode:
        pytest.skip("the checkout or its virtual environment is not readable by an "
                    "unprivileged user")
    r = subprocess.run([*nobody, "-m", "swaplab.cli", "calibrate", "--pages", "64",
                        "--corpus", "sample"], capture_output=True, text=True, timeout=300,
                       env=env)
    assert r.returncode == 1, r.stderr
    assert "calibrate needs the host kernel's zram" in r.stderr
    assert "root" in r.stderr or "zram-control" in r.stderr


def test_calibrate_on_the_host_kernel(tmp_path):
    from swaplab.kernel.zram import unavailable

    if unavailable():
        pytest.skip(unavailable())
    r = run("calibrate", "--pages", "512", "--corpus", "sample", "--algo", "lzo-rle",
            "--json", "--out", str(tmp_path / "cal.json"))
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    rows = {row["field"]: row for row in doc["rows"]}
    assert rows["mm_stat orig_data_size"]["swaplab"] == 512 * 4096
    for f in (f for f in rows if f.startswith("mm_stat ")):  # the kernel's codecs: equal
        assert rows[f]["kernel"] == rows[f]["swaplab"], f
    for f in ("write MiB/s", "read MiB/s", "4 KiB read p50_us", "first-touch swap-in p50_us",
              "first-touch swap-in p99_us"):
        assert rows[f]["kernel"] > 0 and rows[f]["swaplab"] > 0
    assert json.loads((tmp_path / "cal.json").read_text())["rows"] == doc["rows"]


def test_capture_and_run_usage_errors(tmp_path):
    r = run("capture", "notapid", "-o", str(tmp_path / "x"))
    assert r.returncode == 2 and "not a whole number" in r.stderr
    r = run("capture", "1")
    assert r.returncode == 2 and "-o" in r.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text('[[process]]\nname = "a"\nsize = "8M"\npattern = "spiral"\n')
    r = run("run", str(bad))
    assert r.returncode == 2 and "process[0].pattern = 'spiral'" in r.stderr


@pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))
def test_bench_kernel_row(tmp_path):
    """--kernel adds the host kernel's zram as a row, every page verified, and
    each design's latency as a multiple of it; the host is left as it was."""
    swaps = set(swap_areas())
    r = run("bench", "--kernel", "--pages", "256", "--repeat", "2", "--design",
            "zram/swap_ops", "--corpus", "sample", "--out", str(tmp_path), "--json")
    assert r.returncode == 0, r.stderr
    assert set(swap_areas()) == swaps
    doc = json.loads(r.stdout)
    rows = {x["design"]: x for x in doc["results"]}
    assert list(rows) == ["zram/swap_ops", "kernel/zram"]
    assert doc["kernel"] == {"rows": ["kernel/zram"], "why": None, "skipped": {}}
    k = rows["kernel/zram"]
    assert k["verified"] == 512 and k["lat_p50_us"]["median"] > 0
    ours = rows["zram/swap_ops"]
    assert ours["p50_vs_kernel"] == pytest.approx(
        ours["lat_p50_us"]["median"] / k["lat_p50_us"]["median"])
    assert k["p50_vs_kernel"] == 1.0
    r = run("bench", "--kernel", "--pages", "64", "--repeat", "1", "--design",
            "zram/swap_ops", "--corpus", "sample", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "p50 × kernel" in r.stdout and "kernel/zram" in r.stdout


def test_bench_without_the_kernel_row_says_why(tmp_path, monkeypatch):
    """Where the host cannot serve (here: what unavailable() answers without
    root; an unprivileged process cannot even reach this machine's Python),
    the kernel row is skipped with the reason and the designs still run."""
    from swaplab import cli

    why = "driving the kernel's zram needs root"
    monkeypatch.setattr(cli, "unavailable", lambda: why)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = cli.main(["bench", "--kernel", "--pages", "32", "--repeat", "1", "--design",
                       "ram/swap_ops", "--corpus", "sample", "--out", str(tmp_path)])
    assert rc == 0
    text = " ".join(out.getvalue().split())
    assert f"no kernel/zram row: {why}" in text
    assert "ram/swap_ops" in text and "× kernel" not in text
    doc = json.loads((tmp_path / "bench.json").read_text())
    assert doc["kernel"] == {"rows": [], "why": why, "skipped": {}}


def test_bench_runs_each_compressing_design_per_algorithm(tmp_path):
    r = run("bench", "--pages", "64", "--repeat", "1", "--corpus", "sample", "--design",
            "zram/swap_ops", "--design", "zswap/filedisk", "--design", "ram/swap_ops",
            "--algo", "lz4", "--algo", "lzo-rle", "--out", str(tmp_path), "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    rows = {x["design"]: x for x in doc["results"]}
    assert list(rows) == ["zram/swap_ops [lz4]", "zram/swap_ops [lzo-rle]",
                          "zswap/filedisk [lz4]", "zswap/filedisk [lzo-rle]", "ram/swap_ops"]
    assert doc["algorithms"] == ["lz4", "lzo-rle"]
    assert [x["algorithm"] for x in rows.values()] == ["lz4", "lzo-rle", "lz4", "lzo-rle",
                                                       None]
    for x in rows.values():
        assert x["verified"] == 64
    # the two codecs store the same pages in different sizes: each ran its own
    lz4, lzo = rows["zram/swap_ops [lz4]"], rows["zram/swap_ops [lzo-rle]"]
    assert lz4["compr_ratio"]["median"] != lzo["compr_ratio"]["median"]
    r = run("bench", "--pages", "32", "--repeat", "1", "--corpus", "sample", "--design",
            "zram/swap_ops", "--algo", "lzo-rle", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    head = " ".join(r.stdout.split())
    assert "32 pages of sample x 1, lzo-rle" in head and "CPUs" in head
    r = run("bench", "--pages", "32", "--repeat", "1", "--corpus", "sample", "--design",
            "zram/swap_ops", "--algo", "lz4", "--algo", "lzo-rle", "--out", str(tmp_path))
    assert "zram/swap_ops [lz4]" in r.stdout and "zram/swap_ops [lzo-rle]" in r.stdout


@pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))
def test_bench_kernel_rows_per_algorithm(tmp_path):
    r = run("bench", "--kernel", "--pages", "128", "--repeat", "1", "--corpus", "sample",
            "--design", "zram/swap_ops", "--algo", "lz4", "--algo", "lzo-rle", "--out",
            str(tmp_path), "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    rows = {x["design"]: x for x in doc["results"]}
    assert doc["kernel"]["rows"] == ["kernel/zram [lz4]", "kernel/zram [lzo-rle]"]
    for algo in ("lz4", "lzo-rle"):
        k, ours = rows[f"kernel/zram [{algo}]"], rows[f"zram/swap_ops [{algo}]"]
        assert k["algorithm"] == algo and k["verified"] == 128
        assert ours["p50_vs_kernel"] == pytest.approx(
            ours["lat_p50_us"]["median"] / k["lat_p50_us"]["median"])
        # the kernel's pool holds what swaplab's does, page for page (+ the header)
        assert k["compr_ratio"]["median"] == pytest.approx(ours["compr_ratio"]["median"],
                                                           rel=0.02)


def test_progress_without_a_terminal_prints_lines(tmp_path):
    r = run("bench", "--pages", "64", "--repeat", "1", "--design", "ram/swap_ops",
            "--corpus", "sample", "--progress", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "ram/swap_ops #1: 64/64" in r.stderr  # the task's last line, with its count
    r = run("bench", "--pages", "64", "--repeat", "1", "--design", "ram/swap_ops",
            "--corpus", "sample", "--out", str(tmp_path))
    assert r.stderr == ""  # without --progress, nothing


def test_bench_runs_the_designs_in_turn(tmp_path, monkeypatch):
    """Without --jobs each repetition runs every design once before the next
    repetition starts, so a slow spell of the machine falls on all designs
    alike (each run is the real one; the order is recorded around it)."""
    from swaplab import cli

    order = []
    real = cli.run_once

    def recorded(design, pages, seed, progress=None):
        order.append((design.name, seed))
        return real(design, pages, seed, progress)

    monkeypatch.setattr(cli, "run_once", recorded)
    with contextlib.redirect_stdout(io.StringIO()):
        rc = cli.main(["bench", "--pages", "32", "--repeat", "2", "--design", "ram/swap_ops",
                       "--design", "zram/swap_ops", "--corpus", "sample", "--seed", "5",
                       "--out", str(tmp_path)])
    assert rc == 0
    assert order == [("ram/swap_ops", 5), ("zram/swap_ops", 5), ("ram/swap_ops", 6),
                     ("zram/swap_ops", 6)]
    doc = json.loads((tmp_path / "bench.json").read_text())
    assert [(r["design"], r["repeats"], r["verified"]) for r in doc["results"]] == [
        ("ram/swap_ops", 2, 64), ("zram/swap_ops", 2, 64)]


def test_bench_json_keeps_notes_off_stdout(tmp_path, monkeypatch, capsys):
    """With --json stdout is the document alone: a skipped kernel row is
    reported on stderr."""
    from swaplab import cli

    why = "driving the kernel's zram needs root"
    monkeypatch.setattr(cli, "unavailable", lambda: why)
    rc = cli.main(["bench", "--kernel", "--json", "--pages", "32", "--repeat", "1",
                   "--design", "ram/swap_ops", "--corpus", "sample", "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert rc == 0
    assert json.loads(out)["kernel"]["why"] == why
    assert f"no kernel/zram row: {why}" in " ".join(err.split())
