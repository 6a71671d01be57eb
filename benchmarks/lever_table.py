"""Side-by-side figures of evaluated runs (an ablation of training settings).

    python -m benchmarks.lever_table RUN_DIR [RUN_DIR ...] [--seed 0] [--markdown]

For each evaluated run folder prints, per owner: accuracy of the utility
sources, image-quality recall (k-NN, the variety of a generator's rows),
the AUC of the attacks on what crosses the owner's boundary and of the
white-box attack on D_j, and the run's training minutes (from run.json).
Means over the evaluation seeds the run was evaluated with, or one seed
(``--seed``), which are printed; nothing is recomputed.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from privshare.artifacts.layout import RunLayout

SOURCES = ("real_own", "gan", "privgan", "privgan_pooled", "own+gan", "own+privgan_pooled",
           "gan>own", "privgan_pooled>own")
ATTACKS = ("privgan_central", "mc_privgan", "nn_privgan", "privgan_d", "gan")


def _mean(rows, **where) -> float | None:
    vals = [r["value"] for r in rows if all(r.get(k) == v for k, v in where.items())
            and r["class"] == "all" and r["value"] is not None]
    return statistics.fmean(vals) if vals else None


def owners_of(rows) -> list[str]:
    """The owners a run's metric rows speak of, in order ("all", the pooled sources' owner, left out)."""
    return sorted({r["owner"] for r in rows if r["owner"] != "all"}, key=int)


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def table(runs: list[Path], seed: int | None = None) -> list[list[str]]:
    head = ["run", "owner", "seeds", "train min", *SOURCES, "recall privgan", "recall gan",
            *(f"AUC {a}" for a in ATTACKS)]
    out = [head]
    for root in runs:
        doc = RunLayout(root).read_metrics()
        rows = [r for r in doc["rows"] if seed is None or r["seed"] == seed]
        seeds = [seed] if seed is not None else doc["seeds"]
        timings = json.loads((root / "run.json").read_text()).get("timings_s", {})
        minutes = sum(v for k, v in timings.items() if k in ("privgan", "gan")) / 60
        for owner in owners_of(rows):
            line = [root.name, owner, ",".join(map(str, seeds)), f"{minutes:.1f}"]
            for s in SOURCES:
                o = "all" if s == "privgan_pooled" else owner
                line.append(_fmt(_mean(rows, source=s, owner=o, metric="accuracy")))
            for s in ("privgan", "gan"):
                line.append(_fmt(_mean(rows, source=s, owner=owner, metric="recall")))
            for a in ATTACKS:
                line.append(_fmt(_mean(rows, source=a, owner=owner, metric="auc")))
            out.append(line)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--markdown", action="store_true")
    p.add_argument("--seed", type=int, default=None, help="only this evaluation seed")
    args = p.parse_args()
    print_table(table(args.runs, seed=args.seed), markdown=args.markdown)


def print_table(rows: list[list[str]], *, markdown: bool) -> None:
    """A header row and its rows, as a Markdown table or right-aligned columns."""
    if markdown:
        print("| " + " | ".join(rows[0]) + " |")
        print("|" + "---|" * len(rows[0]))
        for r in rows[1:]:
            print("| " + " | ".join(r) + " |")
    else:
        width = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            print("  ".join(c.rjust(w) for c, w in zip(r, width)))


if __name__ == "__main__":
    main()
