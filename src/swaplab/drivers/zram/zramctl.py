"""A zramctl (util-linux) view of zram devices: same columns, same size format.

Works on swaplab's devices and, read-only, on the host kernel's
(/sys/block/zram*). Columns: NAME ALGORITHM DISKSIZE DATA COMPR TOTAL STREAMS
MOUNTPOINT by default; ZERO-PAGES MEM-LIMIT MEM-USED MIGRATED COMP-RATIO on
request. DATA/COMPR/TOTAL/ZERO-PAGES/MEM-LIMIT/MEM-USED/MIGRATED come from
mm_stat; COMP-RATIO is DATA / TOTAL. Only initialised devices are listed.
Widths and alignment follow libsmartcols with zramctl's width hints; the
output was compared with util-linux 2.38 zramctl on the host's zram. Two
differences are deliberate: STREAMS shows the online CPUs (util-linux 2.41;
2.38 leaves it empty on kernels without max_comp_streams), and COMP-RATIO
(2.41; absent from 2.38) is printed with two decimals.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ...errors import kerror

DEFAULT_COLUMNS = ("NAME", "ALGORITHM", "DISKSIZE", "DATA", "COMPR", "TOTAL", "STREAMS",
                   "MOUNTPOINT")
#: util-linux's internal column order (what --output-all prints).
ALL_COLUMNS = ("NAME", "DISKSIZE", "DATA", "COMPR", "ALGORITHM", "STREAMS", "ZERO-PAGES",
               "TOTAL", "MEM-LIMIT", "MEM-USED", "MIGRATED", "COMP-RATIO", "MOUNTPOINT")
_SIZE_COLUMNS = {"DISKSIZE", "DATA", "COMPR", "TOTAL", "MEM-LIMIT", "MEM-USED", "MIGRATED"}
_RIGHT = _SIZE_COLUMNS | {"STREAMS", "ZERO-PAGES", "COMP-RATIO"}
#: libsmartcols width hints of zramctl's columns (minimum widths).
_MIN_WIDTH = {"DISKSIZE": 5, "DATA": 5, "COMPR": 5, "ALGORITHM": 3, "STREAMS": 3,
              "ZERO-PAGES": 3, "TOTAL": 5, "MEM-LIMIT": 5, "MEM-USED": 5, "MIGRATED": 5}


def size_to_human_string(nbytes: int) -> str:
    """util-linux's 1-letter size string: 0B, 512B, 4K, 1.5M, 2G (one decimal, rounded)."""
    letters = "BKMGTPE"
    if nbytes < 1024:
        return f"{nbytes}B"
    exp = 0
    while nbytes >= 1024 ** (exp + 1) and exp < len(letters) - 1:
        exp += 1
    unit = 1024**exp
    dec, frac = divmod(nbytes, unit)
    tenths = 0
    if frac:
        milli = frac * 1000 // unit
        tenths = (milli + 50) // 100
        if tenths == 10:
            dec, tenths = dec + 1, 0
    return f"{dec}.{tenths}{letters[exp]}" if tenths else f"{dec}{letters[exp]}"


@dataclass
class ZramView:
    """What zramctl reads of one device."""

    name: str
    read: Callable[[str], str]
    swap: bool


def _algorithm(text: str) -> str:
    m = re.search(r"\[([^\]]+)\]", text)
    return m.group(1) if m else ""


def rows(devices: Iterable[ZramView], columns: tuple[str, ...] = DEFAULT_COLUMNS,
         in_bytes: bool = False) -> list[dict[str, str]]:
    """One dict per initialised device, column name -> cell text."""
    for c in columns:
        if c not in ALL_COLUMNS:
            raise kerror(errno.EINVAL, f"zramctl: unknown column {c!r}")
    out = []
    for d in devices:
        disksize = int(d.read("disksize"))
        if not disksize:
            continue
        mm = [int(x) for x in d.read("mm_stat").split()]
        vals: dict[str, object] = {
            "NAME": f"/dev/{d.name}", "ALGORITHM": _algorithm(d.read("comp_algorithm")),
            "DISKSIZE": disksize, "DATA": mm[0], "COMPR": mm[1], "TOTAL": mm[2],
            "STREAMS": os.cpu_count() or 1, "MOUNTPOINT": "[SWAP]" if d.swap else "",
            "ZERO-PAGES": mm[5], "MEM-LIMIT": mm[3], "MEM-USED": mm[4], "MIGRATED": mm[6],
            "COMP-RATIO": f"{mm[0] / mm[2]:.2f}" if mm[2] else "0.00",
        }
        row = {}
        for c in columns:
            v = vals[c]
            if c in _SIZE_COLUMNS and not in_bytes:
                v = size_to_human_string(int(v))
            row[c] = str(v)
        out.append(row)
    return out


def format_table(table: list[dict[str, str]], columns: tuple[str, ...], *, raw: bool = False,
                 noheadings: bool = False) -> str:
    """Aligned like libsmartcols (numbers right-aligned), or --raw: single spaces."""
    lines = [] if noheadings else [list(columns)]
    lines += [[r[c] for c in columns] for r in table]
    if raw:
        return "".join(" ".join(cells) + "\n" for cells in lines)
    widths = [max([_MIN_WIDTH.get(c, 0)] + [len(line[i]) for line in lines])
              for i, c in enumerate(columns)]
    out = []
    for line in lines:
        cells = []
        for i, (c, text) in enumerate(zip(columns, line, strict=True)):
            last = i == len(columns) - 1
            if c in _RIGHT:
                cells.append(text.rjust(widths[i]))
            else:
                cells.append(text if last else text.ljust(widths[i]))
        out.append(" ".join(cells).rstrip() + "\n")
    return "".join(out)


def swaplab_views(system) -> list[ZramView]:
    """The zram devices of a swaplab System."""
    ctl = system.modules.get("zram")
    if ctl is None:
        return []
    active = {si.bdev for si in system.swap.active() if si.bdev is not None}
    return [ZramView(z.name, z.attr.__getitem__, z.bdev in active)
            for _, z in sorted(ctl.devices.items())]


def host_views(root: str = "/sys/block") -> list[ZramView]:
    """The host kernel's zram devices (read-only)."""
    swaps = Path("/proc/swaps").read_text() if Path("/proc/swaps").exists() else ""
    out = []
    for p in sorted(Path(root).glob("zram*"), key=lambda p: int(p.name[4:] or 0)):
        name = p.name

        def read(attr: str, p: Path = p) -> str:
            return (p / attr).read_text()

        out.append(ZramView(name, read, f"/dev/{name} " in swaps))
    return out
