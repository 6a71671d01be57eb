"""Figures and report pages built only from stored results (never torch, never a model).

``build_report`` is imported on first use so that ``import privshare.reports``
(done by the command line) stays light.
"""

from __future__ import annotations

from privshare.lazy import lazy_exports

_EXPORTS = {"Report": "build", "build_report": "build",
            "ResultsError": "results", "load_results": "results"}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
