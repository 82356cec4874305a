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


