"""Synthetic exports: labelled rows (.npz) and a PNG grid per owner and method.

:func:`export_owner` writes them from the model file a run saved, for the
one-process run (:func:`privshare.experiments.export_synthetic`) and for a
federated owner (:mod:`privshare.federated.owner`) alike, so the same weights
give the same bytes on either path. :func:`sample_labelled` is the sampling
both it and :meth:`privshare.artifacts.Run.generate` use.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from privshare.artifacts.images import save_grid, save_npz_atomic, to_uint8
from privshare.artifacts.layout import RunLayout
from privshare.artifacts.models import read_model_file, rebuild_generator
from privshare.config import RunConfig
from privshare.seeding import STAGE_EXPORT, derive_seed


def sample_labelled(
    net: nn.Module,
    *,
    classes: tuple[int, ...],
    image_shape: tuple[int, int],
    latent_dim: int,
    n_per_class: int | Sequence[int],
    seed: int,
    holds: Sequence[bool] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``n_per_class`` labelled samples per class from the per-class generator ``net``.

    ``n_per_class``: one count for every class, or one per class (in
    ``classes`` order). ``holds`` (per class, None = every class): classes
    marked False are left out (the owner's generator never learnt them).
    z ~ N(0, I) of shape (C, max count, latent) comes from a CPU generator
    seeded with ``seed``. Returns uint8 images (n, H, W) and their labels
    (n,), class by class.
    """
    rng = torch.Generator().manual_seed(int(seed))
    c = len(classes)
    counts = [int(n_per_class)] * c if isinstance(n_per_class, int) else list(n_per_class)
    if len(counts) != c:
        raise ValueError(f"n_per_class has {len(counts)} counts; this run has {c} classes")
    width = max(counts, default=0)
    z = torch.randn((c, width, latent_dim), generator=rng)
    with torch.no_grad():
        out = net(z).reshape(c, width, -1).numpy()  # (C, width, H * W)
    keep = [k for k in range(c) if holds is None or holds[k]]
    flat = np.concatenate([out[k, : counts[k]] for k in keep] or [out[0, :0]])
    labels = np.concatenate([np.full(counts[k], classes[k], np.int64) for k in keep]
                            or [np.zeros(0, np.int64)])
    return to_uint8(flat, image_shape), labels


def export_owner(
    layout: RunLayout,
    *,
    config: RunConfig,
    method: str,
    owner: int,
    methods: Sequence[str],
    seed: int | None = None,
    holds: Sequence[bool] | None = None,
) -> list[Path]:
    """Write owner ``owner``'s synthetic .npz and PNG grid of ``method``; return their paths.

    The generator is read back from ``layout.model(method, owner)``, which
    must have been saved. ``config.export`` sets the rows per class and the
    grid's width. The samples' seed is
    ``derive_seed(seed, STAGE_EXPORT, methods.index(method), owner)``:
    ``methods`` are the run's methods in order, ``seed`` its root seed (None
    = ``config.seed``). ``holds``: as in :func:`sample_labelled`.
    """
    if method not in methods:
        raise ValueError(f"method {method!r} is not among the run's methods {tuple(methods)}")
    payload = read_model_file(layout.model(method, owner))
    classes = tuple(payload["classes"])
    root = config.seed if seed is None else seed
    x, y = sample_labelled(
        rebuild_generator(payload, config.model), classes=classes,
        image_shape=tuple(payload["image_shape"]), latent_dim=config.model.latent_dim,
        n_per_class=config.export.samples_per_class, holds=holds,
        seed=derive_seed(root, STAGE_EXPORT, list(methods).index(method), owner),
    )
    npz, grid = layout.synthetic(method, owner), layout.grid(method, owner)
    save_npz_atomic(npz, x=x, y=y)
    save_grid(grid, x, y, classes=classes, columns=config.export.grid_columns)
    return [npz, grid]
