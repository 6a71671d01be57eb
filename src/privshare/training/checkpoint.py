"""Self-describing checkpoints, written atomically.

A checkpoint is one dict: ``{"version", "kind", "config", "epoch", "state",
"history"}``; :func:`load_checkpoint` checks the keys, the version and the
kind before anything is restored.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

CHECKPOINT_VERSION = 1
KEYS = {"version", "kind", "config", "epoch", "state", "history"}


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, or from another kind of run."""


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` through a temporary file and a rename."""
    missing = KEYS - set(payload)
    assert not missing, f"checkpoint payload lacks {missing}"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:  # a full disk or a kill mid-write leaves the previous checkpoint, never a .tmp
        tmp.unlink(missing_ok=True)


def load_checkpoint(path: str | Path, *, kind: str) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` and check it."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {str(path)!r}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a damaged file
        raise CheckpointError(
            f"checkpoint {str(path)!r} cannot be read ({err}); delete it to start over"
        ) from err
    if not isinstance(payload, dict) or KEYS - set(payload):
        raise CheckpointError(f"checkpoint {str(path)!r} lacks keys {sorted(KEYS - set(payload))}")
    if payload["version"] != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"checkpoint {str(path)!r} has version {payload['version']}, "
            f"this privshare reads {CHECKPOINT_VERSION}"
        )
    if payload["kind"] != kind:
        raise CheckpointError(f"checkpoint {str(path)!r} is a {payload['kind']!r}, not {kind!r}")
    return payload
