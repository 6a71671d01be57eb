"""One sweep axis as a table: each figure against the axis's values, over training seeds.

    python -m benchmarks.axis_table results/sweeps/privacy-front \
        --axis train.privacy_weight --cell 0.02,0.2

For every value of the axis (the privacy-front grid: lambda) and the chosen
cell (owner fractions), prints per owner: the utility of its rows, of all
privGAN rows pooled and of those fine-tuned on its own, its own rows, and the
attacks on what crosses its boundary (D_central's attribution, the
black-box attacks on its shared rows) beside the white-box attack on its own
D_j, all AUC; each figure is the point the report draws against the axis
(:func:`privshare.reports.axis_figures.axis_points`): the mean over the
training seeds stored, with its 95 % Student-t interval over them (with one
training seed, over its evaluation seeds, if several), and the seeds. Reads
the sweep folder (its store, or its committed snapshot); computes nothing new.
``--markdown`` prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from privshare.reports.axis_figures import Point, axis_points
from privshare.reports.results import load_results, value_text

COLUMNS = (  # (header, source, owner: "j" = the row's owner, metric)
    ("G_j rows", "privgan", "j", "accuracy"),
    ("all privGAN rows", "privgan_pooled", "all", "accuracy"),
    ("all privGAN rows, then own", "privgan_pooled>own", "j", "accuracy"),
    ("own rows", "real_own", "j", "accuracy"),
    ("AUC D_central", "privgan_central", "j", "auc"),
    ("TPR at 1 % FPR, D_central", "privgan_central", "j", "tpr_at_fpr_1pct"),
    ("AUC black-box (MC / NN)", ("mc_privgan", "nn_privgan"), "j", "auc"),
    ("AUC D_j (never shared)", "privgan_d", "j", "auc"),
)


def _fmt(point: Point | None) -> str:
    if point is None:
        return "-"
    _, mean, lo, hi, _ = point
    return f"{mean:.3f}" if lo is None else f"{mean:.3f} [{lo:.3f}, {hi:.3f}]"


def axis_rows(store: Path, *, axis: str, cell: tuple[float, float]) -> list[list[str]]:
    """The table: a header, then one row per owner and axis value of the cell ``cell``.

    Each figure is the report's point (:func:`privshare.reports.axis_figures.axis_points`):
    the mean over training seeds of each cell's mean over its evaluation seeds."""
    res = load_results(store)
    values = res.axes.get(axis, [])
    done = [c for c in res.cells if c.status == "done" and c.fractions == cell and axis in c.axes]
    points: dict[tuple[str, str, str], dict] = {}  # (source, metric, owner) -> value -> point
    for _, sources, _, metric in COLUMNS:
        for src in sources if isinstance(sources, tuple) else (sources,):
            for (owner, fractions, _), line in axis_points(res, key=axis, source=src,
                                                           metric=metric).items():
                if fractions == cell:
                    points[(src, metric, owner)] = {json.dumps(p[0]): p for p in line}
    out = [["owner", axis, "seeds", *(h for h, *_ in COLUMNS)]]
    for owner in ("0", "1"):
        for value in values:
            seeds = sorted(c.seed for c in done if c.axes[axis] == value)
            if not seeds:
                continue
            line = [owner, value_text(value), ",".join(map(str, seeds))]
            for _, sources, who, metric in COLUMNS:
                line.append(" / ".join(
                    _fmt(points.get((src, metric, owner if who == "j" else who), {})
                         .get(json.dumps(value)))
                    for src in (sources if isinstance(sources, tuple) else (sources,))))
            out.append(line)
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("store", type=Path, help="a sweep folder, its results.sqlite or its snapshot/")
    p.add_argument("--axis", default="train.privacy_weight")
    p.add_argument("--cell", default="0.02,0.2", help="owner fractions f0,f1")
    p.add_argument("--markdown", action="store_true")
    args = p.parse_args(argv)
    cell = tuple(float(x) for x in args.cell.split(","))
    rows = axis_rows(args.store, axis=args.axis, cell=cell)
    if args.markdown:
        print("| " + " | ".join(rows[0]) + " |")
        print("|" + "---|" * len(rows[0]))
        for r in rows[1:]:
            print("| " + " | ".join(r) + " |")
    else:
        print(json.dumps(rows[0]))
        for r in rows[1:]:
            print("  ".join(r))


if __name__ == "__main__":
    main()
