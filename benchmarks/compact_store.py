"""Pack the text artifacts of a sweep store written before they were stored gzipped.

    python -m benchmarks.compact_store results/sweeps/paper-cells/results.sqlite

Every ``metrics.json`` of a cell (about 1.7 MB at the paper's scale, a copy
of the cell's result rows with its evaluation settings and pool counts) is
stored gzipped (about 14 times smaller); the store reads it back byte for
byte (:meth:`privshare.experiments.store.ResultStore.compact`). Then the file
is vacuumed. Run it while no sweep writes to the store.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from privshare.experiments.store import ResultStore


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("store", type=Path)
    args = p.parse_args()
    with ResultStore(args.store) as store:
        before, after = store.compact()
    print(f"{args.store}: {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
