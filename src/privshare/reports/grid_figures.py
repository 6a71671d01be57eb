"""Figures over the fraction grid: the paper's Figs. 4-7.

Each function takes :class:`~privshare.reports.results.Results` and a
folder, and returns the saved :class:`~privshare.reports.style.FigureFile`,
or None when the results cannot support the figure (e.g. one grid point).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.tri import LinearTriInterpolator, Triangulation

from privshare.reports import names as N
from privshare.intervals import half_width
from privshare.reports.results import Results, summarise
from privshare.reports.style import (
    HEATMAP_CMAP,
    FigureFile,
    fraction_axis,
    line_kwargs,
    new_figure,
    save_figure,
)

log = logging.getLogger(__name__)
MAX_PANELS = 4


def _pick(values: list[float], k: int = MAX_PANELS) -> list[float]:
    """At most ``k`` values spread over a sorted list (ends included)."""
    if len(values) <= k:
        return values
    idx = np.unique(np.round(np.linspace(0, len(values) - 1, k)).astype(int))
    return [values[i] for i in idx]


def _utility(res: Results, source: str, **where) -> tuple[float, float, int]:
    rows = res.select(source=source, metric=N.ACCURACY, **{"class": N.ALL}, **where)
    return summarise(r["value"] for r in rows)


def _chance(res: Results) -> float | None:
    return 1.0 / len(res.classes) if res.classes else None


def _spans_an_area(x: np.ndarray, y: np.ndarray) -> bool:
    """Whether the points (x, y) have a triangle to interpolate in (3+ of them, not on one line)."""
    if len(x) < 3:
        return False
    return np.linalg.matrix_rank(np.column_stack([x - x[0], y - y[0]]), tol=1e-9) == 2


def utility_heatmaps(res: Results, out_dir: Path) -> FigureFile | None:
    """Fig. 5: accuracy over (owner 0's, owner 1's) fraction, interpolated in log space."""
    cells = [c for c in res.cells if c.method in ("privgan", "run")]
    points = sorted({(c.f0, c.f1) for c in cells})
    if len({p[0] for p in points}) < 2 or len({p[1] for p in points}) < 2:
        return None
    mirrored = {(c.f0, c.f1) for c in cells if c.mirror_of is not None}
    panels = [("generator 1 (owner 0's samples)", "privgan", {"owner": "0"}),
              ("generator 2 (owner 1's samples)", "privgan", {"owner": "1"}),
              ("union of both generators", "privgan_pooled", {})]
    z = {title: np.array([_utility(res, src, f0=a, f1=b, **w)[0] for a, b in points])
         for title, src, w in panels}
    finite = np.concatenate([v[np.isfinite(v)] for v in z.values()])
    if finite.size == 0:
        return None
    norm = Normalize(vmin=float(finite.min()), vmax=float(finite.max()))
    fig, axes = new_figure(ncols=3, width=4.0, height=3.6)
    lx, ly = np.log10([p[0] for p in points]), np.log10([p[1] for p in points])
    gx, gy = np.meshgrid(np.linspace(lx.min(), lx.max(), 160), np.linspace(ly.min(), ly.max(), 160))
    for ax, (title, _, _) in zip(axes[0], panels):
        vals, ok = z[title], np.isfinite(z[title])
        if _spans_an_area(lx[ok], ly[ok]):
            tri = Triangulation(lx[ok], ly[ok])
            grid = LinearTriInterpolator(tri, vals[ok])(gx, gy)
            ax.pcolormesh(10**gx, 10**gy, grid, cmap=HEATMAP_CMAP, norm=norm, shading="auto",
                          rasterized=True)  # one embedded image in the SVG, not 25k cells
        trained = np.array([p not in mirrored for p in points])
        px, py = np.array([p[0] for p in points]), np.array([p[1] for p in points])
        ax.scatter(px[trained], py[trained], c="black", s=14, marker="o", label="trained cell")
        if (~trained).any():
            ax.scatter(px[~trained], py[~trained], facecolors="white", edgecolors="black", s=14,
                       marker="o", label="mirrored from (f2, f1)")
        if len(points) <= 100:
            for x, y, v in zip(px, py, vals):
                if np.isfinite(v):
                    ax.annotate(f"{v:.2f}", (x, y), xytext=(0, 4), textcoords="offset points",
                                ha="center", fontsize=6,
                                bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none",
                                      "alpha": 0.7})
        fraction_axis(ax, "x", label="owner 0's fraction (%)", ticks=sorted({p[0] for p in points}))
        fraction_axis(ax, "y", label="owner 1's fraction (%)", ticks=sorted({p[1] for p in points}))
        ax.set_title(title, fontsize=10)
    axes[0][0].legend(loc="lower left", fontsize=7)
    fig.colorbar(ScalarMappable(norm=norm, cmap=HEATMAP_CMAP), ax=list(axes[0]), shrink=0.9,
                 label="accuracy on real test rows")
    return save_figure(fig, out_dir, "fig5_utility_heatmaps", title="Utility over both fractions",
                       caption="Accuracy of a classifier trained on privGAN samples only, tested on "
                               "real test rows, for generator 1, generator 2 and their union "
                               "(one shared colour scale). Dots: measured cells (numbers: their "
                               "accuracy); colour between dots: linear interpolation in log-fraction "
                               "space. Log axes; fractions are of each class's training rows.")


def utility_curves(res: Results, out_dir: Path) -> FigureFile | None:
    """Fig. 6: privGAN vs local GAN vs own real data against the owner's fraction."""
    partners = sorted({r["partner_fraction"] for r in res.select(source="privgan", metric=N.ACCURACY)
                       if r["partner_fraction"] is not None})
    fractions = sorted({r["owner_fraction"] for r in res.rows if r["owner_fraction"] is not None})
    if not partners or len(fractions) < 2:
        return None
    chosen = _pick(partners)
    fig, axes = new_figure(ncols=len(chosen), width=3.6, height=3.3, sharey=True)
    chance = _chance(res)
    for ax, g in zip(axes[0], chosen):
        for source, where in (("privgan", {"partner_fraction": g}),
                              ("own+privgan_pooled", {"partner_fraction": g}), ("gan", {}),
                              ("real_own", {})):
            stats = [(f, *_utility(res, source, owner_fraction=f, **where)) for f in fractions]
            stats = [(f, m, half_width(sd, n)) for f, m, sd, n in stats if n > 0]
            if stats:
                f, m, ci = map(np.array, zip(*stats))
                ax.errorbar(f, m, yerr=ci, capsize=2, **line_kwargs(source))
        if chance:
            ax.axhline(chance, color="black", linewidth=0.8, linestyle=(0, (2, 2)),
                       label=f"random guess (1/{len(res.classes)})")
        fraction_axis(ax, "x", label="this owner's fraction (%)", ticks=fractions)
        ax.set_title(f"other owner at {100 * g:g}%", fontsize=10)
        ax.set_ylim(0, 1.02)
        ax.grid(True, which="major", alpha=0.3)
    axes[0][0].set_ylabel("classifier accuracy on real test rows")
    axes[0][0].legend(fontsize=7, loc="lower right")
    return save_figure(fig, out_dir, "fig6_utility_vs_fraction", title="privGAN vs local GAN",
                       caption="Accuracy of a classifier trained on one owner's privGAN generator, on "
                               "its local GAN, on its own real rows, or on its own rows plus every "
                               "privGAN generator's rows, against that owner's fraction, with the "
                               "other owner's fraction fixed per panel. Error bars: 95 % Student-t "
                               "interval of the mean over evaluation seeds, training seeds and "
                               "replicate owners (the sweep's seeds are in the provenance table); "
                               "no bar: one value.")


def attack_curves(res: Results, out_dir: Path) -> FigureFile | None:
    """Fig. 7: white-box attack accuracy per class against the owners' fraction."""
    rows = res.select(metric=N.ATTACK_ACCURACY)
    classes = [c for c in res.classes if res.select(metric=N.ATTACK_ACCURACY, **{"class": c})]
    fractions = sorted({r["owner_fraction"] for r in rows if r["owner_fraction"] is not None})
    if not classes or not fractions:
        return None
    diagonal = any(r["owner_fraction"] == r["partner_fraction"] for r in rows
                   if r["source"].startswith("privgan"))
    shown = classes[:MAX_PANELS]
    fig, axes = new_figure(ncols=len(shown), width=3.3, height=3.2, sharey=True)
    for ax, cls in zip(axes[0], shown):
        for source in N.ATTACK_SOURCES:
            stats = []
            for f in fractions:
                where = {"partner_fraction": f} if diagonal and source != "gan" else {}
                picked = res.select(source=source, metric=N.ATTACK_ACCURACY, owner_fraction=f,
                                    **{"class": cls}, **where)
                m, sd, n = summarise(r["value"] for r in picked)
                if n:
                    stats.append((f, m, half_width(sd, n)))
            if stats:
                f, m, ci = map(np.array, zip(*stats))
                ax.errorbar(f, m, yerr=ci, capsize=2, **line_kwargs(source))
        base, _, n = summarise(r["value"] for r in res.select(metric=N.BASE_RATE, **{"class": cls}))
        if n:
            ax.axhline(base, color="black", linewidth=0.8, linestyle=(0, (2, 2)),
                       label=f"random guess ({base:.2f})")
        fraction_axis(ax, "x", label="each owner's fraction (%)" if diagonal else
                      "attacked owner's fraction (%)", ticks=fractions)
        ax.set_title(f"class {cls}", fontsize=10)
        ax.set_ylim(0, 1.02)
        ax.grid(True, which="major", alpha=0.3)
    axes[0][0].set_ylabel("attack accuracy (precision at |members|)")
    axes[0][0].legend(fontsize=7, loc="upper left")
    where = "both owners at the same fraction" if diagonal else "any partner fraction"
    return save_figure(fig, out_dir, "fig7_attack_vs_fraction", title="White-box attacks per class",
                       caption="LOGAN white-box attack on the discriminators: fraction of the "
                               "top-|members| scored rows that are members, per class, against "
                               f"the attacked owner's fraction ({where}). privGAN scores are the "
                               "max (or mean) over the owners' D_i; the dashed line is random "
                               "guessing, |members| / |pool|. Error bars: 95 % Student-t interval "
                               "of the mean over evaluation and training seeds; no bar: one value.")
