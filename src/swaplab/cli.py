"""The ``swaplab`` command.

Exit codes: 0 success, 1 failure (an operation failed, a page did not verify),
2 usage (unknown option, bad value, missing file).
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress

from . import __version__
from .bench import advise
from .bench.calibrate import calibrate, compare
from .bench.designs import DEFAULT_DESIGNS, DESIGNS, Design
from .bench.harness import (
    KERNEL_ROW,
    VerificationError,
    aggregate,
    design_cell,
    kernel_vs,
    run_kernel,
    run_once,
)
from .bench.parallel import run_cells
from .bench.report import plot_cdf, plot_split, plot_writeback, print_table, write_json
from .consts import PAGE_SIZE
from .drivers.zram import zramctl
from .interrupt import deferred, safe_point
from .kernel.zram import unavailable
from .lib.compress import available as available_algorithms
from .progress import LineProgress, progress
from .system import System
from .util import host_available_memory, memparse, size_str
from .workload.capture import capture, touched_count
from .workload.corpus import SOURCES, corpus_pages, describe, file_pages
from .workload.corpus import describe as desc
from .workload.engine import PageCorruption, Workload
from .workload.pagefile import read_pagefile, write_pagefile
from .workload.scenario import load_scenario

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
#: 128 + SIGINT, as a shell reports a command ended by Ctrl-C
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """Bad command-line input: exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 on usage errors too
        self.print_usage(sys.stderr)
        raise UsageError(f"{self.prog}: error: {message}")


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def _positive(text: str) -> int:
    v = _whole(text)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return v


def _count(text: str) -> int:
    v = _whole(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more")
    return v


def _seed(text: str) -> int:
    v = _whole(text)
    if not 0 <= v < 1 << 63:
        raise argparse.ArgumentTypeError(f"{text!r}: a seed is 0 to 2**63-1")
    return v


def _needs_memory(option: str, nbytes: int) -> None:
    """UsageError before any work when a run would need more memory than the
    host has available."""
    avail = host_available_memory()
    if nbytes > avail:
        raise UsageError(f"{option}: the run needs about {size_str(nbytes)} of memory, more "
                         f"than this machine has available ({size_str(avail)})")


def _check_out_file(option: str, path: str | None) -> None:
    """UsageError up front when an output file's folder does not exist."""
    if path and not Path(path).resolve().parent.is_dir():
        raise UsageError(f"{option} {path!r}: no folder {str(Path(path).parent)!r}")


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    return {"host": platform.node(), "kernel": platform.release(),
            "machine": platform.machine(), "cpus": os.cpu_count(),
            "python": platform.python_version(), "numpy": np.__version__,
            "swaplab": __version__,
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}


def _load_corpus(spec: str, n: int, seed: int) -> tuple[np.ndarray, dict[str, Any]]:
    """Pages for a benchmark from a corpus spec (see ``--corpus``); UsageError for a
    spec that names nothing."""
    if os.path.isdir(spec):
        return file_pages(n, seed, (spec,)), {"source": "files", "roots": [spec]}
    if spec.startswith("pagefile:") and not os.path.isfile(spec.split(":", 1)[1]):
        raise UsageError(f"corpus {spec!r}: no such page file")
    known = spec in (*SOURCES, "pyheap", "sample") or spec.startswith(("pagefile:", "capture:"))
    if not known:
        raise UsageError(f"corpus {spec!r} is not a folder, nor one of "
                         f"{', '.join(['sample', *SOURCES, 'pyheap'])}, pagefile:PATH, "
                         "capture:PID")
    try:
        return corpus_pages(spec, n, seed), {"source": spec}
    except OSError as e:
        if e.errno in (errno.ESRCH, errno.EINVAL, errno.ENOENT):
            raise UsageError(f"corpus {spec!r}: {e.strerror}") from None
        raise


def _bench_plan(args: argparse.Namespace) -> tuple[list[Design], list[str]]:
    """The designs to run (each compressing one once per ``--algo``) and the
    algorithms; UsageError for an unknown or repeated design or algorithm."""
    names = args.design or list(DEFAULT_DESIGNS)
    algos = args.algo or ["lz4"]
    for what, given in (("--design", names), ("--algo", algos)):
        dup = sorted({x for x in given if given.count(x) > 1})
        if dup:
            raise UsageError(f"{what} {dup[0]!r} given twice")
    for n in names:
        if n not in DESIGNS:
            raise UsageError(f"unknown design {n!r}; choose from {', '.join(DESIGNS)}")
    have = available_algorithms()
    for a in algos:
        if a not in have:
            raise UsageError(f"--algo {a!r}: not an algorithm this installation has; "
                             f"choose from {', '.join(have)}")
    designs: list[Design] = []
    for n in names:
        if DESIGNS[n].algorithm is None:  # compresses nothing: runs once
            designs.append(DESIGNS[n])
            continue
        designs += [DESIGNS[n].with_algorithm(a, label=len(algos) > 1) for a in algos]
    return designs, algos


def cmd_bench(args: argparse.Namespace, console: Console) -> int:
    """Run the designs on the same real pages; print, save JSON and a CDF plot."""
    designs, algos = _bench_plan(args)
    # the corpus, the machine (pages + 4096) and its pool at most
    _needs_memory(f"--pages {args.pages}", 3 * args.pages * PAGE_SIZE + (16 << 20))
    pages, corpus = _load_corpus(args.corpus, args.pages, args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results, lats = [], {}
    kernel_why = unavailable() if args.kernel else "not asked for (--kernel)"
    if args.kernel and kernel_why is not None:
        console.print(f"[yellow]no {KERNEL_ROW} row: {escape(kernel_why)}[/yellow]")
    kernel_rows = ({(f"{KERNEL_ROW} [{a}]" if len(algos) > 1 else KERNEL_ROW): a
                    for a in algos} if kernel_why is None else {})
    skipped: dict[str, str] = {}
    total = (len(designs) + len(kernel_rows)) * args.repeat * args.pages
    with _progress(args) as prog:
        task = prog.add_task("faults", total=total)
        kernel_runs: dict[str, list] = {row: [] for row in kernel_rows}

        def kernel_round(rep: int) -> None:
            """One repetition of each kernel row not skipped yet; a row whose run
            fails (e.g. an algorithm this kernel's zram lacks) is skipped from
            then on, and says why."""
            for row, algo in kernel_rows.items():
                if row in skipped:
                    continue
                prog.update(task, description=f"{row} #{rep + 1}")
                try:
                    kernel_runs[row].append(run_kernel(pages, args.seed + rep, algo, row))
                except OSError as e:
                    skipped[row] = f"the host kernel's run failed: {e}"
                    console.print(f"[yellow]no {escape(row)} row: "
                                  f"{escape(skipped[row])}[/yellow]")
                    continue
                prog.advance(task, args.pages)
                safe_point()

        if args.jobs > 1 or args.ray:  # each (design, repetition) a cell of a sweep
            cells = [(d, args.seed + rep) for d in designs for rep in range(args.repeat)]
            done = run_cells(design_cell, cells, pages, jobs=args.jobs, ray_address=args.ray,
                             progress=lambda c: (prog.advance(task, args.pages),
                                                 safe_point()))
            by_design = [done[i * args.repeat:(i + 1) * args.repeat]
                         for i in range(len(designs))]
            for rep in range(args.repeat):  # the kernel's rows after the sweep
                kernel_round(rep)
        else:  # round-robin: a repetition of every design and kernel row in turn,
            # so a slow spell of the machine falls on all of them alike
            by_design = [[] for _ in designs]
            for rep in range(args.repeat):
                for i, design in enumerate(designs):
                    prog.update(task, description=f"{design.name} #{rep + 1}")
                    by_design[i].append(run_once(design, pages, args.seed + rep,
                                                 lambda k: (prog.advance(task, k),
                                                            safe_point())))
                kernel_round(rep)
        for design, runs in zip(designs, by_design, strict=True):
            lats[design.name] = np.concatenate([r.latencies_ns for r in runs])
            results.append(aggregate(runs))
        for row, runs in kernel_runs.items():
            if row in skipped or not runs:
                continue
            lats[row] = np.concatenate([r.latencies_ns for r in runs])
            results.append(aggregate(runs))
        kernel_vs(results)
    m = machine()
    doc = {"command": "swaplab " + " ".join(sys.argv[1:]), "machine": m,
           "corpus": {**corpus, "seed": args.seed, **describe(pages)},
           "algorithms": algos,
           "method": "write N real pages, MADV_PAGEOUT all, first touch of each page in a "
                     "seeded random order, every page compared with what was written",
           "results": results,
           "kernel": {"rows": [r for r in kernel_rows if r not in skipped],
                      "why": kernel_why, "skipped": skipped}}
    json_path, png_path = out / "bench.json", out / "bench-latency-cdf.png"
    split_path = out / "bench-time-split.png"
    write_json(doc, json_path)
    what = (f"{args.pages} pages of {corpus['source']} x {args.repeat}, "
            f"{', '.join(algos)}, {m['host']} ({m['cpus']} CPUs)")
    plot_cdf(lats, png_path, f"swap-in latency: {what}")
    plot_split(results, split_path, f"where swap-in time goes: {what}")
    wb_path = out / "bench-writeback.png"
    wrote = [json_path, png_path, split_path]
    if plot_writeback(results, wb_path, f"writeback: {what}"):
        wrote.append(wb_path)
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print_table(results, f"swaplab bench: {what}", console)
        console.print(f"wrote {', '.join(map(str, wrote))}")
    return EXIT_OK


def cmd_zramctl(args: argparse.Namespace, console: Console) -> int:
    """List zram devices as util-linux zramctl does (swaplab's, or the host's)."""
    if args.output_all:
        columns = zramctl.ALL_COLUMNS
    elif args.output is not None:
        spec = args.output
        extra = spec.startswith("+")
        cols = tuple(c.strip().upper() for c in spec.lstrip("+").split(",") if c.strip())
        if not cols:
            raise UsageError(f"zramctl: -o {spec!r} names no column; choose from "
                             f"{', '.join(zramctl.ALL_COLUMNS)}")
        columns = (zramctl.DEFAULT_COLUMNS + cols) if extra else cols
    else:
        columns = zramctl.DEFAULT_COLUMNS
    bad = [c for c in columns if c not in zramctl.ALL_COLUMNS]
    if bad:
        raise UsageError(f"zramctl: unknown column {bad[0]!r}; choose from "
                         f"{', '.join(zramctl.ALL_COLUMNS)}")
    system = None
    try:
        if args.kernel:
            views = zramctl.host_views()
        else:
            try:
                size = memparse(args.size)
            except OSError as e:
                raise UsageError(f"zramctl: {e.strerror}") from None
            if args.fill * PAGE_SIZE > size:
                raise UsageError(f"zramctl: --fill {args.fill} pages do not fit in "
                                 f"{args.size}")
            # the pages, and a machine to hold them compressed
            _needs_memory(f"zramctl --fill {args.fill}", 2 * args.fill * PAGE_SIZE + (64 << 20))
            system = System(max(64 << 20, (args.fill + 1024) * 4096))
            z = system.load_module("zram")[0]
            try:
                z.attr["comp_algorithm"] = args.algorithm
                z.attr["disksize"] = str(size)
            except OSError as e:
                raise UsageError(f"zramctl: {e.strerror}") from None
            if args.fill:
                z.bdev.pwrite(corpus_pages("sample", args.fill, args.seed).tobytes(), 0)
            views = zramctl.swaplab_views(system)
        table = zramctl.rows(views, columns, args.bytes)
    finally:
        if system is not None:
            system.close()
    if args.json:
        print(json.dumps({"zramdevices": [{k.lower(): v for k, v in r.items()}
                                          for r in table]}, indent=2))
    else:
        sys.stdout.write(zramctl.format_table(table, columns, raw=args.raw,
                                              noheadings=args.noheadings))
    return EXIT_OK


def cmd_capture(args: argparse.Namespace, console: Console) -> int:
    """Snapshot a live process's anonymous memory into a page file."""
    if args.pages and args.max_pages:
        raise UsageError("capture: --pages (a sample) and --max-pages (the first N) exclude "
                         "each other")
    _check_out_file("capture -o", args.output)
    if args.pages:
        _needs_memory(f"capture --pages {args.pages}", 2 * args.pages * PAGE_SIZE)
    pf = capture(args.pid, freeze=not args.no_freeze, max_pages=args.max_pages,
                 sample=args.pages, seed=args.seed)
    nbytes = write_pagefile(args.output, pf.pages, pf.vaddrs, pf.meta)
    info = {"output": args.output, "file_bytes": nbytes, **pf.meta, **desc(pf.pages)}
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        console.print(f"captured {len(pf)} pages of pid {args.pid} ({pf.meta['comm']}) from "
                      f"{pf.meta['mappings']} mappings into {args.output} ({nbytes} bytes; "
                      f"{info['zero']:.1%} zero, {info['same_filled']:.1%} same-filled)")
    return EXIT_OK


def _progress(args: argparse.Namespace) -> Progress | LineProgress:
    """Progress on stderr: a bar on a terminal, lines with --progress elsewhere."""
    return progress(quiet=args.json, forced=args.progress)


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    """Run a scenario file; every page is verified on every fault."""
    if Path(args.scenario).is_dir():
        raise UsageError(f"run: {args.scenario!r} is a folder, not a scenario file")
    if not Path(args.scenario).is_file():
        raise UsageError(f"run: scenario file {args.scenario!r} does not exist")
    _check_out_file("run --out", args.out)
    try:
        sc = load_scenario(args.scenario)
    except OSError as e:
        raise UsageError(f"run: {e.strerror}") from None
    _needs_memory("run: [system] memory", sc.system.memory)
    tasks: dict[str, Any] = {}
    with _progress(args) as prog, Workload(sc) as w:
        def step(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = prog.add_task(phase, total=total)
            prog.update(tasks[phase], completed=done)
            safe_point()
        try:
            rep = w.run(step)
        except PageCorruption as e:
            print(f"swaplab: verification failed: {e}", file=sys.stderr)
            return EXIT_FAIL
        lat = w.fault_latencies()
    doc = {"command": "swaplab " + " ".join(sys.argv[1:]), "machine": machine(),
           "scenario": sc.model_dump(), **rep}
    if args.out:
        write_json(doc, Path(args.out))
        if len(lat):
            png = Path(args.out).with_suffix(".png")
            plot_cdf({Path(args.scenario).stem: lat}, png,
                     f"{args.scenario}: swap-in fault latency ({len(lat)} faults)")
            doc["plot"] = str(png)
    if args.json:
        print(json.dumps(doc, indent=2, default=str))
        return EXIT_OK
    m = doc["machine"]
    console.print(f"[bold]{args.scenario}[/]: {rep['accesses']} accesses, "
                  f"{rep['pages_verified']} page checks, all verified (on {m['host']}: "
                  f"{m['cpus']} CPUs, kernel {m['kernel']})")
    console.print(f"populate {rep['populate_s']:.1f} s, run {rep['run_s']:.1f} s, "
                  f"verify {rep['verify_s']:.1f} s; run phase: "
                  f"{rep.get('faults_per_s', 0):.0f} faults/s, "
                  f"{rep.get('swapped_pages_per_s', 0):.0f} pages swapped/s")
    fl = rep.get("swapin_fault_latency_us")
    if fl:
        console.print(f"swap-in faults: {fl['faults']}, latency avg {fl['avg']:.0f} µs, "
                      f"p50 {fl['p50']:.0f} µs, p99 {fl['p99']:.0f} µs, "
                      f"p99.9 {fl['p999']:.0f} µs")
    vm = rep["vmstat"]
    console.print("vmstat: " + ", ".join(f"{k} {v}" for k, v in vm.items() if v))
    for name, z in rep.get("zram", {}).items():
        console.print(f"{name} mm_stat: " + ", ".join(f"{k} {v}" for k, v in
                                                     z["mm_stat"].items()))
    for name, cg in rep["cgroups"].items():
        if name == "/":
            continue
        st = dict(line.split() for line in cg["memory.stat"].splitlines())
        console.print(f"cgroup {name}: memory.current {cg['memory.current']}, "
                      f"memory.swap.current {cg['memory.swap.current']}, "
                      f"pswpout {st['pswpout']}, pswpin {st['pswpin']}, "
                      f"zswpout {st['zswpout']}")
    if "zswap" in rep:
        z = rep["zswap"]
        console.print(f"zswap: stored_pages {z['stored_pages']}, pool_total_size "
                      f"{z['pool_total_size']}, written_back_pages {z['written_back_pages']}, "
                      f"pool_limit_hit {z['pool_limit_hit']}")
    return EXIT_OK


def _show(v: float | int | None) -> str:
    if v is None:
        return "-"
    if isinstance(v, int) or float(v).is_integer():
        return f"{int(v)}"
    return f"{v:.4g}"


def _read_report(path: str) -> dict[str, Any]:
    try:
        with open(path) as f:
            doc = json.load(f)
    except FileNotFoundError:
        raise UsageError(f"compare: no such file {path!r}") from None
    except (OSError, ValueError) as e:
        raise UsageError(f"compare: {path!r} is not a JSON report ({e})") from None
    if not isinstance(doc, dict):
        raise UsageError(f"compare: {path!r} is not a swaplab report")
    return doc


def _ratio_table(title: str, cols: tuple[str, ...], rows: list[dict[str, Any]],
                 key: str) -> Any:
    from rich.table import Table

    spread = any(r.get("within_spread") is not None for r in rows)
    t = Table(title=title, caption="~: the two figures' min-max ranges over their repeats "
              "overlap, so the change may be noise" if spread else None)
    for c in (key, *cols, "ratio", *(("",) if spread else ())):
        t.add_column(c, justify="left" if c in (key, "") else "right")
    for r in rows:
        vals = [r[c] for c in ("a", "b")] if "a" in r else [r["kernel"], r["swaplab"]]
        t.add_row(escape(r.get("what", r.get("field"))),
                  *(_show(v) for v in vals),
                  "-" if r["ratio"] is None else f"{r['ratio']:.3f}x",
                  *(("~" if r.get("within_spread") else "",) if spread else ()))
    return t


def cmd_compare(args: argparse.Namespace, console: Console) -> int:
    """Two reports side by side, with B/A ratios."""
    a, b = _read_report(args.a), _read_report(args.b)
    try:
        rows = compare(a, b)
    except OSError as e:
        raise UsageError(f"compare: {e.strerror}") from None
    except (TypeError, KeyError, AttributeError, ValueError) as e:
        raise UsageError(f"compare: {args.a!r} and {args.b!r} are not both well-formed "
                         f"swaplab reports ({type(e).__name__}: {e})") from None
    if args.json:
        print(json.dumps({"a": args.a, "b": args.b, "rows": rows}, indent=2))
    else:
        console.print(_ratio_table(f"{args.a} (A) vs {args.b} (B)", ("A", "B"), rows,
                                   "figure"))
    return EXIT_OK


def cmd_calibrate(args: argparse.Namespace, console: Console) -> int:
    """The same pages through the host kernel's zram and swaplab's, side by side."""
    have = available_algorithms()
    if args.algorithm not in have:
        raise UsageError(f"calibrate: -a {args.algorithm!r}: not an algorithm swaplab has; "
                         f"choose from {', '.join(have)}")
    _check_out_file("calibrate --out", args.out)
    # the corpus, the kernel's device and swaplab's machine
    _needs_memory(f"--pages {args.pages}", 3 * args.pages * PAGE_SIZE + (64 << 20))
    pages, corpus = _load_corpus(args.corpus, args.pages, args.seed)
    doc = {"command": "swaplab " + " ".join(sys.argv[1:]), "machine": machine(),
           "corpus": {**corpus, **describe(pages)},
           **calibrate(pages, args.algorithm, min(args.pages, 2000), args.seed)}
    if args.out:
        write_json(doc, Path(args.out))
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        from rich.table import Table

        t = Table(title=f"calibrate: {args.pages} pages ({corpus['source']}), "
                        f"{args.algorithm}, kernel zram vs swaplab zram")
        for c in ("figure", "kernel", "swaplab", "swaplab/kernel"):
            t.add_column(c, justify="left" if c == "figure" else "right")
        for r in doc["rows"]:
            t.add_row(r["field"], _show(r["kernel"]), _show(r["swaplab"]),
                      "-" if r["ratio"] is None else f"{r['ratio']:.3f}x")
        console.print(t)
    return EXIT_OK


def cmd_advise(args: argparse.Namespace, console: Console) -> int:
    """Every zram setting (and zswap) on the source's pages; figures and advice."""
    from rich.table import Table

    _needs_memory(f"--pages {args.pages}", 3 * args.pages * PAGE_SIZE + (64 << 20))
    out = Path(args.out)
    if not out.resolve().parent.is_dir():
        raise UsageError(f"advise --out {args.out!r}: no folder {str(out.parent)!r}")
    ram = memparse(args.ram) if args.ram else os.sysconf("SC_PAGE_SIZE") * os.sysconf(
        "SC_PHYS_PAGES")
    pages, corpus = _load_corpus(args.source, args.pages, args.seed)
    full = len(pages)
    if args.source.startswith("capture:"):
        full = max(full, touched_count(int(args.source.split(":", 1)[1])))
    elif args.source.startswith("pagefile:"):
        full = max(full, len(read_pagefile(args.source.split(":", 1)[1])))
    with _progress(args) as prog:
        task = prog.add_task("settings", total=len(advise.settings()))

        def step(name: str) -> None:
            prog.update(task, description=name)
            prog.advance(task, 1)
            safe_point()

        rows = advise.run_advice(pages, args.seed, full, lambda n: (step(n), None)[1],
                                 jobs=args.jobs, ray_address=args.ray)
        prog.update(task, completed=len(rows))
    rec = advise.recommend(rows, ram)
    m = machine()
    doc = {"command": "swaplab " + " ".join(sys.argv[1:]), "machine": m,
           "corpus": {**corpus, "seed": args.seed, **describe(pages), "full_pages": full},
           "ram": ram, "rows": rows, "recommendation": rec}
    out.mkdir(parents=True, exist_ok=True)
    write_json(doc, out / "advise.json")
    title = (f"{len(pages)} pages of {corpus['source']} (standing for {full}), "
             f"{m['host']} ({m['cpus']} CPUs)")
    advise.plot(rows, out / "advise.png", f"memory saved vs swap-in latency: {title}")
    if args.json:
        print(json.dumps(doc, indent=2))
        return EXIT_OK
    t = Table(title=f"swaplab advise: {title}", caption="pool: zsmalloc's pages for these "
              "pages (mem_used_total); comp/decomp: the codec alone, one CPU; p50/p99: "
              "first-touch swap-in; full: the pool scaled to the whole source")
    for c in ("setting", "ratio", "pool MiB", "same", "huge", "comp MiB/s", "decomp MiB/s",
              "p50 µs", "p99 µs", "full MiB"):
        t.add_column(c, justify="left" if c == "setting" else "right", no_wrap=True)
    for r in rows:
        t.add_row(r["setting"], f"{r['compr_ratio']:.2f}", f"{r['pool_bytes'] / 2**20:.1f}",
                  f"{r['same_share']:.1%}", f"{r['huge_share']:.1%}",
                  f"{r['compress_mib_s']:.0f}", f"{r['decompress_mib_s']:.0f}",
                  f"{r['swapin_p50_us']:.1f}", f"{r['swapin_p99_us']:.1f}",
                  f"{r['full_pool_bytes'] / 2**20:.0f}")
    console.print(t)
    console.print(f"[bold]recommended[/]: comp_algorithm={rec['comp_algorithm']}"
                  + (f", algorithm_params='{rec['algorithm_params']}'"
                     if rec["algorithm_params"] else "")
                  + f", disksize={rec['disksize'] >> 20}M, mem_limit={rec['mem_limit'] >> 20}M"
                  + (f", recomp_algorithm='{rec['recomp_algorithm']}'"
                     if rec["recomp_algorithm"] else "")
                  + (f", writeback={rec['writeback']}" if rec["writeback"] else ""))
    for w in rec["why"]:
        console.print(f"  - {w}")
    console.print(f"wrote {out / 'advise.json'} and {out / 'advise.png'}")
    return EXIT_OK


def _sweep_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--jobs", type=_positive, default=1, metavar="N",
                   help="run the cells on N local processes (1: one after another; cells "
                        "that share CPUs time each other's noise)")
    p.add_argument("--ray", metavar="ADDRESS",
                   help="run each cell as a Ray task on the cluster at ADDRESS ('auto', "
                        "'ray://head:10001'; 'local' starts one here); pip install "
                        "'swaplab[ray]'")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="swaplab", description="The Linux swap I/O stack, run and measured.")
    p.add_argument("--version", action="version", version=f"swaplab {__version__}")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser)
    b = sub.add_parser("bench", help="compare swap designs on the same real pages")
    b.add_argument("--design", action="append", metavar="NAME",
                   help=f"design to run (repeatable); default {', '.join(DEFAULT_DESIGNS)}; "
                        f"also {', '.join(d for d in DESIGNS if d not in DEFAULT_DESIGNS)}")
    b.add_argument("--pages", type=_positive, default=8192, help="pages per run (8192)")
    b.add_argument("--repeat", type=_positive, default=3, help="repetitions per design (3)")
    b.add_argument("--seed", type=_seed, default=1, help="seed for corpus and order (1)")
    b.add_argument("--corpus", default="pyheap", metavar="SPEC",
                   help="page contents: pyheap (default: a live Python process's heap, "
                        "captured), sample (the 2,048 real pages swaplab ships), capture:PID, "
                        "pagefile:PATH, files, elf, text, stdlib, or a folder of files")
    b.add_argument("--out", default="out", help="folder for bench.json and the PNG (out)")
    b.add_argument("--algo", action="append", metavar="NAME",
                   help="compression algorithm of the zram and zswap designs (repeatable: "
                        "each such design runs once per algorithm); default lz4")
    b.add_argument("--kernel", action="store_true",
                   help=f"add the host kernel's zram as a row ({KERNEL_ROW}: root and "
                        "/sys/class/zram-control; the same pages, order and clock)")
    b.add_argument("--json", action="store_true", help="print the JSON instead of the table")
    b.add_argument("--progress", action="store_true", help="show progress even without a tty")
    _sweep_options(b)
    b.set_defaults(func=cmd_bench)

    z = sub.add_parser("zramctl", help="list zram devices with util-linux zramctl's columns")
    z.add_argument("--kernel", action="store_true",
                   help="list the host kernel's zram devices instead of a swaplab one")
    z.add_argument("-s", "--size", default="64M", help="disksize of the swaplab device (64M)")
    z.add_argument("-a", "--algorithm", default="lzo-rle",
                   help="compression algorithm (lzo-rle, the kernel's default)")
    z.add_argument("--fill", type=_count, default=0, metavar="N",
                   help="write N real pages (the shipped sample corpus) into the device first")
    z.add_argument("--seed", type=_seed, default=1, help="seed for --fill (1)")
    z.add_argument("-o", "--output", metavar="LIST",
                   help="columns, comma separated; '+LIST' adds to the defaults")
    z.add_argument("--output-all", action="store_true", help="every column")
    z.add_argument("-n", "--noheadings", action="store_true", help="no header line")
    z.add_argument("--raw", action="store_true", help="raw output: single spaces")
    z.add_argument("-b", "--bytes", action="store_true", help="sizes in bytes")
    z.add_argument("--json", action="store_true", help="JSON output")
    z.set_defaults(func=cmd_zramctl)

    c = sub.add_parser("capture", help="snapshot a live process's anonymous memory")
    c.add_argument("pid", type=_positive, help="process id")
    c.add_argument("-o", "--output", required=True, metavar="FILE", help="page file to write")
    c.add_argument("--max-pages", type=_positive, metavar="N",
                   help="capture at most N pages, the first in address order")
    c.add_argument("--pages", type=_positive, metavar="N",
                   help="capture a seeded sample of N touched pages, reading only those "
                        "(bounded memory; the process is stopped only for their read)")
    c.add_argument("--seed", type=_seed, default=1, help="seed for --pages (1)")
    c.add_argument("--no-freeze", action="store_true",
                   help="do not stop the process while reading it")
    c.add_argument("--json", action="store_true", help="JSON output")
    c.set_defaults(func=cmd_capture)

    r = sub.add_parser("run", help="run a scenario file (TOML)")
    r.add_argument("scenario", help="scenario file")
    r.add_argument("--out", metavar="FILE", help="also write the report as JSON here")
    r.add_argument("--json", action="store_true", help="print the JSON report")
    r.add_argument("--progress", action="store_true", help="show progress even without a tty")
    r.set_defaults(func=cmd_run)

    ad = sub.add_parser("advise", help="which zram settings for this memory: every "
                                       "algorithm on its pages, and a recommendation")
    ad.add_argument("source", metavar="SOURCE",
                    help="capture:PID, pagefile:PATH, sample, files, elf, text, stdlib, pyheap "
                         "or a folder")
    ad.add_argument("--pages", type=_positive, default=16384,
                    help="pages sampled from the source (16384 = 64 MiB)")
    ad.add_argument("--seed", type=_seed, default=1, help="seed for the sample and order (1)")
    ad.add_argument("--ram", metavar="SIZE",
                    help="RAM of the machine to size disksize for (default: this one's)")
    ad.add_argument("--out", default="out", help="folder for advise.json and advise.png (out)")
    ad.add_argument("--json", action="store_true", help="print the JSON instead of the table")
    ad.add_argument("--progress", action="store_true", help="show progress even without a tty")
    _sweep_options(ad)
    ad.set_defaults(func=cmd_advise)

    cp = sub.add_parser("compare", help="two reports (bench or run JSON) side by side")
    cp.add_argument("a", help="report A (JSON)")
    cp.add_argument("b", help="report B (JSON)")
    cp.add_argument("--json", action="store_true", help="JSON output")
    cp.set_defaults(func=cmd_compare)

    ca = sub.add_parser("calibrate", help="the same pages through the host kernel's zram "
                                          "and swaplab's (root)")
    ca.add_argument("--pages", type=_positive, default=16384, help="pages (16384 = 64 MiB)")
    ca.add_argument("--corpus", default="pyheap", metavar="SPEC", help="as for bench")
    ca.add_argument("-a", "--algorithm", default="lz4", help="compression algorithm (lz4)")
    ca.add_argument("--seed", type=_seed, default=1, help="seed (1)")
    ca.add_argument("--out", metavar="FILE", help="also write the JSON here")
    ca.add_argument("--json", action="store_true", help="JSON output")
    ca.set_defaults(func=cmd_calibrate)
    return p


def main(argv: list[str] | None = None) -> int:
    console = Console(width=max(Console().width, 132))
    try:
        args = build_parser().parse_args(argv)
        if getattr(args, "json", False):  # stdout is the JSON document; notes go to stderr
            console = Console(width=console.width, stderr=True)
        with deferred():  # Ctrl-C lands between faults, never inside one
            return args.func(args, console)
    except UsageError as e:
        print(str(e), file=sys.stderr)
        return EXIT_USAGE
    except VerificationError as e:
        print(f"swaplab: verification failed: {e}", file=sys.stderr)
        return EXIT_FAIL
    except OSError as e:
        print(f"swaplab: {e}", file=sys.stderr)
        return EXIT_FAIL
    except KeyboardInterrupt:  # what the command set up was undone as this unwound
        print("swaplab: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as e:  # a bug: one line, the traceback on request
        if os.environ.get("SWAPLAB_TRACEBACK"):
            raise
        print(f"swaplab: internal error: {type(e).__name__}: {e} (a bug: set "
              "SWAPLAB_TRACEBACK=1 for the traceback and report it)", file=sys.stderr)
        return EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
