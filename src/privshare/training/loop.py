"""The epoch loop shared by every trainer: history, progress, checkpoints, resume."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import torch

from privshare.config import RunConfig
from privshare.faults import kill_point
from privshare.training.checkpoint import CHECKPOINT_VERSION, load_checkpoint, save_checkpoint
from privshare.training.runtime import keep_freed_memory

log = logging.getLogger(__name__)



class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; nothing of the failed method is saved or exported."""


# progress(label, steps_done, steps_total, last_epoch_record)
ProgressFn = Callable[[str, int, int, dict[str, float] | None], None]


class Trainer(Protocol):
    kind: str
    config: RunConfig
    epoch: int
    history: list[dict[str, float]]

    def steps_per_epoch(self) -> int: ...
    def prepare(self) -> None: ...
    def train_step(self) -> dict[str, torch.Tensor]: ...
    def state_dict(self) -> dict: ...
    def load_state_dict(self, state: dict) -> None: ...


def _payload(trainer: Trainer, config: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": CHECKPOINT_VERSION,
        "kind": trainer.kind,
        "config": config,
        "epoch": trainer.epoch,
        "state": trainer.state_dict(),
        "history": list(trainer.history),
    }


def resume(trainer: Trainer, path: str | Path) -> bool:
    """Restore ``trainer`` from ``path`` if it exists; return whether it did."""
    if not Path(path).is_file():
        return False
    payload = load_checkpoint(path, kind=trainer.kind)
    trainer.load_state_dict(payload["state"])
    trainer.epoch = int(payload["epoch"])
    trainer.history = list(payload["history"])
    log.info("resumed %s from %s at epoch %d", trainer.kind, path, trainer.epoch)
    return True


def fit(
    trainer: Trainer,
    *,
    epochs: int,
    checkpoint_path: str | Path | None = None,
    checkpoint_every: int = 0,
    config: dict[str, Any] | None = None,
    progress: ProgressFn | None = None,
    label: str = "",
) -> list[dict[str, float]]:
    """Train until ``trainer.epoch == epochs``, resuming from ``checkpoint_path``.

    Losses are summed on the device and read once per epoch, so the step
    itself never waits on a host copy. A checkpoint is written every
    ``checkpoint_every`` epochs and at the end (when a path is given).

    Returns
    -------
    list of dict
        Per-epoch mean of every loss the trainer reports (e.g. ``d_0``, ``central``).
    """
    if trainer.config.train.tune_allocator:
        keep_freed_memory()
    if checkpoint_path is not None:
        resume(trainer, checkpoint_path)
    steps = trainer.steps_per_epoch()
    label = label or trainer.kind
    total = epochs * steps
    if progress:
        progress(label, trainer.epoch * steps, total, trainer.history[-1] if trainer.history else None)
    trainer.prepare()
    while trainer.epoch < epochs:
        sums: dict[str, torch.Tensor] = {}
        for _ in range(steps):
            for key, value in trainer.train_step().items():
                sums[key] = sums[key] + value if key in sums else value.clone()
        record = {k: float(v) / steps for k, v in sums.items()}
        bad = sorted(k for k, v in record.items() if not math.isfinite(v))
        if bad:
            raise TrainingDiverged(
                f"{label}: loss {', '.join(f'{k}={record[k]}' for k in bad)} at epoch "
                f"{trainer.epoch + 1}; the training diverged and nothing was exported. Lower "
                "optim.lr, check model.* and optim.* values, or use train.precision=fp32")
        record["epoch"] = trainer.epoch
        trainer.history.append(record)
        trainer.epoch += 1
        if progress:
            progress(label, trainer.epoch * steps, total, record)
        due = checkpoint_every and trainer.epoch % checkpoint_every == 0
        if checkpoint_path is not None and (due or trainer.epoch == epochs):
            save_checkpoint(checkpoint_path, _payload(trainer, config or {}))
            kill_point("train:checkpoint-saved")
    return trainer.history
