"""A real Python process whose heap becomes a corpus: ``python -m swaplab.workload.heapapp BYTES``.

It reads the standard library's sources, keeps each source text, its token
list and its compiled code object, and counts every token in a dict, until
its resident set reaches BYTES; then it prints ``ready RSS`` and waits on
stdin. What ends up in its anonymous memory is an interpreter's ordinary
heap: strings, lists, dicts, code objects, allocator metadata, and the free
space between them. ``corpus = "pyheap"`` captures it (workload/corpus.py).
"""

from __future__ import annotations

import contextlib
import os
import sys


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def grow(target: int) -> list[object]:
    keep: list[object] = []
    words: dict[str, int] = {}
    keep.append(words)
    stdlib = os.path.dirname(os.__file__)
    while rss() < target:
        before = rss()
        for root, dirs, files in os.walk(stdlib):
            dirs.sort()
            for name in sorted(files):
                if not name.endswith(".py"):
                    continue
                try:
                    with open(os.path.join(root, name), encoding="utf-8") as f:
                        src = f.read()
                except (OSError, UnicodeDecodeError):
                    continue
                toks = src.split()
                keep.append((name, src, toks))
                for w in toks:
                    words[w] = words.get(w, 0) + 1
                with contextlib.suppress(SyntaxError, ValueError):
                    keep.append(compile(src, name, "exec"))
                if rss() >= target:
                    return keep
        if rss() <= before:  # nothing more to read
            return keep
    return keep


def main() -> None:
    target = int(sys.argv[1]) if len(sys.argv) > 1 else 64 << 20
    heap = grow(target)
    print("ready", rss(), len(heap), flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main()
