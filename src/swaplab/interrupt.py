"""Ctrl-C at safe points, as the kernel delivers a signal on the way back to
user space and never in the middle of a fault.

A KeyboardInterrupt raised between two arbitrary bytecodes of the modelled
kernel could leave a folio locked or a swap area busy, and the cleanup that
follows (swapoff, exit_mm) would then wait for it forever. The command line
therefore runs under :func:`deferred`: SIGINT only sets a flag, and
:func:`safe_point` — called between faults, between the phases of a run —
raises it there. A second Ctrl-C raises at once (and a third is Python's
default).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

_pending = threading.Event()


def safe_point() -> None:
    """Raise KeyboardInterrupt if Ctrl-C came since the last safe point."""
    if _pending.is_set():
        _pending.clear()
        raise KeyboardInterrupt


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Within: SIGINT is held until a :func:`safe_point` (or the end of the
    block); a second SIGINT before that raises at once. Outside the main
    thread, or where SIGINT is ignored, nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.getsignal(signal.SIGINT)
    if old is signal.SIG_IGN:
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if _pending.is_set():  # asked twice: now
            signal.signal(signal.SIGINT, old)
            raise KeyboardInterrupt
        _pending.set()

    _pending.clear()
    signal.signal(signal.SIGINT, handler)
    try:
        yield
        safe_point()
    finally:
        signal.signal(signal.SIGINT, old)
        _pending.clear()
