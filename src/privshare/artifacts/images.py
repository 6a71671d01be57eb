"""Between model space ([-1, 1], flat) and image space (uint8, H x W); PNG grids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from privshare.artifacts.atomic import atomic_file


def to_uint8(x: np.ndarray, image_shape: tuple[int, int]) -> np.ndarray:
    """Flat model outputs in [-1, 1], (n, H*W) -> uint8 images (n, H, W)."""
    img = x.astype(np.float64)  # in place from here: ten times faster than fresh temporaries
    img += 1.0
    img *= 127.5
    np.rint(img, out=img)
    np.clip(img, 0, 255, out=img)
    return img.astype(np.uint8).reshape(len(x), *image_shape)


def save_npz_atomic(path: str | Path, **arrays: np.ndarray) -> None:
    """``np.savez_compressed`` through a temporary file and a rename."""
    with atomic_file(path, suffix=".tmp.npz") as tmp:
        np.savez_compressed(tmp, **arrays)


def save_grid(
    path: str | Path, x: np.ndarray, y: np.ndarray, *, classes: tuple[int, ...], columns: int
) -> None:
    """PNG with one row per class (in ``classes`` order) of up to ``columns`` images.

    ``x``: uint8 (n, H, W), ``y``: labels (n,). Images are upscaled so that a
    28x28 digit is at least 56 pixels wide, with a 2-pixel grey gutter.
    """
    h, w = x.shape[1:]
    scale = max(1, 56 // max(h, w))
    pad = 2
    canvas = np.full(
        (len(classes) * (h * scale + pad) + pad, columns * (w * scale + pad) + pad),
        128,
        dtype=np.uint8,
    )
    for r, c in enumerate(classes):
        rows = x[y == c][:columns]
        for k, img in enumerate(rows):
            big = np.kron(img, np.ones((scale, scale), dtype=np.uint8))
            top, left = pad + r * (h * scale + pad), pad + k * (w * scale + pad)
            canvas[top : top + h * scale, left : left + w * scale] = big
    with atomic_file(path, suffix=".tmp.png") as tmp:
        Image.fromarray(canvas, mode="L").save(tmp)
