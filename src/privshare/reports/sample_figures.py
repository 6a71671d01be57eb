"""Fig. 4: synthetic images of a local GAN and privGAN across the fractions.

Drawn from the few samples per class that the sweep keeps in the store
(``samples_<method>_owner<j>.npz``), so no generator is loaded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from privshare.reports.results import Results
from privshare.reports.style import FigureFile, new_figure, save_figure

MAX_ROWS = 6
MAX_PARTNERS = 3
PER_CLASS = 2  # images per class in each panel


def mosaic(x: np.ndarray, y: np.ndarray, *, per_class: int = PER_CLASS) -> np.ndarray:
    """uint8 images (n, H, W) -> one (per_class*(H+1), C*(W+1)) canvas, a column per class."""
    classes = np.unique(y)
    h, w = x.shape[1:]
    canvas = np.full((per_class * (h + 1), len(classes) * (w + 1)), 128, dtype=np.uint8)
    for col, c in enumerate(classes):
        for row, img in enumerate(x[y == c][:per_class]):
            canvas[row * (h + 1): row * (h + 1) + h, col * (w + 1): col * (w + 1) + w] = img
    return canvas


Column = tuple[str, float | None, int | None, str]  # method, partner, owners, title


def _samples(res: Results, f: float, *, column: Column) -> np.ndarray | None:
    """Canvas of an owner at fraction ``f`` in a cell that fits ``column`` (a two-owner
    cell with that partner, or a cell of that many owners; any for the local GAN), or None."""
    method, partner, owners, _ = column
    for cell in res.cells:
        if owners is not None and cell.owners != owners:
            continue
        for owner in range(cell.owners):
            if cell.fraction(owner) != f or (partner is not None and cell.partner(owner) != partner):
                continue
            data = res.npz(cell.id, f"samples_{method}_owner{owner}.npz")
            if data is not None:
                return mosaic(data["x"], data["y"])
    return None


def _spread(values: list[float], k: int) -> list[float]:
    if len(values) <= k:
        return values
    return [values[i] for i in np.unique(np.round(np.linspace(0, len(values) - 1, k)).astype(int))]


def sample_grid(res: Results, out_dir: Path) -> FigureFile | None:
    """Rows: the owner's fraction; columns: its local GAN, then privGAN with partners
    (two-owner cells), then privGAN in cells of more owners (one column per count)."""
    fractions = _spread(res.fractions, MAX_ROWS)
    privgan = [c for c in res.cells if c.method in ("privgan", "run")]
    partners = _spread(sorted({c.f1 for c in privgan if c.owners == 2}), MAX_PARTNERS)
    columns: list[Column] = [("gan", None, None, "local GAN\n(own rows only)")] + [
        ("privgan", g, 2, f"privGAN G1\nother owner at {100 * g:g}%") for g in partners] + [
        ("privgan", None, n, f"privGAN G_j\n{n} owners") for n in
        sorted({c.owners for c in privgan if c.owners > 2})]
    panels = {(f, i): _samples(res, f, column=col) for f in fractions
              for i, col in enumerate(columns)}
    if all(v is None for v in panels.values()):
        return None
    first = next(v for v in panels.values() if v is not None)
    aspect = first.shape[1] / first.shape[0]  # every panel has the same shape
    height = 0.9 if aspect < 3 else 0.6
    fig, axes = new_figure(nrows=len(fractions), ncols=len(columns), width=max(1.8, height * aspect + 0.3),
                           height=height + 0.2)
    for r, f in enumerate(fractions):
        for i, (_, _, _, title) in enumerate(columns):
            ax = axes[r][i]
            ax.set_xticks([])
            ax.set_yticks([])
            img = panels[(f, i)]
            if img is None:
                ax.text(0.5, 0.5, "not trained", ha="center", va="center", fontsize=7,
                        transform=ax.transAxes)
            else:
                ax.imshow(img, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            if r == 0:
                ax.set_title(title, fontsize=8)
            if i == 0:
                ax.set_ylabel(f"{100 * f:g}%", rotation=0, ha="right", va="center", fontsize=8)
    fig.supylabel("owner's fraction of each class", fontsize=9)
    return save_figure(fig, out_dir, "fig4_samples", title="Synthetic samples",
                       caption="Samples from an owner's local GAN (left) and from its privGAN "
                               "generator with the other owner at the fraction in the column title "
                               "(or, in a cell of more owners, beside the number of owners in the "
                               "title), by the owner's own fraction (rows). Each panel: one column "
                               f"per class, {PER_CLASS} samples each.")
