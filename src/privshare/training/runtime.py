"""Device, precision and schedule helpers of the training loops."""

from __future__ import annotations

import logging
import math

import torch
from torch import nn

from privshare.config import ConfigError
from privshare.hardware import (  # noqa: F401  (re-exported: the trainers' one rule)
    CPU_BF16_FLAGS,
    autocast,
    cpu_flags,
    keep_freed_memory,
    native_bf16,
    resolve_precision,
)

log = logging.getLogger(__name__)


DTYPES = {"fp32": torch.float32, "bf16": torch.float32, "auto": torch.float32, "fp64": torch.float64}


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present, else CPU; other names are checked."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ConfigError(f"train.device={name!r} is not a device; use auto, cpu or cuda") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"train.device={name!r} but no CUDA GPU is visible; use auto or cpu")
    return device


def master_dtype(precision: str) -> torch.dtype:
    """Dtype of weights and optimiser state: bf16 keeps fp32 master weights."""
    return DTYPES[precision]


def steps_per_epoch(rule: str, *, counts: list[int], batch: int) -> int:
    """Batches per epoch for subsets of unequal size.

    Every step draws ``batch`` real rows per owner and class WITH replacement,
    so a subset smaller than the batch still trains (a 60-image subset with
    batch 256 sees each image about four times per step).

    - ``largest``: ceil(largest subset / batch): the largest owner sees about
      one pass over its data per epoch, every owner takes that many steps.
    - ``smallest``: ceil(smallest subset / batch).
    - an integer: that many steps, whatever the sizes.

    ``counts`` are the rows of every (owner, class) subset the loop trains on.
    """
    if rule.isdigit():
        return int(rule)
    size = max(counts) if rule == "largest" else min(counts)
    if rule not in ("largest", "smallest"):
        raise ValueError(f"steps_per_epoch rule {rule!r}: use largest, smallest or an integer")
    return max(1, math.ceil(size / batch))


def compile_network(module: nn.Module, *, batch: int, precision: str, label: str = "") -> bool:
    """Compile an ensemble's forward with ``torch.compile``; keep it eager if that fails.

    The compiled forward replaces ``module.forward`` on the instance only, so
    parameters, ``state_dict`` keys and checkpoints are unchanged. A probe (one
    forward and backward on zeros of shape (models, batch, in), gradients
    discarded, weights untouched) builds both graphs now, so a compiler
    failure (no C++ toolchain, an unsupported op) surfaces here, is logged,
    and the module trains eagerly instead of failing mid-run.

    Returns
    -------
    bool
        Whether the compiled forward is in use.
    """
    weight = next(module.parameters())
    example = torch.zeros((module.models, batch, module.sizes[0]),
                          device=weight.device, dtype=weight.dtype)
    module.forward = torch.compile(module.forward)
    try:
        with autocast(example.device, precision):
            out = module(example)
        out.float().sum().backward()
    except Exception as err:  # noqa: BLE001 - any compiler failure means: run eagerly
        del module.forward  # back to the class's eager forward
        log.warning("torch.compile failed for %s (%s: %s); it trains eagerly",
                    label or type(module).__name__, type(err).__name__, str(err)[:300])
        return False
    finally:
        for param in module.parameters():
            param.grad = None
    return True
