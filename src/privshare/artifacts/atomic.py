"""Write a file whole or not at all: a temporary sibling, renamed over the target on success.

Every file of a run folder goes through :func:`atomic_file`, so a full disk,
a read-only folder or a kill leaves either the previous file or none, and
never a ``*.tmp`` beside it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from privshare.artifacts.models import ArtifactError


@contextmanager
def atomic_file(path: str | Path, *, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` if the block succeeds.

    ``suffix`` ends the temporary name (``.tmp.npz`` for numpy, which appends
    ``.npz`` otherwise). The temporary file is removed whatever the block raises.
    """
    path = Path(path)
    if path.is_dir():
        raise ArtifactError(f"{str(path)!r} is a folder; name a file to write, "
                            f"e.g. {str(path / 'samples.npz')!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    stem = path.stem if suffix.endswith(path.suffix) and path.suffix else path.name
    tmp = path.with_name(f"{stem}{suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json_atomic(path: str | Path, data: dict[str, Any]) -> None:
    """``data`` as indented, key-sorted JSON, written through :func:`atomic_file`."""
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
