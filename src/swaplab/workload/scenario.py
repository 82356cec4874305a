"""Scenario files (TOML): the machine, its swap, cgroups, processes and the run.

    [system]
    memory = "256M"            # physical memory
    page_cluster = 3           # vm.page-cluster, 0..31
    vma_ra_enabled = true
    seed = 1
    swapin = "swap-table"      # zram swap-in through the swap cache, or "sync-bypass"

    [[swap]]                   # one table per swap area, swapon in this order
    type = "zram"              # zram | ramdisk | filedisk | swapfile
    size = "2G"
    priority = 10              # optional (SWAP_FLAG_PREFER)
    algorithm = "lz4"          # zram only
    path = "swapfile.img"      # filedisk / swapfile, relative to the scenario
    swap_ops = "activate"      # zram: activate | register | bio-per-page (one bio a page)
    mem_limit = "0"            # zram
    backing_dev = "512M"       # zram: a file-backed disk of this size for writeback
    virtual = false            # ramdisk / filedisk: the physical area behind virtual
                               # swap entries (a ghost area in front, mm/vswap.py)
    compressed_writeback = false  # virtual: zswap writes its blobs here as they are
    layout = "A"               # compressed writeback: A (a slot each) | C (packed)

    [zswap]                    # compression in the swap core (in front of every area)
    enabled = false
    compressor = "lz4"
    max_pool_percent = 20
    accept_threshold_percent = 90
    shrinker_enabled = true

    [[cgroup]]
    name = "app"
    memory_max = "128M"        # sizes: bytes, "128M", or "max"
    swap_max = "max"
    zswap_max = "max"
    zswap_writeback = true

    [[process]]
    name = "db"
    size = "512M"
    cgroup = "app"             # default: the root
    vmas = [4096, 126976]      # optional: VMA sizes in pages (sum = size)
    pattern = "zipf"           # sequential | uniform | zipf
    zipf_s = 1.0
    write_ratio = 0.3
    corpus = "files"           # files | elf | text | stdlib | pagefile:PATH
    zero = 0.05                # extra share of zero pages
    same = 0.01                # extra share of same-filled pages

    [run]
    accesses = 1000000         # after the populate pass
    populate = true            # every process first writes each of its pages once
    schedule = "interleaved"   # interleaved | phased
    phase = 10000              # accesses per turn when phased
    trace = "trace.csv"        # optional: replay time,pid,address,rw instead
    tick_us = 1.0              # virtual time per access
    verify_at_end = true       # fault every page back in and check it

:func:`load_scenario` validates everything on load; an error names the file,
the key (``process[1].pattern``) and the bad value.
"""

from __future__ import annotations

import errno
import os
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ..consts import PAGE_SIZE
from ..errors import kerror
from ..lib.compress import available
from ..util import memparse


def _size(v: object) -> int:
    if isinstance(v, bool):
        raise ValueError("a size, not a boolean")
    if isinstance(v, int):
        if v < 0:
            raise ValueError("a size cannot be negative")
        return v
    if isinstance(v, str):
        try:
            return memparse(v)
        except OSError:
            raise ValueError("not a size (bytes, or a number with K/M/G/T)") from None
    raise ValueError("a size is a number of bytes or a string like '256M'")


def _limit(v: object) -> int | None:
    return None if v == "max" else _size(v)


Size = Annotated[int, BeforeValidator(_size)]
Limit = Annotated[int | None, BeforeValidator(_limit)]


def _known_algorithm(name: str) -> str:
    have = available()
    if name not in have:
        raise ValueError(f"{name!r} is not an algorithm swaplab has ({', '.join(have)})")
    return name


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)


class SystemSpec(_Strict):
    memory: Size = Field(default=256 << 20, ge=4 << 20)

    @field_validator("memory")
    @classmethod
    def _whole_pages(cls, v: int) -> int:
        if v % PAGE_SIZE:
            raise ValueError(f"{v} bytes is not a whole number of {PAGE_SIZE}-byte pages")
        return v

    page_cluster: int = Field(default=3, ge=0, le=31)
    vma_ra_enabled: bool = True
    seed: int = 0
    swapin: Literal["swap-table", "sync-bypass"] = "swap-table"


class SwapSpec(_Strict):
    type: Literal["zram", "ramdisk", "filedisk", "swapfile"]
    size: Size = Field(ge=64 * PAGE_SIZE)
    priority: int | None = Field(default=None, ge=0, le=32767)
    #: zram's comp_algorithm (lz4 when not given); other types compress nothing
    algorithm: str | None = None
    path: str | None = None
    swap_ops: Literal["activate", "register", "bio-per-page"] = "activate"
    mem_limit: Size = 0
    backing_dev: Size | None = None
    virtual: bool = False
    compressed_writeback: bool = False
    layout: Literal["A", "C"] = "A"

    @model_validator(mode="after")
    def _check(self) -> SwapSpec:
        if self.virtual and self.type not in ("ramdisk", "filedisk"):
            raise ValueError(f"virtual needs a block device (ramdisk or filedisk) as the "
                             f"physical area, not a {self.type}")
        if not self.virtual and (self.compressed_writeback or self.layout != "A"):
            raise ValueError("compressed_writeback and layout are settings of a virtual "
                             "area (virtual = true)")
        if self.type != "zram" and (self.backing_dev is not None or self.mem_limit):
            raise ValueError(f"backing_dev and mem_limit are zram settings, not {self.type}")
        if self.type != "zram" and self.algorithm is not None:
            raise ValueError(f"algorithm is a zram setting; a {self.type} does not compress "
                             "(zswap's compressor is [zswap] compressor)")
        _known_algorithm(self.algorithm or "lz4")
        return self


class ZswapSpec(_Strict):
    enabled: bool = False
    compressor: str = "lz4"

    @field_validator("compressor")
    @classmethod
    def _known(cls, v: str) -> str:
        return _known_algorithm(v)

    max_pool_percent: int = Field(default=20, ge=0, le=100)
    accept_threshold_percent: int = Field(default=90, ge=0, le=100)
    shrinker_enabled: bool = True


class CgroupSpec(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    memory_max: Limit = None
    swap_max: Limit = None
    zswap_max: Limit = None
    zswap_writeback: bool = True


class ProcessSpec(_Strict):
    name: str
    size: Size = Field(ge=PAGE_SIZE)
    cgroup: str | None = None
    vmas: list[int] | None = None
    pattern: Literal["sequential", "uniform", "zipf"] = "uniform"
    zipf_s: float = Field(default=1.0, gt=0)
    write_ratio: float = Field(default=0.3, ge=0, le=1)
    corpus: str = "files"
    zero: float = Field(default=0.0, ge=0, le=1)
    same: float = Field(default=0.0, ge=0, le=1)

    @property
    def nr_pages(self) -> int:
        """Pages the process maps: its size rounded up to pages, as mmap does."""
        return -(-self.size // PAGE_SIZE)

    @model_validator(mode="after")
    def _check(self) -> ProcessSpec:
        if self.vmas is not None and (sum(self.vmas) != self.nr_pages
                                      or min(self.vmas, default=0) <= 0):
            raise ValueError(f"vmas {self.vmas} must be positive page counts adding up to "
                             f"{self.nr_pages}")
        if self.zero + self.same > 1:
            raise ValueError(f"zero {self.zero} + same {self.same} exceeds 1")
        return self


class RunSpec(_Strict):
    accesses: int = Field(default=100000, ge=0)
    populate: bool = True
    schedule: Literal["interleaved", "phased"] = "interleaved"
    phase: int = Field(default=10000, ge=1)
    trace: str | None = None
    tick_us: float = Field(default=1.0, gt=0)
    verify_at_end: bool = True


class Scenario(_Strict):
    system: SystemSpec = SystemSpec()
    swap: list[SwapSpec] = Field(default_factory=list)
    zswap: ZswapSpec = ZswapSpec()
    cgroup: list[CgroupSpec] = Field(default_factory=list)
    process: list[ProcessSpec] = Field(min_length=1)
    run: RunSpec = RunSpec()
    #: the folder relative paths are resolved against (not a TOML key)
    base: str = Field(default=".", exclude=True)

    @model_validator(mode="after")
    def _refs(self) -> Scenario:
        names = [c.name for c in self.cgroup]
        for i, p in enumerate(self.process):
            if p.cgroup is not None and p.cgroup not in names:
                raise ValueError(f"process[{i}].cgroup {p.cgroup!r} is not a [[cgroup]] "
                                 f"(have {names})")
        if len(set(names)) != len(names):
            raise ValueError(f"cgroup names repeat: {names}")
        pn = [p.name for p in self.process]
        if len(set(pn)) != len(pn):
            raise ValueError(f"process names repeat: {pn}")
        virtual = [i for i, sp in enumerate(self.swap) if sp.virtual]
        if len(virtual) > 1:
            raise ValueError(f"swap{virtual} are all virtual: one virtual swap layer "
                             "has one physical area")
        return self

    def resolve(self, path: str) -> str:
        return path if os.path.isabs(path) else os.path.join(self.base, path)


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("function-after", "function-before") or "[" in str(part):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def parse_scenario(data: dict, name: str = "<scenario>", base: str = ".") -> Scenario:
    """Validate a scenario given as a dict (what TOML decodes to)."""
    try:
        sc = Scenario.model_validate({**data, "base": base})
    except ValidationError as e:
        first = e.errors()[0]
        where = _loc(first["loc"])
        value = first.get("input")
        shown = "" if isinstance(value, dict) else f" = {value!r}"
        msg = first["msg"].removeprefix("Value error, ")
        raise kerror(errno.EINVAL, f"{name}: {where}{shown}: {msg}") from None
    if "base" in data:
        raise kerror(errno.EINVAL, f"{name}: base: unknown key")
    return sc


def load_scenario(path: str | os.PathLike[str]) -> Scenario:
    """Read and validate a TOML scenario file."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise kerror(e.errno or errno.EIO, f"{name}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise kerror(errno.EINVAL, f"{name}: not valid TOML: {e}") from None
    except UnicodeDecodeError:
        raise kerror(errno.EINVAL, f"{name}: not a TOML text file (not UTF-8)") from None
    return parse_scenario(data, name, str(Path(name).resolve().parent))
