"""Sweeps whose cells hold more than two owners: the plan, refused cells, a tiny 3-owner
sweep killed and resumed, every owner's fraction in the store, the export and the report."""

from __future__ import annotations

import csv
import signal
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from privshare.cli import app
from privshare.config import ConfigError
from privshare.experiments.grids import load_spec, spec_from_dict
from privshare.experiments.store import ResultStore
from privshare.experiments.sweep import cell_key, plan_cells
from privshare.reports import build_report

from .test_kill_points import _privshare

TINY = {"name": "o", "preset": "tiny", "fractions": [0.1, 0.2, 0.3]}
THREE = (0.1, 0.2, 0.3)
GRID = """name = "o3"
preset = "tiny"
fractions = [0.1, 0.2, 0.3]
cells = [[0.1, 0.2, 0.3]]
methods = ["privgan", "gan"]
set = ["train.epochs_privgan=2", "train.epochs_gan=2"]
evaluate = ["seeds=[0]", "samples=60", "epochs=1", "max_steps=40", "feature_epochs=1",
            "blackbox_samples=50", "members=20", "nonmembers=20"]
"""


def test_plan_of_the_owners_grid():
    spec = load_spec(grid="owners")
    assert spec.preset == "conv" and spec.seeds == (0,) and spec.methods == ("privgan", "gan")
    cells = plan_cells(spec, root=Path("/x"))
    privgan, gan = ([c for c in cells if c.method == m] for m in ("privgan", "gan"))
    three, five = (0.02, 0.1, 0.2), (0.01, 0.02, 0.05, 0.1, 0.2)
    assert [c.fractions for c in privgan] == [three, five]
    assert [c.key for c in privgan] == ["privgan-f0.02-f0.1-f0.2-s0",
                                        "privgan-f0.01-f0.02-f0.05-f0.1-f0.2-s0"]
    for cell, fractions in zip(privgan, (three, five)):
        assert cell.config["data"]["fractions"] == list(fractions)
        assert cell.config["name"] == cell.key
    assert [(c.f0, c.f1) for c in gan] == [(f, f) for f in five]  # one GAN per fraction, shared
    assert len({c.run_seed for c in cells}) == len(cells)


def test_two_owner_cells_keep_their_keys_and_run_seeds():
    # the keys and seeds of the committed paper-cells store (written before N-owner cells)
    cells = {c.key: c for c in plan_cells(load_spec(grid="paper-cells"), root=Path("/x"))}
    assert cell_key("privgan", (0.01, 0.25), seed=0) == "privgan-f0.01-f0.25-s0"
    assert cells["privgan-f0.01-f0.01-s0"].run_seed == 292279063801335294
    assert all(c.fractions == (c.f0, c.f1) for c in cells.values())


@pytest.mark.parametrize("cells, message", [
    ([[0.1]], r"cells entry=\[0.1\]: need at least 2 owners"),
    ([[0.1, 0.2, 0.0]], r"cells entry\[2\]=0.0 is not positive; each must be in \(0, 1\)"),
    ([[0.3, 0.3, 0.3, 0.1]], r"cells entry \[0.3, 0.3, 0.3, 0.1\] gives its owners 100% of each "
                             r"class, more than 95%; .*nonmembers_from"),
    ([[0.1, 0.2, 0.3], [0.1, 0.2, 0.3]], r"cells entry \[0.1, 0.2, 0.3\] is listed twice"),
    ([[0.1, 0.2, 0.4]], r"uses fraction\(s\) \[0.4\] that are not in fractions"),
    ([[0.1, "0.2", 0.3]], r"cells\[0\]\[1\] = '0.2' is a str; expected a number"),
])
def test_a_bad_n_owner_cell_is_refused_in_one_line(cells, message):
    with pytest.raises(ConfigError, match=message) as caught:
        spec_from_dict({**TINY, "cells": cells}, where="grid 'o'")
    text = str(caught.value)
    assert "\n" not in text and text.startswith("grid 'o': ")


def test_a_bad_n_owner_cell_in_a_sweep_file_writes_nothing(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(GRID.replace("[[0.1, 0.2, 0.3]]", "[[0.1, 0.2, 0.3], [0.3, 0.3, 0.3, 0.2]]"))
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["sweep", str(path), "--out-dir", str(out), "--no-report"])
    assert res.exit_code == 2
    assert "cells entry=[0.3, 0.3, 0.3, 0.2] sum to 1.1000 > 1" in " ".join(
        res.output.split())
    assert not out.exists()


def test_a_three_owner_sweep_killed_resumes_and_stores_every_owner(tmp_path):
    spec = tmp_path / "o3.toml"
    spec.write_text(GRID)
    args = ["sweep", str(spec), "--out-dir", str(tmp_path), "--threads", "1", "--no-report"]
    killed = _privshare(args, kill_at="sweep:cell-running")  # the 3-owner cell, first
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    again = _privshare([*args, "--export", "csv"])
    assert again.returncode == 0, again.stderr
    root = tmp_path / "o3"
    with ResultStore(root / "results.sqlite") as store:
        cells = store.cells()
        assert [(c.key, c.fractions, c.status) for c in cells] == [
            ("privgan-f0.1-f0.2-f0.3-s0", THREE, "done"), ("gan-f0.1-f0.1-s0", (0.1, 0.1), "done"),
            ("gan-f0.2-f0.2-s0", (0.2, 0.2), "done"), ("gan-f0.3-f0.3-s0", (0.3, 0.3), "done")]
        assert cells[0].attempts == 2 and all(c.attempts == 1 for c in cells[1:])
        rows = store.results()
    keys = [(r["cell"], r["source"], r["owner"], r["eval_seed"], r["metric"], r["class"])
            for r in rows]
    assert len(keys) == len(set(keys))  # every row stored once
    three = [r for r in rows if r["cell"] == cells[0].key]
    assert {(r["f0"], r["f1"], r["f2"]) for r in three} == {THREE}
    for source in ("privgan_max", "privgan_mean", "privgan_d", "privgan_central", "privgan"):
        assert {r["owner"] for r in three if r["source"] == source and r["metric"] in (
            "auc", "accuracy") and r["class"] == "all"} == {"0", "1", "2"}, source
    with (root / "results.csv").open() as fh:
        lines = list(csv.DictReader(fh))
    assert len(lines) == len(rows) and {r["f2"] for r in lines if r["method"] == "privgan"} == {
        "0.3"}

    _max_is_over_every_discriminator(root / cells[0].run_dir)
    report = build_report(root)
    assert "owners_vs_fraction" in {f.name for f in report.figures}
    page = report.html.read_text()
    for j in range(3):
        assert f"Cell 10 % / 20 % / 30 % (training seed 0): Owner {j}" in page


def _max_is_over_every_discriminator(run_dir: Path) -> None:
    """The trained 3-owner run: privGAN's white-box max takes all three D_i, with rows
    where only the third is the largest."""
    from privshare.artifacts import load_run
    from privshare.attacks import score
    from privshare.experiments.run import prepare_data

    run = load_run(run_dir)
    assert run.owners == 3
    dataset, _ = prepare_data(run.config)
    keep = np.isin(dataset.y_train, run.classes)
    x, y = dataset.x_train[keep], dataset.y_train[keep]
    per_d = np.stack([run.score("privgan", j, x, y) for j in range(3)])  # (3, n)
    assert (per_d[2] > per_d[:2].max(axis=0)).any()  # a max over two would differ there
    for owner in range(3):
        np.testing.assert_array_equal(
            score("logan", run, owner=owner, x=x, y=y, method="privgan", aggregate="max"),
            per_d.max(axis=0))
    central = np.stack([score("central_attribution", run, owner=j, x=x, y=y) for j in range(3)])
    np.testing.assert_allclose(central.sum(axis=0), 1.0, rtol=1e-5)  # one probability per owner
