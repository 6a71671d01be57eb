"""Run-folder writes through the package's one atomic-write rule (:mod:`privshare.atomic`),
with the run folder's own refusal of a target that is a folder."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from privshare.artifacts.models import ArtifactError
from privshare.atomic import atomic_path, write_json_atomic as _write_json


def _check_target(path: Path) -> None:
    if path.is_dir():
        raise ArtifactError(f"{str(path)!r} is a folder; name a file to write, "
                            f"e.g. {str(path / 'samples.npz')!r}")


@contextmanager
def atomic_file(path: str | Path, *, suffix: str = ".tmp") -> Iterator[Path]:
    """:func:`privshare.atomic.atomic_path`, refusing a ``path`` that is a folder."""
    _check_target(Path(path))
    with atomic_path(path, suffix=suffix) as tmp:
        yield tmp


def write_json_atomic(path: str | Path, data: dict[str, Any]) -> None:
    """``data`` as indented, key-sorted JSON, whole or not at all; ``path`` may not be a folder."""
    _check_target(Path(path))
    _write_json(path, data)
