"""benchmarks.axis_table: figures against a sweep axis, mean and interval over training seeds."""

from __future__ import annotations

from benchmarks.axis_table import axis_rows
from privshare.experiments.store import Cell, ResultStore

KEY = "train.privacy_weight"


def _rows(g0: float, central: float) -> list[dict]:
    def row(source, owner, metric, value):
        return {"source": source, "owner": owner, "eval_seed": 0, "metric": metric, "class": "all",
                "value": value, "n": 10}
    return [row("privgan", "0", "accuracy", g0), row("privgan", "1", "accuracy", 0.8),
            row("privgan_central", "0", "auc", central), row("real_own", "0", "accuracy", 0.95)]


def test_axis_table_means_over_training_seeds_with_an_interval(tmp_path):
    cells = [Cell(key=f"privgan-f0.02-f0.2-s{s}-{KEY}={w:g}", method="privgan", fractions=(0.02, 0.2),
                  seed=s, run_seed=10 + s, run_dir=f"c{s}{w}", config={}, axes={KEY: w})
             for w in (0.0, 1.0) for s in (0, 1, 2)]
    cells.append(Cell(key="privgan-f0.01-f0.25-s0", method="privgan", fractions=(0.01, 0.25), seed=0,
                      run_seed=9, run_dir="other", config={}, axes={KEY: 0.0}))
    path = tmp_path / "r.sqlite"
    with ResultStore(path, create=True) as store:
        store.initialise(spec={"name": "t"}, cells=cells, info={})
        by_key = {c.key: c for c in store.cells()}
        for c in cells:
            w, s = c.axes[KEY], c.seed
            g0 = 0.9 + 0.01 * s - 0.1 * w  # seeds 0.90 / 0.91 / 0.92 at lambda 0
            store.finish(by_key[c.key].id, rows=_rows(g0, 0.5 + 0.01 * s), elapsed_s=1.0,
                         artifacts={})
        store.mark_failed(by_key["privgan-f0.01-f0.25-s0"].id, "x")  # not done: left out
    rows = axis_rows(path, axis=KEY, cell=(0.02, 0.2))
    head, body = rows[0], rows[1:]
    assert head[:3] == ["owner", KEY, "seeds"]
    zero = next(r for r in body if r[0] == "0" and r[1] == "0")
    one = next(r for r in body if r[0] == "0" and r[1] == "1")
    assert zero[2] == "0,1,2"
    # mean 0.91, sd 0.01 over 3 seeds: half-width t(0.975, 2) * 0.01 / sqrt(3) = 0.0248
    assert zero[head.index("G_j rows")] == "0.910 [0.885, 0.935]"
    assert one[head.index("G_j rows")].startswith("0.810 [")
    assert zero[head.index("AUC D_central")] == "0.510 [0.485, 0.535]"
    assert zero[head.index("own rows")] == "0.950 [0.950, 0.950]"
    assert zero[head.index("all privGAN rows")] == "-"  # not stored
    owner1 = next(r for r in body if r[0] == "1" and r[1] == "0")
    assert owner1[head.index("G_j rows")] == "0.800 [0.800, 0.800]"
