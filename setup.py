"""Build swaplab's compiled core (swaplab._native) with setuptools.

Everything else is in pyproject.toml.  The C sources sit under
src/swaplab/_native/ in the kernel's layout (lib/lz4, lib/lzo, include/linux).
They are compiled with -O2 -Wall -Wextra -Werror; SWAPLAB_SANITIZE=1 builds
them instead with AddressSanitizer and UndefinedBehaviorSanitizer (run
Python with libasan preloaded: see .ci/sanitize).
"""

from __future__ import annotations

import os
from pathlib import Path

from setuptools import Extension, setup

NATIVE = Path("src/swaplab/_native")
SOURCES = sorted(str(p) for p in NATIVE.rglob("*.c"))
CFLAGS = ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror", "-fvisibility=hidden"]
LDFLAGS: list[str] = []

if os.environ.get("SWAPLAB_SANITIZE"):
    san = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
           "-fno-omit-frame-pointer", "-g"]
    CFLAGS = [f for f in CFLAGS if f != "-O2"] + ["-O1", *san]
    LDFLAGS += san

setup(
    ext_modules=[
        Extension(
            "swaplab._native",
            sources=SOURCES,
            include_dirs=[str(NATIVE / "include")],
            extra_compile_args=CFLAGS,
            extra_link_args=LDFLAGS,
        )
    ],
)
