"""Run folders: layout, saved models, synthetic exports and :func:`load_run`.

Names below are imported on first use, so a module that needs only the
layout (``from privshare.artifacts.layout import RunLayout``: pathlib, no
torch, no scikit-learn) imports it instead of spelling paths out.
"""

from privshare.lazy import lazy_exports

_EXPORTS = {
    "save_grid": "images", "save_npz_atomic": "images", "to_uint8": "images",
    "METHODS": "layout", "RunLayout": "layout",
    "ArtifactError": "models", "read_model_file": "models", "save_model_file": "models",
    "save_owner_model": "models",
    "export_owner": "export", "sample_labelled": "export",
    "Run": "run", "load_run": "run",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
