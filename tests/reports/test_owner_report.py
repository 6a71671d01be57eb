"""Reports of sweeps with cells of more than two owners (no training): every owner's
fraction read back, one line per owner, the per-owner figure, the grid figures from the
two-owner cells only."""

from __future__ import annotations

import csv
import sqlite3

import pytest

from privshare.experiments.store import Cell, ResultStore
from privshare.reports import build_report
from privshare.reports import names as N
from privshare.reports.answer import cell_answers
from privshare.reports.owner_figures import owner_points
from privshare.reports.results import load_results

from .conftest import CLASSES, FRACTIONS, _artifacts, _npz, _rows, utility

MANY = [(0.05, 0.1, 0.2), (0.05, 0.05, 0.1, 0.2)]  # cells of 3 and 4 owners
KEY = "train.privacy_weight"


def g_accuracy(cell: int, owner: int) -> float:
    return 0.4 + 0.1 * owner + 0.01 * cell  # G_j's accuracy in the N-owner cell ``cell``


def auc(source: str, owner: int) -> float:
    return {"privgan_max": 0.6, "privgan_central": 0.55, "mc_privgan": 0.5}[source] + 0.01 * owner


def _many_rows(cell: int, fractions: tuple[float, ...]) -> list[dict]:
    rows = []

    def add(source, owner, metric, value, cls=N.ALL):
        rows.append({"source": source, "owner": owner, "eval_seed": 0, "metric": metric,
                     "class": cls, "value": value, "n": 100})

    for j, f in enumerate(fractions):
        o = str(j)
        add("real_own", o, N.ACCURACY, utility("real_own", f))
        add("privgan", o, N.ACCURACY, g_accuracy(cell, j))
        add("own+privgan_pooled", o, N.ACCURACY, 0.99)
        for source in ("privgan_max", "privgan_central", "mc_privgan"):
            add(source, o, N.AUC, auc(source, j))
        for source in ("privgan_max", "privgan_mean"):
            for cls in (N.ALL, *CLASSES):
                add(source, o, N.ATTACK_ACCURACY, 0.2, cls)
                add(source, o, N.BASE_RATE, 0.2, cls)
            add(source, o, N.ADVANTAGE, 0.01 * j)
    add("privgan_pooled", N.POOLED_OWNER, N.ACCURACY, 0.7)
    return rows


def _samples(fractions: tuple[float, ...]) -> dict[str, bytes]:
    import numpy as np

    y = np.repeat(np.arange(len(CLASSES)), 10)
    x = np.full((len(y), 8, 8), 128, dtype=np.uint8)
    return {f"samples_privgan_owner{j}.npz": _npz(x=x, y=y) for j in range(len(fractions))}


def make_many_store(root, *, pairs: bool = True, weights: tuple[float, ...] = ()):
    """N-owner privGAN cells, one GAN cell per fraction and (``pairs``) the 3 x 3 pair cross;
    with ``weights``, every cell once per value of the axis ``train.privacy_weight``."""
    combos = [{KEY: w} for w in weights] or [{}]
    specs = []
    for values in combos:
        suffix = "".join(f"-w{v}" for v in values.values())
        for i, fr in enumerate(MANY):
            specs.append(("many", i, Cell(
                key=f"privgan-{'-'.join(map(str, fr))}{suffix}", method="privgan", fractions=fr,
                seed=0, run_seed=i, run_dir="cells/x", config={}, axes=values)))
        for f0, f1 in ([(a, b) for a in FRACTIONS for b in FRACTIONS] if pairs else []):
            specs.append(("privgan", 0, Cell(
                key=f"privgan-{f0}-{f1}{suffix}", method="privgan", fractions=(f0, f1), seed=0,
                run_seed=1, run_dir="cells/x", config={}, axes=values)))
        for f in FRACTIONS:
            specs.append(("gan", 0, Cell(key=f"gan-{f}-{f}{suffix}", method="gan", fractions=(f, f),
                                         seed=0, run_seed=2, run_dir="cells/x", config={},
                                         axes=values)))
    root.mkdir(parents=True, exist_ok=True)
    with ResultStore(root / "results.sqlite", create=True) as store:
        store.initialise(spec={"name": "many", "seeds": [0], "eval_seeds": [0]},
                         cells=[s for _, _, s in specs], info={})
        ids = {c.key: c for c in store.cells()}
        for kind, i, spec in specs:
            cell = ids[spec.key]
            if kind == "many":
                store.finish(cell.id, rows=_many_rows(i, cell.fractions),
                             artifacts=_samples(cell.fractions), elapsed_s=1.0)
            else:
                store.finish(cell.id, rows=_rows(cell.method, cell.f0, cell.f1),
                             artifacts=_artifacts(cell.method, cell.f0, cell.id), elapsed_s=1.0)
    return root


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    root = make_many_store(tmp_path_factory.mktemp("m") / "sweep")
    return root, build_report(root)


def test_the_store_and_its_export_hold_every_owners_fraction(many, tmp_path):
    root, _ = many
    with ResultStore(root / "results.sqlite") as store:
        cells = {c.key: c for c in store.cells()}
        assert cells["privgan-0.05-0.05-0.1-0.2"].fractions == (0.05, 0.05, 0.1, 0.2)
        assert cells["gan-0.1-0.1"].fractions == (0.1, 0.1)
        rows = store.results()
        three = [r for r in rows if r["cell"] == "privgan-0.05-0.1-0.2"]
        assert {(r["f2"], r["f3"]) for r in three} == {(0.2, None)}
        path = store.export(tmp_path / "rows.csv")
    with path.open() as fh:
        lines = list(csv.DictReader(fh))
    assert list(lines[0])[:6] == ["cell", "method", "f0", "f1", "f2", "f3"]
    four = [r for r in lines if r["cell"] == "privgan-0.05-0.05-0.1-0.2"]
    assert {(r["f0"], r["f1"], r["f2"], r["f3"]) for r in four} == {("0.05", "0.05", "0.1", "0.2")}
    assert {r["f2"] for r in lines if r["method"] == "gan"} == {""}


def test_rows_know_their_owners_fraction_and_there_is_no_single_partner(many):
    root, _ = many
    res = load_results(root)
    owner2 = res.select(cell="privgan-0.05-0.1-0.2", source="privgan", owner="2")
    assert [(r["owner_fraction"], r["partner_fraction"], r["owners"]) for r in owner2] == [
        (0.2, None, 3)]
    assert res.fractions == list(FRACTIONS)
    assert {c.owners for c in res.two_owner().cells} == {2} and len(res.two_owner().cells) == 12


def test_every_owner_of_an_n_owner_cell_gets_an_answer_with_its_local_gan(many):
    root, report = many
    res = load_results(root)
    found = {c.key: answers for c, answers in cell_answers(res.cells, res.rows)}
    assert len(found) == 9 + len(MANY)
    answers = found["privgan-0.05-0.05-0.1-0.2"]
    assert [a.owner for a in answers] == ["0", "1", "2", "3"]
    for a, f in zip(answers, MANY[1]):  # the GAN cell of the owner's own fraction
        assert a.options["local-GAN rows only"][1].mean == pytest.approx(utility("gan", f))
        assert a.options["own rows alone"][1].mean == pytest.approx(utility("real_own", f))
        assert a.attack[0] == "privgan_central"  # the strongest shared attack
    page = report.html.read_text()
    assert "Cell 5 % / 10 % / 20 % (training seed 0): Owner 2" in page
    assert "Cell 5 % / 5 % / 10 % / 20 % (training seed 0): Owner 3" in page


def test_tables_have_one_line_per_owner(many):
    _, report = many
    page = report.html.read_text()
    assert "Utility per owner: cells of more than two owners" in page
    table = page.split("Utility per owner")[1].split("</table>")[0]
    assert table.count("<tr>") - 1 == sum(len(fr) for fr in MANY)  # header + a line per owner
    assert f"{g_accuracy(1, 3):.3f}" in table
    assert "<th>owner 3</th>" in page  # the cells table has a column per owner


def test_grid_figures_from_pairs_and_a_per_owner_figure_for_the_rest(many):
    root, report = many
    names = {f.name for f in report.figures}
    assert {"fig5_utility_heatmaps", "fig6_utility_vs_fraction", "fig7_attack_vs_fraction",
            "roc_attacks", "privacy_utility", "owners_vs_fraction", "fig4_samples"} <= names
    assert report.skipped == {}
    svg = next(f for f in report.figures if f.name == "owners_vs_fraction").svg.read_text()
    assert "cell 5 % / 10 % / 20 % (seed 0)" in svg and "strongest attack" in svg
    res = load_results(root)
    cell = next(c for c in res.cells if c.fractions == MANY[0])
    assert owner_points(res, cell) == [
        (str(j), f, pytest.approx(g_accuracy(0, j)), ("privgan_max", pytest.approx(auc(
            "privgan_max", j)))) for j, f in enumerate(MANY[0])]
    assert "privGAN G_j" in next(f for f in report.figures if f.name == "fig4_samples"
                                 ).svg.read_text()


def test_a_sweep_of_n_owner_cells_only_skips_the_pair_figures_and_says_why(tmp_path):
    report = build_report(make_many_store(tmp_path / "only", pairs=False))
    assert "owners_vs_fraction" in {f.name for f in report.figures}
    assert "fig5 utility heatmaps" in report.skipped
    assert "two-owner cells only" in report.skipped["fig5 utility heatmaps"]
    assert "Utility: classifier accuracy" not in report.html.read_text()  # no empty pair table


def test_figures_against_an_axis_label_the_lines_of_n_owner_cells(tmp_path):
    root = make_many_store(tmp_path / "axis", pairs=False, weights=(0.0, 1.0))
    report = build_report(root, axis_metrics=("privgan:accuracy",))
    fig = next(f for f in report.figures if f.name == "axis_train_privacy_weight_privgan_accuracy")
    svg = fig.svg.read_text()
    assert "owner 3" in svg and "this owner 20 % of owners at 5 % / 5 % / 10 % / 20 %" in svg


def test_a_store_of_two_owner_cells_keeps_the_tables_it_had(tmp_path):
    from .conftest import make_store

    root = make_store(tmp_path / "pairs")
    con = sqlite3.connect(f"file:{root / 'results.sqlite'}?mode=ro", uri=True)
    try:
        tables = sorted(r[0] for r in con.execute("SELECT name FROM sqlite_master "
                                                  "WHERE type = 'table'"))
    finally:
        con.close()
    assert tables == ["artifacts", "cells", "meta", "results"]  # no cell_fractions
    res = load_results(root)
    assert all(c.fractions == (c.f0, c.f1) for c in res.cells)
