"""Run folders: layout, saved models, synthetic exports and :func:`load_run`."""

from privshare.artifacts.images import save_grid, save_npz_atomic, to_uint8
from privshare.artifacts.layout import METHODS, RunLayout
from privshare.artifacts.models import ArtifactError, read_model_file, save_model_file
from privshare.artifacts.run import Run, load_run

__all__ = [
    "METHODS",
    "ArtifactError",
    "Run",
    "RunLayout",
    "load_run",
    "read_model_file",
    "save_grid",
    "save_model_file",
    "save_npz_atomic",
    "to_uint8",
]
