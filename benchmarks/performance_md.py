"""Regenerate the measured sections of docs/PERFORMANCE.md from real runs' JSON.

    swaplab bench --out out/bench
    swaplab calibrate --out out/calibrate.json
    swaplab run scenarios/zram-1g.toml --out out/zram-1g.json
    python benchmarks/zram_throughput.py --repeats 3 --json out/zram_throughput.json
    python benchmarks/codec_speed.py --rounds 3 --json out/codec_speed.json
    python benchmarks/performance_md.py [--bench out/bench/bench.json]
        [--calibrate out/calibrate.json] [--run out/zram-1g.json]
        [--throughput out/zram_throughput.json] [--codecs out/codec_speed.json]

Each section sits between ``<!-- generated:NAME -->`` and
``<!-- /generated:NAME -->`` markers; text outside the markers is kept, and a
section whose JSON is missing is left as it was.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "PERFORMANCE.md"


def _m(v: dict, digits: int = 1) -> str:
    return f"{v['median']:.{digits}f} ({v['min']:.{digits}f}–{v['max']:.{digits}f})"


def _machine(doc: dict) -> str:
    m = doc["machine"]
    return (f"Command: `{doc['command']}`. Machine: {m['cpus']} CPUs, kernel {m['kernel']}, "
            f"Python {m['python']}, numpy {m['numpy']}, swaplab {m['swaplab']}; "
            f"run {m['date']}.")


def bench_section(doc: dict) -> str:
    c = doc["corpus"]
    lines = [_machine(doc), "",
             f"Corpus: {c['pages']} pages from `{c['source']}` ({c['zero']:.1%} zero, "
             f"{c['same_filled']:.1%} same-filled), seed {c['seed']}; "
             f"{', '.join(doc.get('algorithms', ['lz4']))}. Median over the "
             "repeats, (min–max) beside it.", ""]
    vs = any("p50_vs_kernel" in r for r in doc["results"])
    lines += ["| design | avg µs | p50 µs | p99 µs | p99.9 µs | pages verified |"
              + (" avg × kernel | p50 × kernel |" if vs else ""),
              "|---|---|---|---|---|---|" + ("---|---|" if vs else "")]
    for r in doc["results"]:
        lines.append(f"| {r['design']} | {_m(r['lat_avg_us'])} | {_m(r['lat_p50_us'])} | "
                     f"{_m(r['lat_p99_us'])} | {_m(r['lat_p999_us'])} | "
                     f"{r['verified']}/{r['pages'] * r['repeats']} |"
                     + (f" {r['avg_vs_kernel']:.2f}x | {r['p50_vs_kernel']:.2f}x |" if vs
                        else ""))
    # per algorithm: a run of several names its rows "design [algo]"
    algos = doc.get("algorithms", ["lz4"])
    per = {a: {r["design"].removesuffix(f" [{a}]"): r for r in doc["results"]
               if r.get("algorithm", a) == a} for a in algos}
    by = per[algos[0]]
    for a in algos:
        rows = per[a]
        if "zram/swap_ops" in rows and "zram/bio-per-page" in rows:
            x, y = rows["zram/swap_ops"], rows["zram/bio-per-page"]
            lines += ["", f"zram/swap_ops over zram/bio-per-page ({a}): avg "
                      f"{x['lat_avg_us']['median'] / y['lat_avg_us']['median']:.3f}, p50 "
                      f"{x['lat_p50_us']['median'] / y['lat_p50_us']['median']:.3f} (the "
                      "series author on the kernel: 1,750 / 1,812 ns = 0.966 avg, "
                      "1,273 / 1,504 ns = 0.846 p50)."]
    lines += ["", "| design | swap-out MiB/s | swap-in MiB/s | backing reads/fault | "
              "cold faults | pool MiB | compr. ratio |", "|---|---|---|---|---|---|---|"]
    for r in doc["results"]:
        ratio = r["compr_ratio"]["median"]
        lines.append(f"| {r['design']} | {_m(r['swapout_mib_s'])} | {_m(r['swapin_mib_s'])} | "
                     f"{r['backing_reads_per_fault']['median']:.3f} | "
                     f"{r['cold_fault_ratio']['median']:.1%} | {r['pool_mib']['median']:.1f} | "
                     f"{f'{ratio:.2f}' if ratio else '-'} |")
    if "core_avg_us" in doc["results"][0]:
        lines += ["", "Where a swap-in's time goes (backend: submit_read to swap_read_end; "
                  "core: the rest of the fault):", "",
                  "| design | core avg µs | backend avg µs | backend share | core p50 µs | "
                  "backend p50 µs |", "|---|---|---|---|---|---|"]
        for r in doc["results"]:
            if r["design"].startswith("kernel/zram"):  # not instrumented: no split
                continue
            core, back = r["core_avg_us"]["median"], r["backend_avg_us"]["median"]
            lines.append(f"| {r['design']} | {_m(r['core_avg_us'])} | "
                         f"{_m(r['backend_avg_us'])} | {back / (core + back):.0%} | "
                         f"{_m(r['core_p50_us'])} | {_m(r['backend_p50_us'])} |")
        lines += ["", "![where swap-in time goes](bench-time-split.png)"]
    wrote = [r for r in doc["results"] if r.get("wb_pages", {}).get("median")]
    if wrote:
        lines += ["", "Writeback after page-out, before the faults (CPU: this process's, all "
                  "threads), and the backends' own tables per slot:", "",
                  "| design | pages written back | bytes written/page | decompressions | "
                  "writeback CPU µs/page | metadata B/slot |", "|---|---|---|---|---|---|"]
        for r in doc["results"]:
            if r["design"].startswith("kernel/zram"):
                continue
            n = r.get("wb_pages", {}).get("median", 0)
            lines.append(f"| {r['design']} | {n:.0f} | "
                         + (f"{_m(r['wb_bytes_per_page'], 0)} | "
                            f"{r['wb_decompressions']['median']:.0f} | "
                            f"{_m(r['wb_cpu_us_per_page'])} |" if n else "- | - | - |")
                         + f" {r['metadata_b_per_slot']['median']:.1f} |")
        raw = by.get("vswap/zswap")
        if raw is not None:
            base = raw["wb_bytes_per_page"]["median"]
            parts = [f"{name} {by[name]['wb_bytes_per_page']['median'] / base:.3f}x"
                     for name in ("vswap/zswap+cwb", "vswap/zswap+cwb-packed") if name in by]
            if parts:
                lines += ["", "Bytes written to the backing device per page written back, "
                          "over raw writeback (vswap/zswap): " + ", ".join(parts) + "."]
        lines += ["", "![writeback](bench-writeback.png)"]
    return "\n".join(lines)


def calibrate_section(doc: dict) -> str:
    lat = doc.get("latency")
    how = (f" Single 4 KiB reads: {lat['pages']} pages, the two sides taking turns of "
           f"{lat['turn']} on CPU {lat['cpu']}." if lat else "")
    lines = [_machine(doc), "",
             f"{doc['pages']} pages of `{doc['corpus']['source']}`, {doc['algorithm']}.{how}",
             "", "| figure | kernel zram | swaplab zram | swaplab/kernel |", "|---|---|---|---|"]
    for r in doc["rows"]:
        def show(v: float) -> str:
            return str(int(v)) if float(v).is_integer() else f"{v:.3g}"
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.3f}x"
        lines.append(f"| {r['field']} | {show(r['kernel'])} | {show(r['swaplab'])} | {ratio} |")
    return "\n".join(lines)


def run_section(doc: dict) -> str:
    vm = doc["vmstat"]
    sc = doc["scenario"]
    proc = sc["process"][0]
    return "\n".join([
        _machine(doc), "",
        f"{len(sc['process'])} process(es), {proc['size'] >> 20} MiB touched, machine "
        f"{sc['system']['memory'] >> 20} MiB; cgroups: "
        + ", ".join(f"{c['name']} memory.max={c['memory_max']}" for c in sc["cgroup"]) + ".",
        "",
        "| figure | value |", "|---|---|",
        f"| accesses (populate + run) | {doc['accesses']} |",
        f"| page checks (every fault + final sweep), all verified | {doc['pages_verified']} |",
        f"| populate / run / verify wall time | {doc['populate_s']:.1f} / {doc['run_s']:.1f} / "
        f"{doc['verify_s']:.1f} s |",
        f"| run phase: faults per second | {doc['faults_per_s']:.0f} |",
        f"| run phase: pages swapped (in + out) per second | "
        f"{doc['swapped_pages_per_s']:.0f} |",
        f"| run phase: accesses per second | {doc['accesses_per_s']:.0f} |",
        f"| pswpout / pswpin (whole run) | {vm['pswpout']} / {vm['pswpin']} |",
        f"| swpout_zero / swpin_zero | {vm['swpout_zero']} / {vm['swpin_zero']} |",
        f"| pgsteal_direct (cgroup reclaim) / pgsteal_kswapd | {vm['pgsteal_direct']} / "
        f"{vm['pgsteal_kswapd']} |",
    ] + [f"| {name} mm_stat | " + (", ".join(f"{k} {v}" for k, v in z["mm_stat"].items())
                                   if isinstance(z["mm_stat"], dict) else f"`{z['mm_stat']}`")
         + " |" for name, z in doc.get("zram", {}).items()])


def throughput_section(doc: dict) -> str:
    labels = {"plain": "(a) plain loop: compress / decompress per page",
              "swap_ops": "swaplab zram swap_ops: ready-built batches of 32",
              "swap_ops_with_core": "swaplab: the same with the swap core's pass timed",
              "bio_per_page": "swaplab: bio-per-page ops, one bio per page",
              "blockdev": "swaplab /dev/zram0: pwrite / pread, 1 MiB requests",
              "kernel": "(b) host kernel zram, O_DIRECT, 1 MiB requests"}
    lines = [_machine(doc), "",
             f"{doc['pages']} pages cut from real files, {doc['algo']}; every page read back is "
             f"compared with what was written. Best of {doc['repeats']} rounds (each round "
             "runs every path once: the plain loop, swap_ops, the kernel, /dev/zram0, then the "
             "others, so the kernel runs seconds from the paths compared with it); the "
             "rounds' figures follow the best.", "",
             "| path | write MiB/s | read MiB/s | rounds (write / read) |", "|---|---|---|---|"]
    for key, label in labels.items():
        if key in doc:
            r = doc[key]
            rounds = ", ".join(f"{w:.0f}/{rd:.0f}" for w, rd in r["rounds"])
            lines.append(f"| {label} | {r['write_mib_s']:.1f} | {r['read_mib_s']:.1f} | "
                         f"{rounds} |")
    lines += ["", "| ratio | write | read | target | met (best figures)? | "
              "within each round (write / read) | median of the rounds |",
              "|---|---|---|---|---|---|---|"]
    limits = {"swap_ops / kernel": (1.0, 0.8), "blockdev / kernel": (0.8, 0.6)}
    for key, (w, rd, target, *med) in doc["ratios"].items():
        so = doc[key.split(" / ")[0]]["rounds"]
        lim = limits.get(key)
        met = "-" if lim is None else ("yes" if w >= lim[0] and rd >= lim[1] else
                                       "write " + ("yes" if w >= lim[0] else "**no**")
                                       + ", read " + ("yes" if rd >= lim[1] else "**no**"))
        ref = doc[key.split(" / ")[1]]["rounds"]
        per_round = ", ".join(f"{a[0] / b[0]:.2f}/{a[1] / b[1]:.2f}"
                              for a, b in zip(so, ref, strict=True))
        median = f"{med[0]:.2f}x / {med[1]:.2f}x" if med else "-"
        lines.append(f"| {key} | {w:.2f}x | {rd:.2f}x | {target} | {met} | {per_round} | "
                     f"{median} |")
    tt = doc.get("two_threads")
    if tt:
        rounds = ", ".join(f"{b / a:.2f}x" for a, b in tt["rounds"])
        sp = tt["two_mib_s"] / tt["one_mib_s"]
        lines += ["", f"Writing (`Zram.write_pages`, batches of 32) from one thread: "
                  f"{tt['one_mib_s']:.0f} MiB/s; from two threads on one device: "
                  f"{tt['two_mib_s']:.0f} MiB/s, **{sp:.2f}x** (target >= 1.6x: "
                  f"{'met' if sp >= 1.6 else '**not met**'}); within each round: {rounds}."]
    kt = doc.get("kernel_two_threads")
    if kt:
        rounds = ", ".join(f"{b / a:.2f}x" for a, b in kt["rounds"])
        lines += ["", f"The host kernel's zram on this VM, O_DIRECT 1 MiB writes from one "
                  f"thread: {kt['one_mib_s']:.0f} MiB/s; from two threads (each its half): "
                  f"{kt['two_mib_s']:.0f} MiB/s, {kt['two_mib_s'] / kt['one_mib_s']:.2f}x; "
                  f"within each round: {rounds}."]
    sm = doc["slot_metadata"]
    lines += ["", f"Slot metadata: {sm['bytes_per_slot']} bytes a slot (target <= 16); a "
              f"16 GiB device's table is created in {sm['create_16g_s'] * 1000:.1f} ms "
              "(target < 0.1 s)."]
    return "\n".join(lines)


def codec_section(doc: dict) -> str:
    lines = [_machine(doc), "",
             f"{doc['pages']} pages cut from real files, one call a page unless the row "
             "says batch (32 pages a call); every page decompressed is compared with the "
             f"original. Best of {doc['rounds']} rounds; each round runs every row once, in "
             "this order.", "",
             "| row | compress / write MiB/s | decompress / read MiB/s | rounds |",
             "|---|---|---|---|"]
    for name, r in doc["rows"].items():
        rounds = ", ".join(f"{c:.0f}/{d:.0f}" for c, d in r["rounds"])
        lines.append(f"| {name} | {r['mib_s'][0]:.0f} | {r['mib_s'][1]:.0f} | {rounds} |")
    lines += ["", "| ratio (best figures) | value | target | met? |", "|---|---|---|---|"]
    for name, r in doc["ratios"].items():
        bound = float(r["target"].split()[-1])
        lines.append(f"| {name} | {r['value']:.3f}x | {r['target']} | "
                     f"{'yes' if r['value'] >= bound else '**no**'} |")
    lines += ["", "Chart: `out/codec_speed.png` (copied to docs/codec-speed.png)."]
    return "\n".join(lines)


def replace(text: str, name: str, body: str) -> str:
    pat = re.compile(rf"(<!-- generated:{name} -->\n)(?:.*?\n)?(<!-- /generated:{name} -->)",
                     re.S)
    if not pat.search(text):
        raise SystemExit(f"docs/PERFORMANCE.md has no generated:{name} markers")
    return pat.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", default=str(ROOT / "out/bench/bench.json"))
    ap.add_argument("--calibrate", default=str(ROOT / "out/calibrate.json"))
    ap.add_argument("--run", default=str(ROOT / "out/zram-1g.json"))
    ap.add_argument("--throughput", default=str(ROOT / "out/zram_throughput.json"))
    ap.add_argument("--throughput-lzo-rle",
                    default=str(ROOT / "out/zram_throughput-lzo-rle.json"))
    ap.add_argument("--codecs", default=str(ROOT / "out/codec_speed.json"))
    args = ap.parse_args()
    text = DOC.read_text()
    for name, path, make in (("bench", args.bench, bench_section),
                             ("calibrate", args.calibrate, calibrate_section),
                             ("zram-1g", args.run, run_section),
                             ("zram-throughput", args.throughput, throughput_section),
                             ("zram-throughput-lzo-rle", args.throughput_lzo_rle,
                              throughput_section),
                             ("codec-speed", args.codecs, codec_section)):
        p = Path(path)
        if p.is_file():
            text = replace(text, name, make(json.loads(p.read_text())))
            print(f"updated {name} from {p}")
        else:
            print(f"kept {name}: no {p}")
    DOC.write_text(text)


if __name__ == "__main__":
    main()
