"""swaplab: the Linux swap I/O stack as a Python library you can run, measure and break."""

from .clock import RealClock, VirtualClock
from .consts import PAGE_SHIFT, PAGE_SIZE, SWAP_CLUSTER_MAX
from .mm.folio import PG, Folio
from .mm.swap_iocb import SwapIocb, SwapIoCtx, SwapOps
from .mm.swapfile import SWP, SwapInfo
from .system import System

__version__ = "0.1.0"

__all__ = [
    "PAGE_SHIFT",
    "PAGE_SIZE",
    "PG",
    "SWAP_CLUSTER_MAX",
    "SWP",
    "Folio",
    "RealClock",
    "SwapInfo",
    "SwapIoCtx",
    "SwapIocb",
    "SwapOps",
    "System",
    "VirtualClock",
]
