"""Tools for people who write swap backends: the SwapOps conformance kit.

It runs on Hypothesis, which the main install does not bring:
``pip install 'swaplab[testing]'``.
"""

try:
    import hypothesis  # noqa: F401 - checked here so the error says what to install
except ImportError as e:  # pragma: no cover - depends on the install
    raise ImportError("swaplab.testing (the SwapOps conformance kit) needs Hypothesis: "
                      "pip install 'swaplab[testing]'") from e

from .conformance import ConformanceFailure, run_swap_ops_conformance

__all__ = ["ConformanceFailure", "run_swap_ops_conformance"]
