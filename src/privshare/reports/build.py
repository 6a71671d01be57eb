"""Build every figure and ``report.html`` from stored results alone.

``build_report(path)`` reads a sweep folder (its result store) or one
evaluated run folder; it never imports torch and never needs a model file.

A sweep with axes adds one figure per chosen metric against each axis
(:mod:`privshare.reports.axis_figures`); its owner-fraction figures are
drawn for the cells at the first value of every axis (their captions say
which), except the privacy-utility scatter, which has a point per cell.

The figures over the (owner 0, owner 1) grid (``TWO_OWNER``) are drawn from
the two-owner cells; a sweep (or run) with cells of more owners adds a
per-owner figure of those cells (:mod:`privshare.reports.owner_figures`),
and its tables and answers have one line per owner.
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import matplotlib
import numpy as np

import privshare
from privshare.artifacts.layout import RunLayout, SweepLayout
from privshare.reports.answer import cell_answers, owner_answers
from privshare.reports.axis_figures import METRICS, axis_figures, parse_metric
from privshare.reports.grid_figures import attack_curves, utility_curves, utility_heatmaps
from privshare.reports.html import Table, render, write_page
from privshare.reports.owner_figures import owners_figure
from privshare.reports.results import (
    Results,
    fractions_text,
    load_results,
    setting_text,
    value_text,
)
from privshare.reports.sample_figures import sample_grid
from privshare.reports.score_figures import privacy_utility, roc_curves, score_distributions
from privshare.reports.style import FigureFile
from privshare.reports.tables import (
    attack_table,
    cells_table,
    owner_utility_table,
    symmetry_table,
    utility_table,
)

log = logging.getLogger(__name__)

FigureFn = Callable[[Results, Path], "FigureFile | list[FigureFile] | None"]
FIGURES: dict[str, FigureFn] = {
    "fig4 samples": sample_grid,
    "fig5 utility heatmaps": utility_heatmaps,
    "fig6 utility vs fraction": utility_curves,
    "fig7 attack vs fraction": attack_curves,
    "fig8-9 score distributions": score_distributions,
    "ROC curves": roc_curves,
    "privacy-utility": privacy_utility,
}
PER_CELL = {"privacy-utility"}  # one point per cell: drawn from every cell, whatever its axes
TWO_OWNER = {"fig5 utility heatmaps", "fig6 utility vs fraction", "fig7 attack vs fraction",
             "fig8-9 score distributions", "ROC curves"}  # need (owner 0, owner 1) cells
OWNERS_FIGURE = "per-owner figure (cells of more than two owners)"


ANSWER_NOTE = (
    "Accuracy of a classifier trained on each option and tested on the real test split; "
    "intervals are 95 % Student-t intervals of the mean over evaluation seeds {seeds} (they "
    "cover the classifier's initialisation, its validation split and the synthetic draws, not "
    "the GAN training, which is one run); the gain is paired by seed. Attacks: AUC of the "
    "strongest membership attack on what crosses the owner's boundary (the central "
    "discriminator's scores on real rows, black-box attacks on the owner's synthetic rows).")


@dataclass(frozen=True)
class Report:
    """What :func:`build_report` wrote."""

    html: Path
    figures: list[FigureFile]
    skipped: dict[str, str] = field(default_factory=dict)  # figure -> why it was not drawn
    cells: int = 0
    cells_done: int = 0


def _first_setting(res: Results) -> tuple[Results, str]:
    """The cells at the first value of every axis that has several, and those values in words."""
    varied = {k: v[0] for k, v in res.axes.items() if len(v) > 1}
    if not varied:
        return res, ""
    return res.restricted(varied), ", ".join(f"{k} = {value_text(v)}" for k, v in varied.items())


def _figures(res: Results, out: Path, metrics: tuple[str, ...]
             ) -> tuple[list[FigureFile], dict[str, str]]:
    drawn, skipped = [], {}
    first, setting = _first_setting(res)
    many = any(c.owners > 2 for c in res.cells)
    for name, fn in FIGURES.items():
        if name in PER_CELL:
            made = fn(res, out)
        else:
            made = fn(first.two_owner() if name in TWO_OWNER else first, out)
        if not made:
            skipped[name] = ("drawn from two-owner cells only, too few here (cells of more "
                             "owners are in the per-owner figure)" if name in TWO_OWNER and many
                             else "the stored results cannot support it (too few grid points "
                                  "or rows)")
            log.info("figure %s skipped", name)
            continue
        made = made if isinstance(made, list) else [made]
        if setting and name not in PER_CELL:
            made = [replace(f, caption=f"{f.caption} Drawn for the cells with {setting} only "
                                       "(the first value of each axis); the figures against "
                                       "the axes show every value.") for f in made]
        drawn.extend(made)
    if many:
        made = owners_figure(first, out)
        if made is None:
            skipped[OWNERS_FIGURE] = "no finished privGAN cell of more than two owners"
        else:
            if setting:
                made = replace(made, caption=f"{made.caption} Drawn for the cells with {setting} "
                                             "only (the first value of each axis).")
            drawn.append(made)
    if res.axes:
        made = axis_figures(res, out, metrics=metrics)
        if made:
            drawn.extend(made)
        else:
            skipped["figures against the axes"] = (f"no axis with two values, or no stored rows "
                                                   f"of {', '.join(metrics)}")
    return drawn, skipped


def _provenance(res: Results) -> dict[str, str]:
    info = res.meta.get("info", {})
    spec = res.meta.get("spec", {})
    return {
        "results": str(res.path),
        "sweep created": str(res.meta.get("created", "")),
        "report built": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seeds": f"replicates {spec.get('seeds', [c.seed for c in res.cells[:1]])}, "
                 f"evaluation {spec.get('eval_seeds', '(run folder)')}",
        "versions (sweep)": ", ".join(f"{k} {v}" for k, v in info.items()),
        "versions (report)": f"privshare {privshare.__version__}, python "
                             f"{platform.python_version()}, numpy {np.__version__}, "
                             f"matplotlib {matplotlib.__version__}",
    }


def build_report(path: str | Path, *, out_dir: str | Path | None = None,
                 axis_metrics: tuple[str, ...] = METRICS) -> Report:
    """Draw every figure the results support (PNG + SVG) and write ``report.html``.

    ``out_dir`` defaults to ``report/`` inside the sweep or run folder.
    ``axis_metrics``: the ``source:metric`` pairs drawn against each axis of
    a sweep with axes (e.g. ``privgan_central:auc``; checked before anything is written).
    """
    for metric in axis_metrics:
        parse_metric(metric)
    res = load_results(path)
    layout = SweepLayout(res.path.parent) if res.kind == "sweep" else RunLayout(res.path)
    out = Path(out_dir) if out_dir is not None else layout.report
    figures, skipped = _figures(res, out, tuple(axis_metrics))
    utility, per_owner = utility_table(res), owner_utility_table(res)
    tables: list[Table] = [cells_table(res)] + ([utility] if utility.rows or not per_owner else [])
    tables += [t for t in (per_owner, attack_table(res), symmetry_table(res)) if t is not None]
    done = sum(c.status == "done" for c in res.cells)
    spec = res.meta.get("spec", {})
    summary = [f"{len(res.cells)} cells, {done} done, "
               f"{sum(c.status == 'failed' for c in res.cells)} failed; {len(res.rows)} result rows.",
               f"Owner fractions: {', '.join(f'{100 * f:g}%' for f in res.fractions)} "
               "of each class's training rows.",
               f"Classes: {', '.join(res.classes) or '(none stored)'}."]
    summary += [f"Axis {k}: {', '.join(value_text(v) for v in values)}."
                for k, values in res.axes.items()]
    if skipped:
        summary.append("Not drawn: " + "; ".join(f"{k} ({v})" for k, v in skipped.items()))
    config = {"sweep": spec, "cell config (first cell)": res.cells[0].config if res.cells else {}}
    if res.kind == "run":
        answers = [a.sentence() for a in owner_answers(res.rows)]
    else:  # one line per owner of each finished privGAN cell
        answers = [f"Cell {fractions_text(c)}"
                   f"{', ' + setting_text(c) if c.axes else ''} (training seed {c.seed}): "
                   f"{a.sentence()}" for c, owners in cell_answers(res.cells, res.rows)
                   for a in owners]
    seeds = sorted({r["eval_seed"] for r in res.rows if r["eval_seed"] is not None})
    page = render(title=f"privshare report: {spec.get('name', res.path.name)}", summary=summary,
                  figures=figures, tables=tables, config=config, provenance=_provenance(res),
                  answer=answers, answer_note=ANSWER_NOTE.format(seeds=seeds))
    html = write_page(out / "report.html", page)
    return Report(html=html, figures=figures, skipped=skipped, cells=len(res.cells),
                  cells_done=done)
