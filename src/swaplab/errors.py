"""Kernel-style errors.

User-facing calls raise :class:`OSError` carrying the errno the kernel would
return (``OSError(errno.EINVAL, ...)`` becomes the matching subclass, e.g.
``FileNotFoundError`` for ENOENT). Internal kernel-shaped functions return
``0`` or ``-errno``; the layer above them raises :func:`kerror` with it.
"""

from __future__ import annotations

import errno
import os


def kerror(err: int, msg: str) -> OSError:
    """Return an ``OSError`` for positive errno ``err`` with ``msg``.

    The message names the errno symbolically so logs read like the kernel's.
    """
    name = errno.errorcode.get(err, str(err))
    return OSError(err, f"{msg} [{name}: {os.strerror(err)}]")




def reason(e: OSError) -> str:
    """The message of ``e`` without the ``[ENAME: text]`` suffix :func:`kerror`
    adds: for wrapping one error's reason into another's message."""
    msg = e.strerror or str(e)
    name = errno.errorcode.get(e.errno or 0)
    suffix = f" [{name}: {os.strerror(e.errno)}]" if name else None
    while suffix and msg.endswith(suffix):
        msg = msg[: -len(suffix)]
    return msg
