"""``privshare federated ...`` through the main command line (tiny preset, in-process)."""

from __future__ import annotations

import tomllib

from typer.testing import CliRunner

from privshare.artifacts import load_run
from privshare.cli import app

runner = CliRunner()


def test_simulate_inprocess_writes_a_run_folder(tmp_path):
    res = runner.invoke(app, ["federated", "simulate", "--preset", "tiny", "--out-dir",
                              str(tmp_path), "--name", "f", "--engine", "inprocess",
                              "--set", "train.epochs_privgan=1", "-k", "2"])
    assert res.exit_code == 0, res.output
    assert "2 rounds of K=2 (4 steps)" in res.output
    run = load_run(tmp_path / "f")
    assert run.methods == ("privgan",) and run.manifest["federated"]["local_steps"] == 2
    assert all(run.layout.synthetic("privgan", j).is_file() for j in range(2))


def test_app_writes_the_flower_app_and_split_the_owner_files(tmp_path):
    res = runner.invoke(app, ["federated", "app", str(tmp_path / "app"), "--preset", "tiny",
                              "-k", "4", "--run-dir", str(tmp_path / "server")])
    assert res.exit_code == 0, res.output
    flwr = tomllib.loads((tmp_path / "app" / "pyproject.toml").read_text())["tool"]["flwr"]["app"]
    assert flwr["components"]["clientapp"] == "privshare.federated.client_app:app"
    assert flwr["config"]["local-steps"] == 4 and "privshare-config" in flwr["config"]
    res = runner.invoke(app, ["federated", "split", str(tmp_path / "rows"), "--preset", "tiny"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp_path / "rows").iterdir()) == [
        "owner_0_rows.npz", "owner_1_rows.npz", "partition.npz"]


def test_bad_setting_is_a_clean_error(tmp_path):
    res = runner.invoke(app, ["federated", "simulate", "--preset", "tiny", "--out-dir",
                              str(tmp_path), "--engine", "inprocess", "-k", "0"])
    assert res.exit_code == 2 and "local-steps=0 must be >= 1" in res.output
