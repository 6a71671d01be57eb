"""Shrink a sweep store written by an older privshare to what a new one stores.

    python -m benchmarks.compact_store results/sweeps/paper-cells/results.sqlite

- Each cell's ``scores.npz`` is cut to the first evaluation seed's scores in
  float32, each array kept as a set of values in a packed form
  (:func:`privshare.artifacts.scores.first_seed_scores`): the report draws
  nothing else, and every seed's metrics are in the rows. A store cut by an
  earlier privshare (plain float32 arrays) is packed, 1.5-2 times smaller.
- Every ``metrics.json`` of a cell loses its copy of the cell's result rows
  and their summary (the results table holds the rows;
  :func:`privshare.artifacts.scores.metrics_without_rows`), keeping the
  evaluation settings and pool counts, and is stored gzipped
  (:meth:`privshare.experiments.store.ResultStore.compact`).
- Then the file is vacuumed.

Run it while no sweep writes to the store. Run again, it changes nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from privshare.artifacts.layout import RunLayout
from privshare.artifacts.scores import first_seed_scores, metrics_without_rows
from privshare.experiments.store import ResultStore


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("store", type=Path)
    args = p.parse_args()
    with ResultStore(args.store) as store:
        before = args.store.stat().st_size
        cut = store.rewrite_artifacts(RunLayout.SCORES, first_seed_scores)
        slim = store.rewrite_artifacts(RunLayout.METRICS_JSON, metrics_without_rows)
        after = store.compact()[1]
    print(f"{args.store}: {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB "
          f"({cut} scores files cut to the first seed in float32 and packed, "
          f"{slim} metrics.json without their rows)")


if __name__ == "__main__":
    main()
