"""A sweep with an axis: figures against it, from a store with known numbers (no training)."""

from __future__ import annotations

import re

import pytest

from privshare.experiments.store import Cell, ResultStore
from privshare.intervals import t_interval
from privshare.reports import build_report
from privshare.reports import names as N
from privshare.reports.axis_figures import axis_points, parse_metric
from privshare.reports.results import load_results

from .conftest import _artifacts, _rows

KEY = "train.privacy_weight"
WEIGHTS = (0.0, 0.1, 1.0, 10.0)
PAIRS = ((0.05, 0.2), (0.2, 0.05), (0.1, 0.4))
SEEDS = (0, 1, 2)


def accuracy(pair: int, owner: str, w: float, seed: int) -> float:
    """G_j's accuracy: falls with the weight, differs by cell, owner and training seed."""
    return 0.8 - 0.02 * WEIGHTS.index(w) - 0.1 * pair - 0.05 * int(owner) + 0.01 * seed


def make_axis_store(root):
    cells = [Cell(key=f"privgan-{f0}-{f1}-s{seed}-{KEY}={w:g}", method="privgan",
                  fractions=(f0, f1), seed=seed, run_seed=seed, run_dir="cells/x", config={},
                  axes={KEY: w})
             for seed in SEEDS for f0, f1 in PAIRS for w in WEIGHTS]
    root.mkdir(parents=True, exist_ok=True)
    with ResultStore(root / "results.sqlite", create=True) as store:
        store.initialise(spec={"name": "front", "seeds": list(SEEDS), "eval_seeds": [0],
                               "axes": {KEY: list(WEIGHTS)}}, cells=cells, info={})
        for cell in store.cells():
            pair = PAIRS.index((cell.f0, cell.f1))
            rows = _rows("privgan", cell.f0, cell.f1)
            for r in rows:
                if r["source"] == "privgan" and r["metric"] == N.ACCURACY:
                    r["value"] = accuracy(pair, r["owner"], cell.axes[KEY], cell.seed)
            store.finish(cell.id, rows=rows, artifacts=_artifacts("privgan", cell.f0, cell.id),
                         elapsed_s=1.0)
    return root


@pytest.fixture(scope="module")
def front(tmp_path_factory):
    root = make_axis_store(tmp_path_factory.mktemp("a") / "front")
    return root, build_report(root)


def test_each_point_is_the_mean_and_t_interval_over_training_seeds(front):
    root, _ = front
    res = load_results(root)
    assert res.axes == {KEY: list(WEIGHTS)}
    assert res.cells[0].axes == {KEY: 0.0} and res.rows[0][KEY] == 0.0
    lines = axis_points(res, key=KEY, source="privgan", metric=N.ACCURACY)
    assert set(lines) == {(o, (f0, f1), ()) for o in "01" for f0, f1 in PAIRS}
    for (owner, (f0, f1), _), points in lines.items():
        assert [p[0] for p in points] == list(WEIGHTS)
        for w, mean, lo, hi, what in points:
            want = t_interval([accuracy(PAIRS.index((f0, f1)), owner, w, s) for s in SEEDS])
            assert (mean, lo, hi) == pytest.approx(want)
            assert lo < mean < hi and what == "3 training seeds"


def test_a_figure_per_metric_against_the_axis_labelled_with_its_seeds(front):
    _, report = front
    names = {f.name for f in report.figures}
    assert {"axis_train_privacy_weight_privgan_accuracy",
            "axis_train_privacy_weight_privgan_max_auc"} <= names
    assert "axis_train_privacy_weight_privgan_central_auc" not in names  # no such rows stored
    fig = next(f for f in report.figures if f.name == "axis_train_privacy_weight_privgan_accuracy")
    svg = fig.svg.read_text()
    assert "training seeds [0, 1, 2], evaluation seeds [0]" in svg
    assert "train.privacy_weight (log scale)" in svg  # 0 beside 0.1-10: symlog
    assert "n: 3 training seeds" in svg and "Student-t" in fig.caption


def test_fraction_figures_show_one_axis_value_and_tables_name_it(front):
    _, report = front
    sliced = next(f for f in report.figures if f.name == "fig7_attack_vs_fraction")
    assert "Drawn for the cells with train.privacy_weight = 0 only" in sliced.caption
    scatter = next(f for f in report.figures if f.name == "privacy_utility")
    assert "Drawn for" not in scatter.caption  # a point per cell: every weight
    page = report.html.read_text()
    assert "Axis train.privacy_weight: 0, 0.1, 1, 10." in page
    assert re.search(r"<th>train\.privacy_weight</th>", page)  # a column of the utility table
    assert "5% with 20% (train.privacy_weight = 10)" in page  # (a, b) against (b, a) per weight


def test_a_metric_that_is_not_source_colon_metric_is_refused(tmp_path):
    with pytest.raises(ValueError, match="metric 'auc' must be source:metric"):
        parse_metric("auc")
    root = make_axis_store(tmp_path / "s")
    with pytest.raises(ValueError, match="source:metric"):
        build_report(root, axis_metrics=("privgan_central",))
    assert not (root / "report").exists()  # refused before anything is written
    report = build_report(root, axis_metrics=("privgan_pooled:accuracy",))
    assert [f.name for f in report.figures if f.name.startswith("axis_")] == [
        "axis_train_privacy_weight_privgan_pooled_accuracy"]


def test_a_sweep_still_running_names_the_seeds_stored_and_those_planned(tmp_path):
    root = make_axis_store(tmp_path / "front")
    with ResultStore(root / "results.sqlite") as store:  # seed 2's cells are not done yet
        store._con.execute("DELETE FROM results WHERE cell_id IN "
                           "(SELECT id FROM cells WHERE seed = 2)")
        store._con.execute("UPDATE cells SET status = 'pending' WHERE seed = 2")
        store._con.commit()
    report = build_report(root)
    fig = next(f for f in report.figures if f.name == "axis_train_privacy_weight_privgan_accuracy")
    svg = fig.svg.read_text()
    assert "training seeds [0, 1] (of [0, 1, 2] planned), evaluation seeds [0]" in svg
    assert "n: 2 training seeds" in svg
