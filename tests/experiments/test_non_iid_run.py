"""A tiny run whose owner 0 holds no row of class 2: trains, exports, evaluates, reports;
and every split the run cannot train is refused before anything is written (exit 2)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from privshare.artifacts import load_run
from privshare.cli import app
from privshare.config import ConfigError, load_config
from privshare.experiments.sweep import cell_config

runner = CliRunner()
THREE = ["--set", "data.fractions=[0.2, 0.3, 0.2]"]
LACKING = [*THREE, "--set", "data.class_shares=[[0.2, 0.2, 0], [0.3, 0.3, 0.3], [0.2, 0.2, 0.2]]"]
FAST = ["samples=60", "epochs=1", "batch_size=32", "feature_rows=150", "feature_epochs=1",
        "members=30", "nonmembers=40", "blackbox_samples=100", "blackbox_components=4",
        "seeds=[0]", "max_steps=20", "fit_batch_size=32"]


@pytest.fixture(scope="module")
def lacking_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("non_iid")
    args = ["run", "--preset", "tiny", "--out-dir", str(out), "--name", "n", *LACKING]
    for setting in FAST:
        args += ["--eval-set", setting]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    return out / "n"


def test_the_owner_lacking_a_class_trains_and_exports_none_of_it(lacking_run):
    manifest = json.loads((lacking_run / "run.json").read_text())
    assert manifest["status"] == "done"
    counts = manifest["rows_per_class"]["owner_0"]
    assert counts[2] == 0 and min(counts[:2]) > 0
    for method in ("privgan", "gan"):
        with np.load(lacking_run / "owner_0" / f"synthetic_{method}.npz") as f:
            assert sorted(set(f["y"].tolist())) == [0, 1] and len(f["y"]) == 2 * 20
        with np.load(lacking_run / "owner_1" / f"synthetic_{method}.npz") as f:
            assert sorted(set(f["y"].tolist())) == [0, 1, 2]
    run = load_run(lacking_run)
    assert run.holds(0) == (True, True, False) and run.holds(1) == (True, True, True)
    x, y = run.generate("privgan", 0, n_per_class=[3, 4, 5], seed=0)
    assert x.shape == (7, 8, 8) and y.tolist() == [0] * 3 + [1] * 4


def test_the_evaluation_shows_the_missing_class_per_source(lacking_run):
    doc = json.loads((lacking_run / "metrics.json").read_text())
    accuracy = [r for r in doc["rows"] if r["metric"] == "accuracy"]
    pairs = {(r["source"], r["owner"]) for r in accuracy}
    assert {("real_own", "0"), ("privgan", "0"), ("own+privgan_pooled", "0"),
            ("privgan_pooled", "all")} <= pairs
    for source, owner in pairs:  # every source has an accuracy row for every class
        assert {r["class"] for r in accuracy if (r["source"], r["owner"]) == (source, owner)} == {
            "all", "0", "1", "2"}
    sizes = doc["counts"]["0"]["training_rows"]
    assert sizes["privgan/0"] == 2 * (60 // 3)  # G_0 gives no row of class 2
    assert sizes["privgan_pooled/all"] == 60 // 9 * 2 * 3 + 60 // 6 * 2  # class 2 from owners 1, 2
    pools = doc["counts"]["0"]["attack_pools"]["0"]
    assert pools["members"][2] == 0 and min(pools["members"][:2]) > 0  # no pool for class 2
    attacks = {(r["source"], r["class"]) for r in doc["rows"] if r["owner"] == "0"
               and r["metric"] == "auc"}
    assert ("privgan_max", "0") in attacks and ("privgan_max", "2") not in attacks
    assert (lacking_run / "report" / "report.html").is_file()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([*THREE, "--set",
          "data.class_shares=[[0.2, -0.1, 0.2], [0.3, 0.3, 0.3], [0.2, 0.2, 0.2]]"],
         "data.class_shares[0][1]=-0.1 is not a share >= 0"),
        ([*THREE, "--set", "data.class_shares=[[0.5, 0.2, 0.2], [0.3, 0.3, 0.3], [0.3, 0.2, 0.2]]"],
         "sums to 1.1000 > 1"),
        ([*THREE, "--set", "data.class_shares=[[0, 0, 0], [0.3, 0.3, 0.3], [0.2, 0.2, 0.2]]"],
         "owner 0 would hold no rows at all"),
        ([*THREE, "--set", "data.class_shares=[[0.2, 0.2, 0], [0.3, 0.3, 0], [0.2, 0.2, 0]]"],
         "no owner holds class 2"),
        ([*THREE, "--set", "data.class_shares=[[0.2, 0.2, 0], [0.3, 0.3, 0.3], [0.2, 0.2, 0]]"],
         "only owner 1 holds class 2"),
        ([*THREE, "--set", "data.class_shares=[[0.2, 0.2, 0.2], [0.3, 0.3, 0.3]]"],
         "must be 3 x 3"),
        (["--set", "data.classes=[]", "--set", "data.class_shares=[[0.2, 0.2], [0.3, 0.3]]"],
         "must be 2 x 10"),
        (["--set", "data.dirichlet=-1"], "data.dirichlet=-1.0 must be a concentration > 0"),
        (["--set", "data.dirichlet=0.3"], "data.dirichlet=0.3 with seed=0 drew"),
        (["--set", "data.dirichlet=0.5",
          "--set", "data.class_shares=[[0.2, 0.2, 0.2], [0.3, 0.3, 0.3]]"],
         "are both set"),
        ([*THREE, "--set", "data.class_shares=[[0.2, 0.005, 0], [0.3, 0.3, 0.3], [0.2, 0.2, 0.2]]"],
         "share 0.005 gives owner 0 only 1 row(s), fewer than min_rows_per_owner=2"),
    ],
)
def test_splits_the_run_cannot_train_exit_2_and_write_nothing(tmp_path, extra, message):
    out = tmp_path / "o"
    res = runner.invoke(app, ["train", "--preset", "tiny", "--out-dir", str(out), *extra])
    assert res.exit_code == 2, res.output
    assert message in " ".join(res.output.split())  # the console may wrap the line
    assert not out.exists()


def test_a_sweep_over_fractions_refuses_a_fixed_table(tmp_path):
    base = load_config(preset="tiny", overrides=[LACKING[1], LACKING[3]])
    with pytest.raises(ConfigError, match="data.class_shares fixes every owner's share"):
        cell_config(base, method="privgan", fractions=(0.1, 0.2), seed=0, root=tmp_path)
