"""Build every figure and ``report.html`` from stored results alone.

``build_report(path)`` reads a sweep folder (its ``results.sqlite``) or one
evaluated run folder; it never imports torch and never needs a model file.
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import matplotlib
import numpy as np

import privshare
from privshare.reports.answer import cell_answers, owner_answers
from privshare.reports.grid_figures import attack_curves, utility_curves, utility_heatmaps
from privshare.reports.html import Table, render, write_page
from privshare.reports.results import Results, load_results
from privshare.reports.sample_figures import sample_grid
from privshare.reports.score_figures import privacy_utility, roc_curves, score_distributions
from privshare.reports.style import FigureFile
from privshare.reports.tables import attack_table, cells_table, symmetry_table, utility_table

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


ANSWER_NOTE = (
    "Accuracy of a classifier trained on each option and tested on the real test split; "
    "intervals are 95 % Student-t intervals of the mean over evaluation seeds {seeds} (they "
    "cover the classifier's initialisation, its validation split and the synthetic draws, not "
    "the GAN training, which is one run); the gain is paired by seed. Attacks: AUC of the "
    "strongest membership attack on what crosses the owner's boundary (DP's scores on real "
    "rows, black-box attacks on the owner's synthetic rows).")


@dataclass(frozen=True)
class Report:
    """What :func:`build_report` wrote."""

    html: Path
    figures: list[FigureFile]
    skipped: dict[str, str] = field(default_factory=dict)  # figure -> why it was not drawn
    cells: int = 0
    cells_done: int = 0


def _figures(res: Results, out: Path) -> tuple[list[FigureFile], dict[str, str]]:
    drawn, skipped = [], {}
    for name, fn in FIGURES.items():
        made = fn(res, out)
        if not made:
            skipped[name] = "the stored results cannot support it (too few grid points or rows)"
            log.info("figure %s skipped", name)
            continue
        drawn.extend(made if isinstance(made, list) else [made])
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


def build_report(path: str | Path, *, out_dir: str | Path | None = None) -> Report:
    """Draw every figure the results support (PNG + SVG) and write ``report.html``.

    ``out_dir`` defaults to ``report/`` inside the sweep or run folder.
    """
    res = load_results(path)
    root = res.path.parent if res.kind == "sweep" else res.path
    out = Path(out_dir) if out_dir is not None else root / "report"
    figures, skipped = _figures(res, out)
    tables: list[Table] = [cells_table(res), utility_table(res), attack_table(res)]
    sym = symmetry_table(res)
    if sym is not None:
        tables.append(sym)
    done = sum(c.status == "done" for c in res.cells)
    spec = res.meta.get("spec", {})
    summary = [f"{len(res.cells)} cells, {done} done, "
               f"{sum(c.status == 'failed' for c in res.cells)} failed; {len(res.rows)} result rows.",
               f"Owner fractions: {', '.join(f'{100 * f:g}%' for f in res.fractions)} "
               "of each class's training rows.",
               f"Classes: {', '.join(res.classes) or '(none stored)'}."]
    if skipped:
        summary.append("Not drawn: " + "; ".join(f"{k} ({v})" for k, v in skipped.items()))
    config = {"sweep": spec, "cell config (first cell)": res.cells[0].config if res.cells else {}}
    if res.kind == "run":
        answers = [a.sentence() for a in owner_answers(res.rows)]
    else:  # one line per owner of each finished privGAN cell
        answers = [f"Cell {100 * c.f0:g} % / {100 * c.f1:g} % (training seed {c.seed}): "
                   f"{a.sentence()}" for c, owners in cell_answers(res.cells, res.rows)
                   for a in owners]
    seeds = sorted({r["eval_seed"] for r in res.rows if r["eval_seed"] is not None})
    page = render(title=f"privshare report: {spec.get('name', res.path.name)}", summary=summary,
                  figures=figures, tables=tables, config=config, provenance=_provenance(res),
                  answer=answers, answer_note=ANSWER_NOTE.format(seeds=seeds))
    html = write_page(out / "report.html", page)
    return Report(html=html, figures=figures, skipped=skipped, cells=len(res.cells),
                  cells_done=done)
