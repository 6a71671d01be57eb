"""Configured experiments: one run, sweeps over owner fractions and axes, their result store.

The names below are imported on first use, so that torch-free layers (the
reports read :mod:`privshare.experiments.store`) can import a module of this
package without loading torch.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RunExistsError", "export_synthetic", "prepare_data", "run_experiment"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from privshare.experiments import run

        return getattr(run, name)
    raise AttributeError(f"module 'privshare.experiments' has no attribute {name!r}")
