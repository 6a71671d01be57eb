"""Cells of more than two owners: each owner against its own fraction.

The figures over the (owner 0, owner 1) grid need two owners, so a privGAN
cell of N > 2 owners is drawn here instead: one marker per owner, one marker
style per cell (its owners joined by a thin line), at x the owner's
fraction, at y the accuracy of a classifier trained on its generator G_j's
rows (left) and the ROC AUC of the strongest membership attack on it from
outside the owner (right: the white-box max and mean over every D_i, D_central's
attribution and the black-box attacks on G_j's rows). For reference, the
local GAN at each fraction (the sweep's two-owner GAN cells, every replicate
owner) and the owners' own real rows.
"""

from __future__ import annotations

from pathlib import Path

from privshare.experiments.store import Cell
from privshare.reports import names as N
from privshare.reports.axis_figures import STYLES
from privshare.reports.results import Results, fractions_text, setting_text, summarise
from privshare.reports.style import FigureFile, fraction_axis, line_kwargs, new_figure, save_figure

PRIVGAN_ATTACKS = ("privgan_max", "privgan_mean", *N.SHARED_ATTACKS)
LOCAL_ATTACKS = ("gan", *N.SHARED_GAN_ATTACKS)  # the same attacks on a local GAN
MAX_CELLS = len(STYLES)  # one marker and line style each; the caption says when more exist


def _mean(res: Results, **where) -> float | None:
    """Mean over the matching all-class rows (evaluation seeds, replicates); None if none."""
    mean, _, n = summarise(r["value"] for r in res.select(**{"class": N.ALL}, **where))
    return mean if n else None


def strongest(res: Results, sources: tuple[str, ...], **where) -> tuple[str, float] | None:
    """The source of ``sources`` with the highest mean AUC where ``where`` holds, and that AUC."""
    found = [(s, m) for s in sources if (m := _mean(res, source=s, metric=N.AUC, **where))
             is not None]
    return max(found, key=lambda f: f[1]) if found else None


def owner_points(res: Results, cell: Cell
                 ) -> list[tuple[str, float, float | None, tuple[str, float] | None]]:
    """Per owner of ``cell``: (owner, fraction, G_j's accuracy, strongest attack and its AUC)."""
    return [(str(j), f, _mean(res, cell_id=cell.id, source="privgan", owner=str(j),
                              metric=N.ACCURACY),
             strongest(res, PRIVGAN_ATTACKS, cell_id=cell.id, owner=str(j)))
            for j, f in enumerate(cell.fractions)]


def _reference(ax, res: Results, *, fractions: list[float], attack: bool) -> None:
    """The local GAN (and, for utility, own real rows) at each fraction, as grey lines."""
    def value(source: str, f: float) -> float | None:
        if attack:
            found = strongest(res, LOCAL_ATTACKS, owner_fraction=f)
            return None if found is None else found[1]
        return _mean(res, source=source, metric=N.ACCURACY, owner_fraction=f)

    for source in ("gan",) if attack else ("gan", "real_own"):
        pts = [(f, v) for f in fractions if (v := value(source, f)) is not None]
        if pts:
            kw = {**line_kwargs(source), "color": "#9e9e9e", "linewidth": 1.0, "markersize": 4}
            if attack:
                kw["label"] = "local GAN, strongest attack"
            ax.plot(*zip(*pts), **kw)


def owners_figure(res: Results, out_dir: Path) -> FigureFile | None:
    """Utility and strongest attack AUC per owner of each privGAN cell of more than two owners."""
    cells = [c for c in res.cells if c.method in ("privgan", "run") and c.owners > 2
             and c.status == "done"]
    points = {c.id: owner_points(res, c) for c in cells}
    cells = [c for c in cells if any(p[2] is not None or p[3] is not None for p in points[c.id])]
    if not cells:
        return None
    fractions = sorted({f for c in cells for f in c.fractions})
    fig, axes = new_figure(ncols=2, width=4.6, height=3.8)
    util_ax, attack_ax = axes[0]
    for (color, marker, style), cell in zip(STYLES, cells[:MAX_CELLS]):
        kw = dict(color=color, marker=marker, linestyle=style, linewidth=0.8, markersize=6,
                  markerfacecolor="white", label=f"cell {fractions_text(cell)}"
                  + (f", {setting_text(cell)}" if cell.axes else "") + f" (seed {cell.seed})")
        util = sorted((f, acc) for _, f, acc, _ in points[cell.id] if acc is not None)
        risk = sorted((f, att[1]) for _, f, _, att in points[cell.id] if att is not None)
        for ax, pts in ((util_ax, util), (attack_ax, risk)):
            if pts:
                ax.plot(*zip(*pts), **kw)
    _reference(util_ax, res, fractions=fractions, attack=False)
    _reference(attack_ax, res, fractions=fractions, attack=True)
    if res.classes:
        util_ax.axhline(1 / len(res.classes), color="black", linewidth=0.8, linestyle=(0, (2, 2)),
                        label=f"random guess (1/{len(res.classes)})")
    attack_ax.axhline(0.5, color="black", linewidth=0.8, linestyle=(0, (2, 2)),
                      label="random guess (AUC 0.5)")
    for ax, label, title in ((util_ax, "classifier accuracy on real test rows",
                              "utility of each owner's privGAN rows"),
                             (attack_ax, "ROC AUC of the strongest attack",
                              "strongest attack on each owner")):
        fraction_axis(ax, "x", label="this owner's fraction (%)", ticks=fractions)
        ax.set_ylabel(label)
        ax.set_title(title, fontsize=10)
        ax.set_ylim(0, 1.02)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=6, loc="lower right")
    more = (f" {len(cells) - MAX_CELLS} further cell(s) are not shown (see the tables)."
            if len(cells) > MAX_CELLS else "")
    return save_figure(fig, out_dir, "owners_vs_fraction",
                       title="Cells of more than two owners, per owner",
                       caption="One marker per owner of each privGAN cell of more than two owners "
                               "(a marker and line style per cell), against the owner's fraction. "
                               "Left: accuracy of a classifier trained on the owner's generator "
                               "G_j's rows, tested on real test rows. Right: ROC AUC of the "
                               "strongest attack on the owner by mean AUC, of "
                               f"{', '.join(PRIVGAN_ATTACKS)} (the white-box scores take the max "
                               "or mean over all N owners' D_i). Grey: the local GAN at each "
                               "fraction (its strongest attack of "
                               f"{', '.join(LOCAL_ATTACKS)}) and own real rows. Points are means "
                               f"over evaluation seeds.{more}")

