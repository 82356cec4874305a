"""Per-page fidelity of swaplab's codecs against the kernel's own answers.

    python benchmarks/fidelity.py [--data benchmarks/data/oracle] [--json out/fidelity.json]

For every page of the two oracle corpora (24,576 real pages, text and ELF)
and each of lz4, lzo and lzo-rle: compress it with swaplab's codec, derive
the kind zram would give it (same-filled, huge at >= 3625 bytes, else
stored compressed) and compare kind and length with what Linux 6.18's zram
recorded (benchmarks/data/oracle/README.md). Every page is also decoded
again and compared. Prints a table; --json writes the figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import zstandard

from swaplab import PAGE_SIZE
from swaplab.cli import machine
from swaplab.lib.compress import compressor, split

HUGE_CLASS_SIZE = 3625
DATA = Path(__file__).parent / "data" / "oracle"


def load(data: Path, corpus: str) -> np.ndarray:
    raw = zstandard.ZstdDecompressor().decompress((data / f"{corpus}.pages.zst").read_bytes(),
                                                  max_output_size=1 << 31)
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, PAGE_SIZE)


def compare(pages: np.ndarray, sizes: np.ndarray, kinds: np.ndarray, algo: str) -> dict:
    """Kinds and lengths of ``pages`` under ``algo`` beside the kernel's."""
    c = compressor(algo)
    buf, lens = c.compress_batch(pages)
    words = pages.view(np.uint64)
    same = (words == words[:, :1]).all(axis=1)
    ours = np.where(same, 1, np.where(lens >= HUGE_CLASS_SIZE, 2, 0))
    stored = kinds == 0
    back = np.empty_like(pages)
    ok = c.decompress_batch(split(buf, lens), back)
    ours_size = np.where(ours == 1, 0, np.where(ours == 2, PAGE_SIZE, lens))
    return {
        "pages": len(pages),
        "kinds_equal": int((ours == kinds).sum()),
        "stored_pages": int(stored.sum()),
        "lengths_equal": int((lens[stored] == sizes[stored]).sum()),
        "compr_data_size": {"swaplab": int(ours_size.sum()), "kernel": int(sizes.sum())},
        "huge_pages": {"swaplab": int((ours == 2).sum()), "kernel": int((kinds == 2).sum())},
        "round_trip": bool(ok == len(pages) and np.array_equal(back, pages)),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    oracle = np.load(args.data / "kernel-page-sizes.npz")
    rows = {}
    t0 = time.perf_counter()
    for corpus in ("text", "elf"):
        pages = load(args.data, corpus)
        for algo in ("lz4", "lzo", "lzo-rle"):
            print(f"{corpus}/{algo} ...", file=sys.stderr, flush=True)
            rows[f"{corpus}/{algo}"] = compare(pages, oracle[f"{corpus}/{algo}/sizes"],
                                               oracle[f"{corpus}/{algo}/kinds"], algo)
    print(f"{'corpus/algo':14} {'pages':>6} {'kinds =':>8} {'lengths =':>16} "
          f"{'compr_data_size ours / kernel':>32} {'huge':>10}  round trip")
    for key, r in rows.items():
        share = r["lengths_equal"] / max(1, r["stored_pages"])
        cds = r["compr_data_size"]
        print(f"{key:14} {r['pages']:>6} {r['kinds_equal']:>8} "
              f"{r['lengths_equal']:>7} ({share:7.3%}) {cds['swaplab']:>15,} / {cds['kernel']:<15,}"
              f" {r['huge_pages']['swaplab']:>4} / {r['huge_pages']['kernel']:<4}  "
              f"{'ok' if r['round_trip'] else 'FAILED'}")
    doc = {"machine": machine(), "command": "python benchmarks/fidelity.py", "rows": rows,
           "seconds": round(time.perf_counter() - t0, 1)}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=2))
    exact = all(r["kinds_equal"] == r["pages"] and r["round_trip"] for r in rows.values())
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
