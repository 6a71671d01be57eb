"""Differentiable augmentation of what a local discriminator D_i sees.

The small-data lever of Zhao et al. (DiffAugment, NeurIPS 2020): the same
kind of random transform is applied to D_i's real AND fake inputs, in D_i's
step and in G_i's step, and it is differentiable, so G_i still learns through
it. D_i cannot memorise a few hundred real rows pixel by pixel when every
view of them is shifted or partly hidden.

What it never touches: the central discriminator D_central's inputs (D_central sees G_i's
plain fakes, as without augmentation) and anything exported or shared (the
synthetic rows are plain G_i outputs).

Rows are flattened square images in [-1, 1] (-1 is the background), shaped
(C, B, side * side). Operations, applied in the order given:

- ``translation``: shift each image by up to ``round(side / 8)`` pixels in
  each direction, filling with background;
- ``cutout``: set one square of side ``round(side / 2)``, centred at a random
  pixel and clipped to the image, to background;
- ``color``: add a brightness offset in [-0.5, 0.5) and scale the contrast
  around the image's mean by a factor in [0.5, 1.5) (the grey-level part of
  DiffAugment's colour transform).

Every draw comes from the ``rng`` passed in (the owner's own stream).
"""

from __future__ import annotations

import torch

from privshare.config.schema import AUGMENTATIONS
from privshare.models.conv import square_side
BACKGROUND = -1.0


def _uniform(n: int, rng: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    return torch.rand(n, generator=rng, device=like.device, dtype=torch.float32)


def _translation(x: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    n, side, _ = x.shape
    r = max(1, round(side / 8))
    shift = torch.randint(-r, r + 1, (2, n), generator=rng, device=x.device)
    padded = torch.nn.functional.pad(x, (r, r, r, r), value=BACKGROUND)  # (n, side+2r, side+2r)
    width = side + 2 * r
    grid = torch.arange(side, device=x.device)
    rows = grid[None, :] + r - shift[0][:, None]  # (n, side): source row of each output row
    cols = grid[None, :] + r - shift[1][:, None]
    index = (rows[:, :, None] * width + cols[:, None, :]).reshape(n, side * side)
    # gather (backward: one scatter-add) is several times faster on CPU than 3-way fancy indexing
    return padded.reshape(n, width * width).gather(1, index).reshape(n, side, side)


def _cutout(x: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    n, side, _ = x.shape
    half = max(1, round(side / 2)) / 2
    centre = torch.randint(0, side, (2, n), generator=rng, device=x.device).to(torch.float32)
    grid = torch.arange(side, device=x.device, dtype=torch.float32) + 0.5
    inside_r = (grid[None, :] - (centre[0][:, None] + 0.5)).abs() < half  # (n, side)
    inside_c = (grid[None, :] - (centre[1][:, None] + 0.5)).abs() < half
    mask = inside_r[:, :, None] & inside_c[:, None, :]
    return torch.where(mask, torch.full_like(x, BACKGROUND), x)


def _color(x: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    n = x.shape[0]
    brightness = (_uniform(n, rng, x) - 0.5).to(x.dtype)[:, None, None]
    contrast = (_uniform(n, rng, x) + 0.5).to(x.dtype)[:, None, None]
    x = x + brightness
    mean = x.mean(dim=(1, 2), keepdim=True)
    return (x - mean) * contrast + mean


_OPS = {"translation": _translation, "cutout": _cutout, "color": _color}
assert set(_OPS) == set(AUGMENTATIONS), "every configurable augmentation needs an operation"


def augment(x: torch.Tensor, ops: tuple[str, ...], *, rng: torch.Generator) -> torch.Tensor:
    """Apply ``ops`` to every row of ``x`` (C, B, side * side); no ops = ``x`` itself.

    Each row gets its own random draw; gradients flow to ``x``.
    """
    if not ops:
        return x
    c, b, dim = x.shape
    side = square_side(dim)
    images = x.reshape(c * b, side, side)
    for name in ops:
        images = _OPS[name](images, rng)
    return images.reshape(c, b, dim)
