"""Tiny fixtures for training tests: random 'images' and a small config."""

from __future__ import annotations

import numpy as np
import torch

from privshare.config import load_config
from privshare.training import RealRows


def tiny_config(*overrides: str):
    return load_config(preset="tiny", overrides=list(overrides))


def tiny_rows(
    *, owners: int = 2, classes: int = 3, sizes=(5, 9), seed: int = 0, dtype=torch.float32
) -> list[RealRows]:
    """``owners`` owners, ``classes`` classes of 8x8 uint8 images; owner j has sizes[j] rows."""
    rng = np.random.default_rng(seed)
    out = []
    for j in range(owners):
        n = sizes[j % len(sizes)]
        per_class = [rng.integers(0, 256, (n + c, 8, 8), dtype=np.uint8) for c in range(classes)]
        out.append(RealRows.from_arrays(per_class, device=torch.device("cpu"), dtype=dtype))
    return out


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def changed(module: torch.nn.Module, before: dict[str, torch.Tensor]) -> bool:
    """True if every parameter tensor of ``module`` differs from ``before``."""
    now = module.state_dict()
    return all(not torch.equal(now[k], before[k]) for k in before)


def unchanged(module: torch.nn.Module, before: dict[str, torch.Tensor]) -> bool:
    now = module.state_dict()
    return all(torch.equal(now[k], before[k]) for k in before)
