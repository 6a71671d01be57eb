"""What a source gains an owner over its own rows, paired by training and evaluation seed.

    python -m benchmarks.paired_gain results/levers/conv16-r10-l10-e40-bn-s{0,1,2} \\
        --sources "privgan_pooled>own,gan>own,own+privgan_pooled" --extra-seeds 1,2 \\
        --save results/levers/conv16-r10-l10-e40-bn-finetune-seeds-1-2.json

Each RUN_DIR is an evaluated run (its metrics.json, usually evaluation seed 0
of the ``quick`` preset). ``--extra-seeds`` evaluates those seeds too, for
``real_own`` and ``--sources`` only (attacks off, nothing written to the run
folder; the rows go to ``--save``, and a later call with ``--load`` reads
them instead of recomputing). Prints, per owner and source, the mean
accuracy and the mean paired difference against ``real_own`` over every
(training seed, evaluation seed) pair, with a 95 % Student-t interval over
the pairs, and the same interval over training seeds (each the mean of its
evaluation seeds).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from privshare.artifacts.layout import RunLayout
from privshare.intervals import t_interval

ACCURACY = "accuracy"
BASE = "real_own"


def _rows(doc_rows: list[dict]) -> list[dict]:
    return [r for r in doc_rows if r["metric"] == ACCURACY and r["class"] == "all"]


def extra_rows(run_dir: Path, *, seeds: list[int], sources: list[str]) -> list[dict]:
    """Accuracy rows of ``seeds`` for ``real_own`` and ``sources`` (quick preset, no attacks)."""
    from privshare.artifacts.run import load_run
    from privshare.evaluation import load_eval_config
    from privshare.experiments.evaluate import evaluate_run

    listed = ", ".join(f'"{s}"' for s in [BASE, *sources])
    config = load_eval_config(preset="quick", overrides=[
        f"seeds={seeds}", "attacks=[]", f"utility_sources=[{listed}]"])
    return _rows(evaluate_run(load_run(run_dir), config=config, write=False).rows)


def _interval(values: list[float]) -> str:
    m, lo, hi = t_interval(values)
    return f"{m:+.4f}" + ("" if lo is None else f" [{lo:+.4f}, {hi:+.4f}]")


def table(values: dict[tuple, float], *, runs: list[str], sources: list[str]) -> list[str]:
    """One line per owner and source: mean accuracy, paired gain over pairs and over runs."""
    out = []
    owners = sorted({k[3] for k in values if k[2] == BASE})
    for o in owners:
        for src in [BASE, *sources]:
            keys = [k for k in values if k[2] == src and k[3] == o]
            if not keys:
                continue
            acc = statistics.fmean(values[k] for k in keys)
            line = f"owner {o}  {src:20s} accuracy {acc:.4f} (n={len(keys)})"
            if src != BASE:
                pairs = [(k[0], k[1]) for k in keys if (k[0], k[1], BASE, o) in values]
                diff = [values[(r, e, src, o)] - values[(r, e, BASE, o)] for r, e in pairs]
                per_run = [statistics.fmean(values[(r, e, src, o)] - values[(r, e, BASE, o)]
                                            for rr, e in pairs if rr == r) for r in runs
                           if any(rr == r for rr, _ in pairs)]
                line += f"  gain {_interval(diff)} over {len(diff)} pairs, " \
                        f"{_interval(per_run)} over {len(per_run)} runs"
            out.append(line)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--sources", required=True, help="comma-separated utility sources")
    p.add_argument("--extra-seeds", default="", help="evaluation seeds to add, e.g. 1,2")
    p.add_argument("--save", type=Path, help="write the extra seeds' rows here (JSON)")
    p.add_argument("--load", type=Path, help="read the extra seeds' rows from here instead")
    args = p.parse_args()
    sources = [s for s in args.sources.split(",") if s]
    extra: dict[str, list[dict]] = json.loads(args.load.read_text()) if args.load else {}
    seeds = [int(s) for s in args.extra_seeds.split(",") if s]
    values: dict[tuple, float] = {}
    for run in args.runs:
        rows = _rows(RunLayout(run).read_metrics()["rows"])
        if seeds and run.name not in extra:
            extra[run.name] = extra_rows(run, seeds=seeds, sources=sources)
            if args.save:
                args.save.write_text(json.dumps(extra, indent=1))
        for r in rows + extra.get(run.name, []):
            values[(run.name, r["seed"], r["source"], r["owner"])] = r["value"]
    print("\n".join(table(values, runs=[r.name for r in args.runs], sources=sources)))


if __name__ == "__main__":
    main()
