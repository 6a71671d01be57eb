"""Run folders: layout, saved models, synthetic exports and :func:`load_run`.

Names below are imported on first use, so a module that needs only the
layout (``from privshare.artifacts.layout import RunLayout``: pathlib, no
torch, no scikit-learn) imports it instead of spelling paths out.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "save_grid": "images", "save_npz_atomic": "images", "to_uint8": "images",
    "METHODS": "layout", "RunLayout": "layout",
    "ArtifactError": "models", "read_model_file": "models", "save_model_file": "models",
    "export_owner": "export", "sample_labelled": "export",
    "Run": "run", "load_run": "run",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value
