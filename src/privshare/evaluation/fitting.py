"""The converged utility protocol: train a classifier until validation accuracy stops improving.

The validation rows are drawn from the source's own rows (stratified by
class), never from the test split, so choosing the stopping point never looks
at the rows the reported accuracy is measured on. Every ``check_every``
optimizer steps (default: one pass over the training rows) the accuracy on
the validation rows is measured; training stops after ``patience`` checks
without a strict improvement, or at ``max_steps``, and the weights of the
best check are restored. Adam with PyTorch's default betas; the learning
rate and network are settings (:class:`~privshare.evaluation.config.EvalConfig`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from privshare.evaluation.classifier import NETWORKS, _as_input, predict
from privshare.hardware import autocast

MIN_CHECK_STEPS = 20  # fewest optimizer steps between two validation checks (check_every = 0)


@dataclass(frozen=True)
class FitReport:
    """How one converged fit ended."""

    train_rows: int
    val_rows: int
    steps: int  # optimizer steps taken
    best_step: int  # step whose weights were restored (0 = the initial weights)
    best_val_accuracy: float
    capped: bool  # max_steps stopped it before `patience` checks passed without improvement


class SourceError(ValueError):
    """A source cannot be fitted under the converged protocol; the message says why."""


def validation_split(y: np.ndarray, *, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, validation indices) of labels ``y`` (n,), stratified by class.

    Each class with ``n_c >= 2`` rows gives ``round(fraction * n_c)`` of them,
    at least 1 and at most ``n_c - 1``, to validation; a class with one row
    stays in training. Both index arrays are sorted.
    """
    rng = np.random.default_rng(seed)
    val = []
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        if len(rows) < 2:
            continue
        k = int(min(max(round(fraction * len(rows)), 1), len(rows) - 1))
        val.append(rng.choice(rows, size=k, replace=False))
    val = np.sort(np.concatenate(val)) if val else np.zeros(0, np.int64)
    return np.setdiff1d(np.arange(len(y)), val), val


def check_source(y: np.ndarray, *, name: str, val_fraction: float) -> None:
    """Raise :class:`SourceError` if labels ``y`` cannot be split and fitted."""
    labels, counts = np.unique(y, return_counts=True)
    if len(labels) < 2:
        raise SourceError(f"source {name} holds rows of {len(labels)} class(es) "
                          f"({labels.tolist()}); a classifier needs at least 2")
    if not (counts >= 2).any():
        raise SourceError(f"source {name} has {len(y)} rows, one per class: no class can give "
                          f"a validation row at val_fraction={val_fraction}; give it more rows")


def fit_converged(
    x: np.ndarray,
    y: np.ndarray,
    *,
    classes: int,
    network: str = "small",
    lr: float = 2e-3,
    batch_size: int = 256,
    val_fraction: float = 0.1,
    patience: int = 5,
    check_every: int = 0,
    max_steps: int = 2000,
    seed: int,
    device: torch.device | str = "cpu",
    precision: str = "fp32",
    name: str = "source",
    init: dict[str, torch.Tensor] | None = None,
) -> tuple[nn.Module, FitReport]:
    """Fit a CNN on uint8 images ``x`` (n, H, W), class positions ``y`` (n,) to convergence.

    Returns the model with its best validation weights (in eval mode) and a
    :class:`FitReport`. ``precision``: fp32, or bf16 / auto autocast of the
    training forward passes (weights and Adam stay fp32); the validation
    checks always predict in fp32, so the stopping point is chosen on exact
    scores. ``init``: a state dict of the same network to start from instead
    of fresh weights (fine-tuning a classifier fitted on other rows); the
    optimizer starts afresh, and the starting weights are validated first, so
    they are kept (``best_step`` 0) if no step improves on them. Same inputs,
    seed and ``init`` give the same weights.
    """
    check_source(y, name=name, val_fraction=val_fraction)
    device = torch.device(device)
    seeds = np.random.SeedSequence(seed).generate_state(3)
    train, val = validation_split(y, fraction=val_fraction, seed=int(seeds[0]))
    rng = np.random.default_rng(int(seeds[1]))
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seeds[2]))
        model = NETWORKS[network](image_shape=tuple(x.shape[1:]), classes=classes).to(device)
        if init is not None:
            model.load_state_dict(init)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        inputs = _as_input(x[train], device)
        targets = torch.from_numpy(y[train].astype(np.int64)).to(device)
        x_val, y_val = x[val], y[val]
        per_epoch = -(-len(train) // batch_size)
        every = check_every or max(per_epoch, MIN_CHECK_STEPS)
        best_acc, best_step, best_state, bad, step = -1.0, 0, None, 0, 0
        if init is not None:  # the starting weights compete too: fine-tuning may only help
            best_acc, best_state = float((predict(model, x_val) == y_val).mean()), copy.deepcopy(init)
        model.train()
        while step < max_steps and bad < patience:
            if step % per_epoch == 0:
                order = torch.from_numpy(rng.permutation(len(train))).to(device)
            start = (step % per_epoch) * batch_size
            batch = order[start : start + batch_size]
            with autocast(device, precision):
                logits = model(inputs[batch])
            loss = nn.functional.cross_entropy(logits.float(), targets[batch])
            if not torch.isfinite(loss):
                raise FloatingPointError(f"classifier loss on source {name} is {loss.item()} at "
                                         f"step {step}; lower lr (now {lr})")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if step % every == 0 or step == max_steps:
                acc = float((predict(model, x_val) == y_val).mean())
                model.train()
                if acc > best_acc:
                    best_acc, best_step, bad = acc, step, 0
                    best_state = copy.deepcopy(model.state_dict())
                else:
                    bad += 1
    model.load_state_dict(best_state)
    report = FitReport(train_rows=len(train), val_rows=len(val), steps=step, best_step=best_step,
                       best_val_accuracy=best_acc, capped=bad < patience)
    return model.eval(), report
