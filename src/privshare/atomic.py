"""Write a file whole or not at all: a temporary sibling, renamed over the target on success.

The one rule for every file the package writes (run folders, checkpoints,
datasets, report pages): a full disk, a read-only folder or a kill leaves
either the previous file or none, and never a ``*.tmp`` beside it. The
temporary name is unique per writer, so two processes writing the same file
never share a temporary file; the last rename wins. No torch, no numpy: every
layer may import it.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(path: str | Path, *, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a fresh temporary path beside ``path``; rename it to ``path`` if the block succeeds.

    The block writes the temporary file by name (``torch.save``, ``np.savez``,
    ``open``). ``suffix`` ends the temporary name (``.tmp.npz`` for
    ``np.savez``, which appends ``.npz`` to any other name). The folder is made
    if missing; the temporary file is removed whatever the block raises.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # unique per writer, and created by the block itself so it gets the usual permissions
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}{suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str) -> None:
    """``text`` (UTF-8) to ``path`` through :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: str | Path, data: dict[str, Any]) -> None:
    """``data`` as indented, key-sorted JSON, written through :func:`atomic_path`."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True))
