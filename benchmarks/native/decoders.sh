#!/usr/bin/env bash
# The compiled decoders over real pages, timed and counted (callgrind):
#
#   benchmarks/native/decoders.sh [PAGES]      # default 8192 pages of real files
#
# Writes the pages compressed by swaplab's lz4 and lzo-rle to out/native/, builds
# benchmarks/native/decode_pages.c against swaplab's decoders (-O2, as setup.py
# builds them) and, where the system has liblz4.so.1, against it, then prints
# ns a page (best of 3 runs of 10 passes) and instructions a page (callgrind,
# one pass, the file's parsing included: ~0.5k a page).  Needs gcc, valgrind
# and an installed swaplab.
set -euo pipefail
cd "$(dirname "$0")/../.."
pages=${1:-8192}
py=${PYTHON:-python3}
n=src/swaplab/_native
out=out/native
mkdir -p "$out"
"$py" - "$pages" "$out" <<'PY'
import struct, sys
from swaplab.lib.compress import compressor
from swaplab.workload.corpus import file_pages
pages = file_pages(int(sys.argv[1]), seed=1)
for algo in ("lz4", "lzo-rle"):
    c = compressor(algo)
    with open(f"{sys.argv[2]}/{algo}.pages", "wb") as f:
        for p in pages:
            o = c.compress(p.tobytes())
            if len(o) < 4096:  # huge pages are stored raw: no decoder
                f.write(struct.pack("<I", len(o)) + o + p.tobytes())
PY
gcc -O2 -Wall -Wextra -Werror -I"$n/include" -DCODEC_LZ4 benchmarks/native/decode_pages.c "$n"/lib/lz4/lz4_decompress.c -o "$out/decode_lz4"
gcc -O2 -Wall -Wextra -Werror -I"$n/include" -DCODEC_LZO benchmarks/native/decode_pages.c "$n"/lib/lzo/lzo1x_decompress_safe.c -o "$out/decode_lzo"
runs=("lz4 decode_lz4" "lzo-rle decode_lzo")
if [ -e /usr/lib/x86_64-linux-gnu/liblz4.so.1 ]; then
    gcc -O2 -DLIBLZ4 benchmarks/native/decode_pages.c /usr/lib/x86_64-linux-gnu/liblz4.so.1 -o "$out/decode_liblz4"
    runs+=("lz4 decode_liblz4")
fi
for r in "${runs[@]}"; do
    set -- $r
    best=$(for i in 1 2 3; do "$out/$2" "$out/$1.pages" 10; done | sed 's/.*: \([0-9]*\) ns.*/\1/' | sort -n | head -1)
    ir=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$out/$2" "$out/$1.pages" 1 2>&1 \
         | sed -n 's/.*refs: *\([0-9,]*\).*/\1/p' | tr -d ,)
    npages=$("$out/$2" "$out/$1.pages" 1 | sed 's/ pages.*//')
    echo "$2 ($1): $best ns a page, $((ir / npages)) instructions a page"
done
