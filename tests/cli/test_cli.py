"""End to end through the command line on the tiny preset (8x8 digits, seconds)."""

from __future__ import annotations

import json
import re
import tomllib

import numpy as np
import pytest
from typer.testing import CliRunner

from privshare.artifacts import load_run
from privshare.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    res = runner.invoke(app, ["train", "--preset", "tiny", "--out-dir", str(out), "--name", "t"])
    assert res.exit_code == 0, res.output
    return out / "t"


def test_train_writes_the_run_folder(tiny_run):
    run = load_run(tiny_run)
    assert json.loads((tiny_run / "run.json").read_text())["status"] == "done"
    assert tomllib.loads((tiny_run / "config.toml").read_text())["train"]["epochs_gan"] == 2
    history = json.loads((tiny_run / "history.json").read_text())
    assert set(history) == {"privgan", "gan_owner_0", "gan_owner_1"}
    assert len(history["privgan"]) == 2 and "central" in history["privgan"][0]
    assert (tiny_run / "central" / "privgan_central.pt").is_file()
    for method in ("privgan", "gan"):
        for j in (0, 1):
            data = np.load(run.layout.synthetic(method, j))
            assert data["x"].dtype == np.uint8 and data["x"].shape == (60, 8, 8)
            assert sorted(set(data["y"].tolist())) == [0, 1, 2]
            assert np.bincount(data["y"]).tolist() == [20, 20, 20]
            assert run.layout.grid(method, j).stat().st_size > 0
    part = run.partition()
    assert all(len(set(a) & set(b)) == 0 for a, b in [(part.owner_indices[0], part.owner_indices[1])])


def test_generate_needs_only_the_run_folder(tiny_run, tmp_path):
    out = tmp_path / "more.npz"
    res = runner.invoke(app, ["generate", str(tiny_run), "-n", "7", "--owner", "1", "--out", str(out)])
    assert res.exit_code == 0, res.output
    data = np.load(out)
    assert data["x"].shape == (21, 8, 8) and np.bincount(data["y"]).tolist() == [7, 7, 7]
    again = tmp_path / "again.npz"
    runner.invoke(app, ["generate", str(tiny_run), "-n", "7", "--owner", "1", "--out", str(again)])
    assert np.array_equal(np.load(again)["x"], data["x"])  # same seed, same samples


def test_rerun_with_same_config_resumes_and_other_config_is_refused(tiny_run):
    args = ["train", "--preset", "tiny", "--out-dir", str(tiny_run.parent), "--name", "t"]
    model = tiny_run / "owner_0" / "privgan_model.pt"
    before = model.stat().st_mtime_ns
    assert runner.invoke(app, args).exit_code == 0  # everything done: nothing retrained
    assert model.stat().st_mtime_ns == before
    assert not list((tiny_run / "checkpoints").glob("*.pt"))  # removed once a method finished
    res = runner.invoke(app, [*args, "--set", "train.epochs_gan=3"])
    assert res.exit_code == 2 and "another configuration" in res.output
    assert "train.epochs_gan: 2 -> 3" in res.output  # which setting differs, saved -> asked


def test_a_run_resumes_with_an_out_dir_that_names_the_same_folder(tiny_run, monkeypatch):
    monkeypatch.chdir(tiny_run.parent.parent)  # the same folder, as a relative path
    relative = tiny_run.parent.name
    res = runner.invoke(app, ["train", "--preset", "tiny", "--out-dir", relative, "--name", "t"])
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--set", "data.fractions=[0.7, 0.6]"], "sum to 1.3000"),
        (["--set", "train.bogus=1"], "unknown config key"),
        (["--set", "data.fractions=[0.001, 0.2]"], "class"),
        (["--set", "data.name=imagenet"], "imagenet"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(tmp_path, extra, message):
    res = runner.invoke(app, ["train", "--preset", "tiny", "--out-dir", str(tmp_path / "o"), *extra])
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert not (tmp_path / "o").exists()


def test_generate_on_a_missing_folder_fails_cleanly(tmp_path):
    res = runner.invoke(app, ["generate", str(tmp_path / "nothing")])
    assert res.exit_code == 2 and "not a privshare run folder" in res.output


def test_run_trains_evaluates_and_writes_the_report(tmp_path):
    fast = ["samples=60", "epochs=1", "batch_size=32", "feature_rows=150", "feature_epochs=1",
            "members=30", "nonmembers=40", "blackbox_samples=100", "blackbox_components=4",
            "seeds=[0, 1]", "max_steps=20", "fit_batch_size=32"]
    args = ["run", "--preset", "tiny", "--out-dir", str(tmp_path), "--name", "r"]
    for setting in fast:
        args += ["--eval-set", setting]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    root = tmp_path / "r"
    doc = json.loads((root / "metrics.json").read_text())
    assert doc["config"]["samples"] == 60 and doc["config"]["blackbox_space"] == "pca"
    assert {r["source"] for r in doc["rows"]} >= {"real_own", "privgan", "gan", "privgan_max"}
    html = (root / "report" / "report.html").read_text()
    assert "<img" in html and "privgan" in html
    # the page opens with one answer per owner, before any figure
    assert html.index("The answer, per owner") < html.index("<img")
    assert "Owner 0" in html and "Owner 1" in html and "best option" in html
    assert "Owner 0" in res.output  # the CLI prints the same lines
    manifest = json.loads((root / "run.json").read_text())
    assert manifest["timings_s"]["evaluation"] > 0 and manifest["precision"] in ("fp32", "bf16")
    one = runner.invoke(app, ["run", "--preset", "tiny", "--out-dir", str(tmp_path), "--name", "c",
                              "--set", "data.classes=[1]"])
    assert one.exit_code == 2 and "holds one class" in one.output
    assert not (tmp_path / "c").exists()
    # concurrent methods: the local GANs' lane trains classifiers while privGAN still trains,
    # and the evaluation writes the numbers it computes without that head start
    lanes = runner.invoke(app, ["run", "--preset", "tiny", "--out-dir", str(tmp_path), "--name",
                                "l", "--set", "train.concurrent_methods=true", "--set",
                                "train.epochs_privgan=40"]
                          + [a for setting in fast for a in ("--eval-set", setting)])
    assert lanes.exit_code == 0, lanes.output
    ahead = re.search(r"\((\d+) done ahead\)", lanes.output)
    assert ahead and int(ahead.group(1)) > 0, lanes.output
    bad = runner.invoke(app, ["run", "--preset", "tiny", "--out-dir", str(tmp_path), "--name", "b",
                              "--eval-set", "members=-1"])
    assert bad.exit_code != 0 and "members=-1" in bad.output
    assert not (tmp_path / "b").exists()  # a bad evaluation setting is refused before training
