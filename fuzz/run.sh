#!/usr/bin/env bash
# Fuzz swaplab's C decoders (and its compressors, by round trip) with libFuzzer
# under AddressSanitizer and UndefinedBehaviorSanitizer.
#
#   fuzz/run.sh [RUNS [TARGET...]]   # default 1000000 executions; all three targets
#
# Targets: lz4_decompress, lzo_decompress (lzo and lzo-rle streams), roundtrip.
#
# Needs clang with libFuzzer (Debian: apt-get install clang-14) and an installed
# swaplab (for the seed corpus: real compressed pages).  Each target stops at
# the first crash, leak, sanitizer report or timeout and leaves the input in
# out/fuzz/; the log of each run is out/fuzz/<target>.log.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-1000000}
shift || true
targets=${*:-lz4_decompress lzo_decompress roundtrip}
cc=$(command -v clang || command -v clang-14 || true)
if [ -z "$cc" ]; then
    echo "fuzz/run.sh: clang not found (Debian: apt-get install clang-14)" >&2
    exit 2
fi
py=${PYTHON:-python3}
n=src/swaplab/_native
out=out/fuzz
mkdir -p "$out"
"$py" fuzz/make_seeds.py "$out/seeds"
for t in $targets; do
    "$cc" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
        -I"$n/include" "fuzz/fuzz_$t.c" "$n"/lib/lz4/*.c "$n"/lib/lzo/*.c -o "$out/fuzz_$t"
    mkdir -p "$out/corpus_$t"
    echo "== $t: $runs runs"
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "$out/fuzz_$t" -runs="$runs" -max_len=70000 -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$out/$t-" "$out/corpus_$t" "$out/seeds/$t" 2>&1 \
        | tee "$out/$t.log" | grep -E "^#[0-9]+ *(DONE|pulse)|stat::|ERROR|SUMMARY" || true
    grep -q "^Done $runs runs" "$out/$t.log" || { echo "$t: did not finish $runs runs" >&2; exit 1; }
done
echo "fuzz/run.sh: all targets finished $runs runs with no report"
