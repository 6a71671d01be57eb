"""Device, precision and schedule helpers of the training loops."""

from __future__ import annotations

import contextlib
import math

import torch

DTYPES = {"fp32": torch.float32, "bf16": torch.float32, "fp64": torch.float64}


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present, else CPU; other names are checked."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ValueError(f"train.device={name!r} is not a device; use auto, cpu or cuda") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"train.device={name!r} but no CUDA GPU is visible; use auto or cpu")
    return device


def master_dtype(precision: str) -> torch.dtype:
    """Dtype of weights and optimiser state: bf16 keeps fp32 master weights."""
    return DTYPES[precision]


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast for ``precision == "bf16"``, else a no-op context."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


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
