"""Does the project's utility figure rank sources as an independent classifier does?

    python -m benchmarks.utility_check RUN_DIR [--seed 0] [--components 50]

For one evaluated run folder: rebuilds the training sets of evaluation seed
``--seed`` exactly as ``privshare evaluate`` draws them, trains an
independent classifier on each (scikit-learn: PCA to ``--components``
dimensions, then an RBF support-vector machine with its default C and
gamma), tests it on the real test split, and prints its accuracy beside the
project's converged-protocol accuracy for that seed (from metrics.json),
with Kendall's tau between the two orderings. Results go to a JSON file.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from scipy.stats import kendalltau
from sklearn.decomposition import PCA
from sklearn.pipeline import make_pipeline
from sklearn.svm import SVC

from benchmarks.results import write_result
from privshare.artifacts import load_run
from privshare.artifacts.layout import RunLayout
from privshare.evaluation import load_eval_config, training_sets
from privshare.experiments.evaluate import _data


def independent_accuracy(x, y, x_test, y_test, *, components: int, seed: int) -> float:
    flat = lambda a: a.reshape(len(a), -1).astype(np.float32) / 255.0  # noqa: E731
    model = make_pipeline(PCA(n_components=components, random_state=seed), SVC())
    model.fit(flat(x), y)
    return float((model.predict(flat(x_test)) == y_test).mean())


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--components", type=int, default=50)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    doc = RunLayout(args.run_dir).read_metrics()
    saved = doc["config"]
    config = replace(load_eval_config(), utility_sources=tuple(saved["utility_sources"]),
                     samples=saved["samples"], real_rows=saved["real_rows"])
    run = load_run(args.run_dir)
    dataset, partition = _data(run)
    test = np.isin(dataset.y_test, run.classes)
    x_test, y_test = dataset.x_test[test], dataset.y_test[test]
    ours = {(r["source"], r["owner"]): r["value"] for r in doc["rows"]
            if r["metric"] == "accuracy" and r["class"] == "all" and r["seed"] == args.seed}
    rows = []
    sets = training_sets(run, dataset=dataset, partition=partition, config=config, seed=args.seed)
    for (source, owner), (x, y) in sets.items():
        start = time.perf_counter()
        acc = independent_accuracy(x, y, x_test, y_test, components=args.components, seed=args.seed)
        rows.append({"source": source, "owner": owner, "rows": len(x), "project": ours.get((source, owner)),
                     "independent": acc, "seconds": round(time.perf_counter() - start, 1)})
        print(f"{source:20s} {owner:>3s} {len(x):6d} rows  project {rows[-1]['project']:.3f}  "
              f"PCA-{args.components}+SVM {acc:.3f}  ({rows[-1]['seconds']} s)", flush=True)
    paired = [(r["project"], r["independent"]) for r in rows if r["project"] is not None]
    tau = kendalltau(*zip(*paired)).statistic if len(paired) > 1 else float("nan")
    print(f"Kendall tau between the two orderings: {tau:.3f} over {len(paired)} sources")
    when = datetime.now(timezone.utc).isoformat(timespec="seconds")
    path = write_result({"when": when, "run": str(args.run_dir), "seed": args.seed,
                         "components": args.components, "rows": rows, "kendall_tau": tau},
                        stem="utility_check", out=args.out)
    print(f"written {path}")


if __name__ == "__main__":
    main()
