"""One sweep axis as a table: each figure against the axis's values, over training seeds.

    python -m benchmarks.axis_table results/sweeps/privacy-front/results.sqlite \
        --axis train.privacy_weight --cell 0.02,0.2

For every value of the axis (the privacy-front grid: lambda) and the chosen
cell (owner fractions), prints per owner: the utility of its rows, of all
privGAN rows pooled and of those fine-tuned on its own, its own rows, and the
attacks on what crosses its boundary (D_central's attribution, the
black-box attacks on its shared rows) beside the white-box attack on its own
D_j, all AUC; each figure is the mean over the training seeds stored, with
its 95 % Student-t interval when there are two or more (:mod:`privshare.intervals`),
and the number of seeds. Reads the store; computes nothing new. ``--markdown``
prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from privshare.experiments.store import ResultStore
from privshare.intervals import t_interval

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


def _fmt(values: list[float]) -> str:
    if not values:
        return "-"
    mean, lo, hi = t_interval(values)
    return f"{mean:.3f}" if lo is None else f"{mean:.3f} [{lo:.3f}, {hi:.3f}]"


def axis_rows(store: Path, *, axis: str, cell: tuple[float, float]) -> list[list[str]]:
    with ResultStore(store) as s:
        cells = [c for c in s.cells(status="done") if c.mirror_of is None
                 and (c.f0, c.f1) == cell and axis in c.axes]
        results = [r for r in s.results() if r["class"] == "all" and not r["mirrored"]]
    by_cell: dict[int, list[dict]] = {}
    keys = {c.key: c for c in cells}
    for r in results:
        if r["cell"] in keys:
            by_cell.setdefault(r["cell"], []).append(r)
    out = [["owner", axis, "seeds", *(h for h, *_ in COLUMNS)]]
    for owner in ("0", "1"):
        for value in sorted({c.axes[axis] for c in cells}):
            here = [c for c in cells if c.axes[axis] == value]
            line = [owner, f"{value:g}" if isinstance(value, float) else str(value),
                    ",".join(str(c.seed) for c in sorted(here, key=lambda c: c.seed))]
            for _, source, who, metric in COLUMNS:
                sources = source if isinstance(source, tuple) else (source,)
                parts = []
                for src in sources:
                    vals = []
                    for c in here:
                        # a cell's figure: the mean over its evaluation seeds
                        got = [r["value"] for r in by_cell.get(c.key, []) if r["source"] == src
                               and r["owner"] == (owner if who == "j" else who)
                               and r["metric"] == metric and r["value"] is not None]
                        if got:
                            vals.append(sum(got) / len(got))
                    parts.append(_fmt(vals))
                line.append(" / ".join(parts))
            out.append(line)
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("store", type=Path)
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
