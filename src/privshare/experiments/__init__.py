"""Configured experiments: one run, sweeps over owner fractions and axes, their result store.

The names below are imported on first use, so that torch-free layers (the
reports read :mod:`privshare.experiments.store`) can import a module of this
package without loading torch.
"""

from __future__ import annotations

from privshare.lazy import lazy_exports

__all__ = ["RunExistsError", "export_synthetic", "prepare_data", "run_experiment"]
__getattr__ = lazy_exports(__name__, dict.fromkeys(__all__, "run"))
