"""Self-describing checkpoints, written atomically.

A checkpoint is one dict: ``{"version", "kind", "config", "epoch", "state",
"history"}``; :func:`load_checkpoint` checks the keys, the version and the
kind before anything is restored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from privshare.atomic import atomic_path

CHECKPOINT_VERSION = 1
KEYS = {"version", "kind", "config", "epoch", "state", "history"}


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, or from another kind of run."""


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` through a temporary file and a rename."""
    missing = KEYS - set(payload)
    assert not missing, f"checkpoint payload lacks {missing}"
    with atomic_path(path) as tmp:  # a full disk or a kill leaves the previous checkpoint
        torch.save(payload, tmp)


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
