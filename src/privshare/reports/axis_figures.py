"""Figures against a sweep axis: any stored metric over the values of one axis key.

For a sweep with axes (:mod:`privshare.experiments.axes`), one figure per
chosen metric (``source:metric``, e.g. ``privgan_central:auc``) and axis with at
least two values: the axis values along x, one panel per owner, one line per
owner-fraction cell (and per value of the other axes). A point is the mean
over the cells' training seeds of each cell's mean over its evaluation
seeds, and its bar the 95 % Student-t interval over those training seeds
(:mod:`privshare.intervals`); a point with one training seed takes its
interval over the evaluation seeds instead. The legend gives each line's
count and the title the seeds, so the reader knows what an interval covers.
"""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path
from typing import Any

import numpy as np

from privshare.config.renamed import renamed_message
from privshare.intervals import t_interval
from privshare.reports import names as N
from privshare.reports.results import Results, value_text
from privshare.reports.style import FigureFile, new_figure, save_figure, series

# drawn by default: what an owner gains and what leaks, as the privacy-weight front asks
METRICS = ("privgan:accuracy", "privgan_pooled:accuracy", "own+privgan_pooled:accuracy",
           "privgan_central:auc", "privgan_max:auc", "nn_privgan:auc", "privgan_d:auc", "gan:accuracy")
MAX_LINES = 8  # per panel; the caption says when more exist
STYLES = [("#1b5e20", "o", "-"), ("#b71c1c", "s", "--"), ("#0d47a1", "^", "-."),
          ("#212121", "D", ":"), ("#66bb6a", "v", "-"), ("#757575", "x", "--"),
          ("#e65100", "P", "-."), ("#6a1b9a", "*", ":")]  # marker AND line style differ: greyscale
BOUNDED = (N.ACCURACY, N.AUC, N.ADVANTAGE, N.ATTACK_ACCURACY)  # drawn on [0, 1]
METRIC_LABELS = {N.ACCURACY: "classifier accuracy on real test rows", N.AUC: "attack ROC AUC",
                 N.ADVANTAGE: "attack advantage max|TPR - FPR|",
                 N.ATTACK_ACCURACY: "attack accuracy (precision at |members|)"}


def parse_metric(text: str) -> tuple[str, str]:
    """``"privgan_central:auc"`` -> ``("privgan_central", "auc")``; anything else raises ValueError."""
    source, sep, metric = text.partition(":")
    if renamed := renamed_message(source, what="source"):
        raise ValueError(f"metric {text!r}: {renamed}")
    if not sep or not source or not metric or ":" in metric:
        raise ValueError(f"metric {text!r} must be source:metric as stored, e.g. privgan_central:auc "
                         f"or privgan:accuracy (defaults: {', '.join(METRICS)})")
    return source, metric


def _numeric(values: list[Any]) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _x_axis(ax, key: str, values: list[Any]) -> dict[str, float]:
    """Place the axis values along x; returns value (as JSON) -> x position."""
    if not _numeric(values):
        ax.set_xticks(range(len(values)), [value_text(v) for v in values], rotation=20)
        ax.set_xlim(-0.5, len(values) - 0.5)
        ax.set_xlabel(key)
        return {json.dumps(v): float(i) for i, v in enumerate(values)}
    ordered = sorted(values)
    positive = [v for v in ordered if v > 0]
    if positive and max(positive) >= 10 * min(positive) and min(ordered) >= 0:
        if min(ordered) > 0:
            ax.set_xscale("log")
        else:  # zero beside values spread over decades: linear up to the smallest positive one
            ax.set_xscale("symlog", linthresh=min(positive), linscale=0.5)
    ax.set_xticks(ordered, [value_text(v) for v in ordered])
    ax.xaxis.set_minor_formatter("")
    ax.set_xlabel(key + (" (log scale)" if ax.get_xscale() != "linear" else ""))
    return {json.dumps(v): float(v) for v in values}


Line = tuple[str, tuple[float, ...], tuple[tuple[str, str], ...]]  # owner, fractions, other axes
Point = tuple[Any, float, float | None, float | None, str]  # value, mean, lo, hi, what it is over


def _lines(res: Results, key: str, source: str, metric: str) -> dict[Line, dict[str, dict]]:
    """Line -> value (JSON) -> training seed -> that cell's values (over evaluation seeds)."""
    out: dict[Line, dict[str, dict]] = {}
    for cell in res.cells:
        if cell.status != "done" or key not in cell.axes:
            continue
        rows = res.select(cell_id=cell.id, source=source, metric=metric, **{"class": N.ALL})
        others = tuple((k, json.dumps(v)) for k, v in sorted(cell.axes.items()) if k != key)
        for owner in sorted({r["owner"] for r in rows}):
            vals = [r["value"] for r in rows if r["owner"] == owner and r["value"] is not None
                    and np.isfinite(r["value"])]
            if vals:
                seeds = out.setdefault((owner, cell.fractions, others), {}).setdefault(
                    json.dumps(cell.axes[key]), {})
                seeds.setdefault(cell.seed, vals)  # one cell per seed (a GAN cell's real_own too)
    return out


def _point(seeds: dict[int, list[float]]) -> tuple[float, float | None, float | None, str]:
    """Mean, 95 % interval and what it is over, for one value of one line."""
    if len(seeds) >= 2:
        mean, lo, hi = t_interval([statistics.fmean(v) for v in seeds.values()])
        return mean, lo, hi, f"{len(seeds)} training seeds"
    (vals,) = seeds.values()
    mean, lo, hi = t_interval(vals)
    return mean, lo, hi, "1 training seed" + (f", {len(vals)} evaluation seeds" if len(vals) > 1
                                              else "")


def axis_points(res: Results, *, key: str, source: str, metric: str) -> dict[Line, list[Point]]:
    """What :func:`axis_figure` draws: per line, one point per axis value, in grid order."""
    order = [json.dumps(v) for v in res.axes.get(key, [])]
    return {line: [(json.loads(v), *_point(by_value[v])) for v in order if v in by_value]
            for line, by_value in _lines(res, key, source, metric).items()}


def _owner(owner: str) -> tuple[bool, int, str]:
    """Sort key: owners 0, 1, 2, ... in number order, then pooled rows."""
    return (not owner.isdigit(), int(owner) if owner.isdigit() else 0, owner)


def _label(line: Line) -> str:
    owner, fractions, others = line
    every = " / ".join(f"{100 * f:g} %" for f in fractions)
    if not owner.isdigit():
        where = f"owners at {every}"
    elif len(fractions) == 2:
        j = int(owner)
        where = f"this owner {100 * fractions[j]:g} %, other {100 * fractions[1 - j]:g} %"
    else:
        where = f"this owner {100 * fractions[int(owner)]:g} % of owners at {every}"
    return where + "".join(f", {k}={value_text(json.loads(v))}" for k, v in others)


def _seeds_text(res: Results) -> str:
    """The seeds the figure's values come from (the stored cells'), and the grid's plan
    where it has more (a sweep still running)."""
    stored = {r["cell_id"] for r in res.rows}
    train = sorted({c.seed for c in res.cells if c.id in stored})
    evaluation = sorted({r["eval_seed"] for r in res.rows})
    planned = sorted(res.meta.get("spec", {}).get("seeds", train))
    text = f"training seeds {train}" + (f" (of {planned} planned)" if planned != train else "")
    return text + f", evaluation seeds {evaluation}"


def axis_figure(res: Results, out_dir: Path, *, key: str, source: str, metric: str
                ) -> FigureFile | None:
    """``source``'s ``metric`` against axis ``key``; None when nothing of it is stored."""
    lines = axis_points(res, key=key, source=source, metric=metric)
    owners = sorted({line[0] for line in lines}, key=_owner)
    if not owners:
        return None
    values = res.axes[key]
    fig, axes = new_figure(ncols=len(owners), width=4.4, height=3.6, sharey=True)
    hidden = 0
    for ax, owner in zip(axes[0], owners):
        mine = sorted(line for line in lines if line[0] == owner)
        hidden += max(0, len(mine) - MAX_LINES)
        where = _x_axis(ax, key, values)
        for (color, marker, style), line in zip(STYLES, mine[:MAX_LINES]):
            pts = sorted((where[json.dumps(p[0])], *p[1:]) for p in lines[line])
            x, m = np.array([p[0] for p in pts]), np.array([p[1] for p in pts])
            err = np.array([[0.0 if p[2] is None else p[1] - p[2] for p in pts],
                            [0.0 if p[3] is None else p[3] - p[1] for p in pts]])
            counts = sorted({p[4] for p in pts})
            ax.errorbar(x, m, yerr=err, capsize=2, color=color, marker=marker, linestyle=style,
                        markersize=5, linewidth=1.4, markerfacecolor="white",
                        label=f"{_label(line)} (n: {'; '.join(counts)})")
        if metric == N.AUC:
            ax.axhline(0.5, color="black", linewidth=0.8, linestyle=(0, (2, 2)),
                       label="random guess (AUC 0.5)")
        elif metric == N.ACCURACY and res.classes:
            ax.axhline(1 / len(res.classes), color="black", linewidth=0.8, linestyle=(0, (2, 2)),
                       label=f"random guess (1/{len(res.classes)})")
        ax.set_title(f"owner {owner}" if owner.isdigit() else "pooled over owners",
                     fontsize=10)
        if metric in BOUNDED:
            ax.set_ylim(0, 1.02)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=6, loc="best")
    axes[0][0].set_ylabel(METRIC_LABELS.get(metric, metric))
    name = series(source).label
    fig.suptitle(f"{name}: {metric} against {key} ({_seeds_text(res)})", fontsize=9)
    stem = "axis_" + "_".join(re.sub(r"[^A-Za-z0-9]+", "_", p).strip("_")
                              for p in (key, source, metric))
    more = f" {hidden} further line(s) are not shown." if hidden else ""
    return save_figure(fig, out_dir, stem, title=f"{name} {metric} against {key}",
                       caption=f"{metric} of {source} (all classes) against the sweep axis {key}, "
                               "one line per owner-fraction cell. Points: mean over training "
                               "seeds of each cell's mean over evaluation seeds; bars: 95 % "
                               "Student-t interval over the training seeds (with one training "
                               f"seed, over the evaluation seeds; n in the legend). "
                               f"{_seeds_text(res).capitalize()}.{more}")


def axis_figures(res: Results, out_dir: Path, *, metrics: tuple[str, ...] = METRICS
                 ) -> list[FigureFile] | None:
    """Every chosen metric against every axis with two or more values; None if none is drawn."""
    chosen = [parse_metric(m) for m in metrics]
    made = [axis_figure(res, out_dir, key=key, source=source, metric=metric)
            for key, values in res.axes.items() if len(values) >= 2 for source, metric in chosen]
    return [f for f in made if f is not None] or None
