"""Seed corpora for the fuzz targets: real compressed pages from the shipped corpus.

Each seed starts with the two capacity bytes the decoder targets read (4096),
then an lz4 block or an lzo / lzo-rle stream of one real page, so the fuzzer
starts from inputs that go deep into the decoders.
"""

from __future__ import annotations

import sys
from pathlib import Path

from swaplab.lib.compress import compressor
from swaplab.workload.corpus import sample_corpus

CAP = (4096).to_bytes(2, "little")


def main(out: Path, n: int = 64) -> None:
    pages = sample_corpus()
    picks = list(range(0, len(pages), max(1, len(pages) // n)))[:n]
    for target, names in (("lz4_decompress", ["lz4"]), ("lzo_decompress", ["lzo", "lzo-rle"]),
                          ("roundtrip", [])):
        d = out / target
        d.mkdir(parents=True, exist_ok=True)
        for i in picks:
            if not names:
                (d / f"page{i}").write_bytes(pages[i].tobytes())
            for name in names:
                (d / f"{name}-{i}").write_bytes(CAP + compressor(name).compress(pages[i]))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("out/fuzz-seeds"))
