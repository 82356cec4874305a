"""Tools for people who write swap backends: the SwapOps conformance kit."""

from .conformance import ConformanceFailure, run_swap_ops_conformance

__all__ = ["ConformanceFailure", "run_swap_ops_conformance"]
