"""docs/backends.md's example backend, run as the document gives it: its code
blocks in order, in one namespace (the kit's run included)."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "backends.md"


def test_the_documented_backend_works_and_passes_the_kit():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) == 3
    ns: dict = {"__name__": "backends_md"}
    for code in blocks:
        exec(compile(code, str(DOC), "exec"), ns)  # the document's own code
    assert ns["DictStore"].__doc__


def test_backend_module_exports_what_a_backend_uses():
    import swaplab.backend as b

    for name in ("swap_write_end", "swap_read_end", "swp_offset", "SwapOps", "SwapIoCtx",
                 "BlockDevice", "BlockDeviceOperations", "bio_endio", "ReqOp", "PAGE_SIZE",
                 "SECTOR_SHIFT", "SwapInfo"):
        assert name in b.__all__ and getattr(b, name) is not None
