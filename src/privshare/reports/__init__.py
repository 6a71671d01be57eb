"""Figures and report pages built only from stored results (never torch, never a model).

``build_report`` is imported on first use so that ``import privshare.reports``
(done by the command line) stays light.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Report", "ResultsError", "build_report", "load_results"]


def __getattr__(name: str) -> Any:
    if name in ("Report", "build_report"):
        from privshare.reports import build

        return getattr(build, name)
    if name in ("ResultsError", "load_results"):
        from privshare.reports import results

        return getattr(results, name)
    raise AttributeError(f"module 'privshare.reports' has no attribute {name!r}")
