"""Figures from raw attack scores and from the privacy-utility trade-off.

Figs. 8-9 (discriminator score distributions), ROC curves on log axes, and a
privacy-utility scatter. The raw scores come from each cell's stored
``scores.npz`` (see :meth:`Results.score_sets`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.metrics import roc_curve

from privshare.reports import names as N
from privshare.reports.results import Results, ScoreSet, summarise, value_text
from privshare.reports.style import HIST, FigureFile, line_kwargs, new_figure, save_figure

# what every raw-score figure shows: one training run, the first evaluation seed
SINGLE = ("Single-seed curves, no interval: each panel is one training run (the cell named "
          "in its title) at the first evaluation seed, the only scores a sweep store keeps; "
          "every seed's AUC and TPR, with intervals, are in the tables.")
GAN_KINDS = ("gan", *N.SHARED_GAN_ATTACKS)  # a local GAN's scores: its D, its shared rows
MAX_CLASSES = 2  # the paper shows digit 0 (Fig. 8) and digit 1 (Fig. 9)
MAX_ROWS = 3
BINS = np.linspace(0.0, 1.0, 51)  # the reference's 50 bins on [0, 1]


def _privgan_cells(res: Results) -> list:
    """privGAN cells (or a run folder) with scores to show: finished, not mirrors."""
    return [c for c in res.cells if c.method in ("privgan", "run") and c.mirror_of is None
            and c.status == "done"]


def _diagonal(res: Results) -> list[float]:
    """Owner-0 fractions of the cells to show, largest first: (f, f) cells when there are any."""
    cells = _privgan_cells(res)
    square = [c for c in cells if c.f0 == c.f1]
    return sorted({c.f0 for c in (square or cells)}, reverse=True)[:MAX_ROWS]


def _privgan_cell_at(res: Results, f: float):
    """The privGAN cell shown for owner 0 at ``f``: (f, f) if there is one, else the first."""
    cells = [c for c in _privgan_cells(res) if c.f0 == f]
    cells.sort(key=lambda c: c.f1 != f)  # prefer (f, f)
    return cells[0] if cells else None


def _sets_at(res: Results, f: float) -> list[ScoreSet]:
    """Scores of the privGAN cell shown at f (:func:`_privgan_cell_at`) and of the local
    GANs at f."""
    cell = _privgan_cell_at(res, f)
    out = [s for s in res.score_sets(cell.id) if s.kind != "gan"] if cell else []
    for other in res.cells:
        if other.mirror_of is None:
            out += [s for s in res.score_sets(other.id)
                    if s.kind in GAN_KINDS and other.fraction(s.owner) == f]
    return out


def _where(res: Results, f: float) -> str:
    """Which cell a panel at ``f`` shows: every owner's fraction, then its axis values."""
    cell = _privgan_cell_at(res, f)
    if cell is None:
        return f"owners at {100 * f:g}%"
    text = "owners at " + " / ".join(f"{100 * x:g}%" for x in cell.fractions)
    return ", ".join([text, *(f"{k.rsplit('.', 1)[-1]} {value_text(v)}"
                              for k, v in sorted(cell.axes.items()))])


def _bins(s: ScoreSet) -> np.ndarray:
    """The reference's 50 bins on [0, 1], or 50 on the scores' own range where they fill
    less than half of it (a regularised D scores everything near 0.5: on [0, 1] its
    members and non-members would share one or two bins)."""
    drawn = [v for v in s.groups.values() if len(v)]
    if not drawn:  # an owner without rows of this class: nothing to zoom on
        return BINS
    values = np.concatenate(drawn)
    lo, hi = float(values.min()), float(values.max())
    if hi - lo >= 0.5 or hi <= lo:
        return BINS
    return np.linspace(lo, hi, len(BINS))


def _first(sets: list[ScoreSet], **where) -> ScoreSet | None:
    return next((s for s in sets if all(getattr(s, k) == v for k, v in where.items())), None)


def score_distributions(res: Results, out_dir: Path) -> list[FigureFile] | None:
    """Figs. 8-9: histograms of D's scores on members, non-members, the other owner's members."""
    fractions = _diagonal(res)
    classes = res.classes[:MAX_CLASSES]
    figures = []
    columns = [("D_1 (privGAN owner 0)", "privgan_d", "0"), ("D_2 (privGAN owner 1)", "privgan_d", "1"),
               ("local GAN's D", "gan", "0")]
    for cls in classes:
        table = {(f, i): _first(_sets_at(res, f), kind=kind, owner=o, cls=cls)
                 for f in fractions for i, (_, kind, o) in enumerate(columns)}
        if not any(table.values()):
            continue
        fig, axes = new_figure(nrows=len(fractions), ncols=3, width=3.3, height=2.4)
        for r, f in enumerate(fractions):
            for i, (title, _, _) in enumerate(columns):
                ax, s = axes[r][i], table[(f, i)]
                if s is None:
                    ax.text(0.5, 0.5, "no scores stored", ha="center", transform=ax.transAxes)
                    ax.set_xlim(0, 1)
                else:
                    bins = _bins(s)
                    for group in ("members", "nonmembers", "other"):
                        vals = s.groups.get(group)
                        if vals is not None and len(vals):
                            h = HIST[group]
                            ax.hist(vals, bins=bins, density=True, histtype="step", linewidth=1.3,
                                    color=h["color"], hatch=h["hatch"], label=h["label"])
                    ax.set_xlim(bins[0], bins[-1])
                ax.set_title(f"{title}\n{_where(res, f)}", fontsize=8)
                if r == len(fractions) - 1:
                    ax.set_xlabel("D's probability that the row is real")
                if i == 0:
                    ax.set_ylabel("density")
        drawn = [ax for row in axes for ax in row if ax.get_legend_handles_labels()[0]]
        if drawn:  # the legend on the first panel with scores (the top row may have none yet)
            drawn[0].legend(fontsize=6)
        figures.append(save_figure(
            fig, out_dir, f"fig8_scores_class{cls}", title=f"Discriminator scores, class {cls}",
            caption="Histograms (50 bins, normalised; on [0, 1] as in the paper, or on the "
                    "panel's own score range where its scores fill less than half of [0, 1], "
                    "as a regularised D's do) of the discriminators' scores on "
                    "the owner's training rows (members), held-out rows (non-members) and, for "
                    "privGAN, the other owner's training rows. Rows: owners' fractions. " + SINGLE))
    return figures or None


# ROC rows: what each attacker holds
ROC_ROWS = (
    ("white-box on each owner's D (never shared)", N.ATTACK_SOURCES),
    ("on what crosses the boundary: D_central, the shared rows", (*N.SHARED_ATTACKS, *N.SHARED_GAN_ATTACKS)),
)


def _roc_line(ax, sets: list[ScoreSet], kind: str) -> float | None:
    """Draw attack ``kind``'s ROC against owner 0, classes pooled; return its FPR floor."""
    chosen = [s for s in sets if s.kind == kind and s.owner == "0"]
    if not chosen:
        return None
    y = np.concatenate([np.r_[np.ones(len(s.groups["members"])),
                              np.zeros(len(s.groups["nonmembers"]))] for s in chosen])
    score = np.concatenate([np.r_[s.groups["members"], s.groups["nonmembers"]] for s in chosen])
    fpr, tpr, _ = roc_curve(y, score)
    floor = 1.0 / max(1, int((y == 0).sum()))
    kw = line_kwargs(kind)
    kw["markevery"] = max(1, len(fpr) // 8)
    ax.plot(np.maximum(fpr, floor), np.maximum(tpr, floor), **kw)
    return floor


def roc_curves(res: Results, out_dir: Path) -> FigureFile | None:
    """ROC of each attack on log-log axes against owner 0, classes pooled: one column per
    fraction; a row for the white-box attacks on the owners' own discriminators and a row
    for those on what crosses the boundary (D_central and the shared synthetic rows)."""
    fractions = _diagonal(res)
    panels = [(f, _sets_at(res, f)) for f in fractions]
    rows = [(title, kinds) for title, kinds in ROC_ROWS
            if any(s.kind in kinds for _, sets in panels for s in sets)]
    panels = [(f, sets) for f, sets in panels
              if any(s.kind in kinds for s in sets for _, kinds in rows)]
    if not panels:
        return None
    fig, axes = new_figure(nrows=len(rows), ncols=len(panels), width=3.6, height=3.4, sharey="row")
    for r, (title, kinds) in enumerate(rows):
        for c, (f, sets) in enumerate(panels):
            ax = axes[r][c]
            floors = [x for kind in kinds if (x := _roc_line(ax, sets, kind)) is not None]
            floor = min(floors, default=1e-3)
            grid = np.logspace(np.log10(floor), 0, 50)
            ax.plot(grid, grid, color="black", linewidth=0.8, linestyle=(0, (2, 2)),
                    label="random guess")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlim(floor, 1)
            ax.set_ylim(floor, 1.05)
            ax.set_xlabel("false-positive rate (log)")
            ax.set_title(f"owner 0, {_where(res, f)}\n{title}", fontsize=8)
            ax.grid(True, which="major", alpha=0.3)
            if not floors:
                ax.text(0.5, 0.5, "no scores stored", ha="center", transform=ax.transAxes)
        axes[r][0].set_ylabel("true-positive rate (log)")
        legend = {}  # every series drawn in the row, once (a panel may lack some)
        for ax in axes[r]:
            legend.update({lab: h for h, lab in zip(*ax.get_legend_handles_labels())})
        axes[r][0].legend(legend.values(), legend.keys(), fontsize=6, loc="lower right")
    return save_figure(fig, out_dir, "roc_attacks", title="Attack ROC curves (log axes)",
                       caption="ROC of each attack against owner 0, all classes pooled, on "
                               "log-log axes so the low-false-positive region shows. Top: "
                               "white-box attacks on the discriminators that never leave an "
                               "owner. Bottom: attacks on what crosses the boundary, D_central "
                               "(owner 0's rows told from the other owners' rows) and the "
                               "shared synthetic rows (black-box, Monte-Carlo and nearest "
                               "neighbour). Rates below 1/|non-members| cannot be resolved "
                               "and are clipped there. " + SINGLE)


def privacy_utility(res: Results, out_dir: Path) -> FigureFile | None:
    """Attack advantage against utility, one point per cell and owner."""
    pairs = {"privgan": "privgan_max", "gan": "gan"}
    fig, axes = new_figure(width=4.8, height=3.8)
    ax, drawn = axes[0][0], False
    for util_source, attack in pairs.items():
        xs, ys = [], []
        for cell in res.cells:
            for o in map(str, range(cell.owners)):
                acc = res.select(cell_id=cell.id, source=util_source, owner=o, metric=N.ACCURACY,
                                 **{"class": N.ALL})
                adv = res.select(cell_id=cell.id, source=attack, owner=o, metric=N.ADVANTAGE,
                                 **{"class": N.ALL})
                x, _, nx = summarise(r["value"] for r in acc)
                y, _, ny = summarise(r["value"] for r in adv)
                if nx and ny:
                    xs.append(x)
                    ys.append(y)
        if xs:
            kw = line_kwargs(util_source)
            kw.pop("linestyle")
            ax.scatter(xs, ys, marker=kw["marker"], facecolors="white" if util_source == "gan"
                       else kw["color"], edgecolors=kw["color"], label=kw["label"], s=28)
            drawn = True
    if not drawn:
        return None
    ax.set_xlabel("utility: classifier accuracy on real test rows")
    ax.set_ylabel("privacy risk: attack advantage max|TPR - FPR|")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, out_dir, "privacy_utility", title="Privacy-utility trade-off",
                       caption="Each point is one owner in one cell: the accuracy of a classifier "
                               "trained on its synthetic samples against the advantage of the "
                               "white-box attack on its discriminator(s) (privGAN: max over D_i). "
                               "Right and low is better.")
