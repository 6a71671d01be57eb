"""The API and the CLI read each other's run folders and generate identical rows."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import privshare
from privshare.cli import app
from privshare.evaluation import EvaluationError

runner = CliRunner()


@pytest.mark.parametrize("method", ["privgan", "gan"])
def test_cli_generates_the_api_rows(fitted, tmp_path, method):
    out = tmp_path / "cli.npz"
    res = runner.invoke(app, ["generate", str(fitted.folder_), "-n", "6", "--owner", "1",
                              "--seed", "4", "--method", method, "--out", str(out)])
    assert res.exit_code == 0, res.output
    model = fitted if method == "privgan" else privshare.LocalGAN.load(fitted.folder_)
    x, y = model.generate(owner=1, n=6, random_state=4)
    data = np.load(out)
    assert np.array_equal(data["x"], x) and np.array_equal(data["y"], y)


@pytest.mark.parametrize("estimator", [privshare.PrivGAN, privshare.LocalGAN])
def test_api_loads_the_cli_run(cli_run, tmp_path, estimator):
    out = tmp_path / "cli.npz"
    method = "privgan" if estimator is privshare.PrivGAN else "gan"
    res = runner.invoke(app, ["generate", str(cli_run), "-n", "5", "--owner", "0", "--seed", "2",
                              "--method", method, "--out", str(out)])
    assert res.exit_code == 0, res.output
    model = estimator.load(cli_run)
    assert model.n_owners_ == 2 and model.classes_.tolist() == [0, 1, 2]
    x, y = model.generate(owner=0, n=5, random_state=2)
    assert np.array_equal(np.load(out)["x"], x) and np.array_equal(np.load(out)["y"], y)


def test_cli_evaluates_an_api_run_and_the_api_reads_its_metrics(fitted):
    res = runner.invoke(app, ["evaluate", str(fitted.folder_), "--preset", "tiny", "--seeds", "0",
                              "--set", "utility_sources=[\"real_own\", \"privgan\"]",
                              "--set", "attacks=[\"privgan_max\", \"gan\"]"])
    assert res.exit_code == 0, res.output
    csv_text = (fitted.folder_ / "metrics.csv").read_text()
    assert "privgan" in csv_text and "nonmembers" in csv_text
    result = privshare.evaluate(fitted.folder_, preset="tiny", seeds=[0], write=False,
                                utility_sources=["real_own", "privgan"],
                                attacks=["privgan_max", "gan"])
    assert result.config.nonmembers_from == "test"  # no owner row was left out of training
    assert [r["metric"] for r in result.rows] == [
        line.split(",")[3] for line in csv_text.splitlines()[1:]]  # same measurement, same rows


def test_evaluate_with_test_rows_on_the_cli_run(cli_run, test_rows, tmp_path):
    result = privshare.evaluate(cli_run, test=test_rows, preset="tiny", seeds=[0], write=False,
                                utility_sources=["real_own"], attacks=["privgan_max"])
    accuracy = [r for r in result.rows if r["metric"] == "accuracy" and r["class"] == "all"]
    assert {r["owner"] for r in accuracy} == {"0", "1"}
    n_test = {r["n"] for r in accuracy}
    assert n_test == {len(test_rows[1])}, n_test  # tested on the rows given, not the run's own
    tables = result.tables()
    assert set(tables) == {"utility", "privacy"}
    assert tables["utility"][0]["source"] == "real_own"
    path = result.to_parquet(tmp_path / "rows.parquet")
    table = pq.read_table(path)
    assert table.column_names == ["source", "owner", "seed", "metric", "class", "value", "n"]
    assert table.num_rows == len(result.rows)
    assert table.column("value").to_pylist() == [r["value"] for r in result.rows]
    summary = pq.read_table(result.to_parquet(tmp_path / "s.parquet", table="summary"))
    assert summary.num_rows == len(result.summary)
    assert result.to_csv(tmp_path / "rows.csv").read_text().count("\n") == len(result.rows) + 1
    with pytest.raises(ValueError, match="table='bogus'"):
        result.to_csv(tmp_path / "x.csv", table="bogus")


def test_a_run_fitted_without_test_rows_asks_for_them(owners, test_rows, tmp_path):
    model = privshare.LocalGAN(preset="tiny", progress=False, folder=tmp_path / "r",
                               train__epochs_gan=1).fit(owners=owners)
    with pytest.raises(EvaluationError, match=r"test=\(x_test, y_test\)"):
        privshare.evaluate(model, preset="tiny", seeds=[0])
    res = runner.invoke(app, ["evaluate", str(tmp_path / "r"), "--preset", "tiny"])
    assert res.exit_code == 2 and "without test rows" in res.output
