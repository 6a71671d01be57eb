"""evaluate_run and `privshare evaluate` end to end on a tiny trained run (seconds)."""

from __future__ import annotations

import csv
import json
from dataclasses import replace

import numpy as np
import pytest
from typer.testing import CliRunner

from privshare.cli import app
from privshare.evaluation import eval_config_to_dict
from privshare.evaluation import rows as R
from privshare.evaluation.config import ATTACK_SOURCES, POOLED_SOURCES
from privshare.experiments.evaluate import evaluate_run
from tests.evaluation.helpers import FAST

runner = CliRunner()


@pytest.fixture(scope="module")
def evaluation(tiny_run):
    return evaluate_run(tiny_run, seeds=(0, 1), config=FAST)


def test_every_source_and_attack_has_its_numbers_for_every_owner_and_seed(evaluation):
    rows = evaluation.rows
    have = {(r["source"], r["owner"], r["metric"], r["class"], r["seed"]) for r in rows}
    for seed in (0, 1):
        for source in FAST.utility_sources:  # every source but the fine-tuned ones (test below)
            owners = ["all"] if source in POOLED_SOURCES else ["0", "1"]
            for owner in owners:
                assert (source, owner, R.ACCURACY, "all", seed) in have
                for c in ("0", "1", "2"):  # per-class accuracy
                    assert (source, owner, R.ACCURACY, c, seed) in have
                assert (source, owner, R.FRECHET, "all", seed) in have
        for source in ATTACK_SOURCES:
            for owner in ("0", "1"):
                for metric in (R.ATTACK_ACCURACY, R.BASE_RATE, R.AUC, R.ADVANTAGE, R.TV_DISTANCE,
                               "tpr_at_fpr_1pct", "tpr_at_fpr_1pct_lo", "tpr_at_fpr_1pct_hi"):
                    assert (source, owner, metric, "all", seed) in have, (source, owner, metric)
    for r in rows:
        assert np.isfinite(r["value"]), r
        if r["metric"] in (R.ACCURACY, R.AUC, R.ATTACK_ACCURACY, R.BASE_RATE):
            assert 0.0 <= r["value"] <= 1.0, r
    # accuracy is measured on every real test row of the run's classes, and per class on its own
    n_test = {r["n"] for r in rows if r["metric"] == R.ACCURACY and r["class"] == "all"}
    per_class = {r["class"]: r["n"] for r in rows if r["metric"] == R.ACCURACY and r["class"] != "all"}
    assert len(n_test) == 1 and n_test.pop() == sum(per_class.values())


def test_fine_tuned_sources_start_from_the_synthetic_fit_and_end_on_own_rows(tiny_run):
    config = replace(FAST, utility_sources=("real_own", "gan>own", "privgan_pooled>own"),
                     attacks=())
    rows = evaluate_run(tiny_run, seeds=(0,), config=config, write=False).rows
    have = {(r["source"], r["owner"], r["metric"]) for r in rows}
    # the sources they start from are measured too (the very fits they start from)
    for source, owners in [("gan", "01"), ("privgan_pooled", ["all"]), ("gan>own", "01"),
                           ("privgan_pooled>own", "01"), ("real_own", "01")]:
        for owner in owners:
            assert (source, owner, R.ACCURACY) in have, (source, owner)
    own = {r["owner"]: r["value"] for r in rows
           if r["source"] == "real_own" and r["metric"] == R.FIT_STEPS}
    for tuned in ("gan>own", "privgan_pooled>own"):
        fitted = {r["owner"]: r["n"] for r in rows
                  if r["source"] == tuned and r["metric"] == R.FIT_STEPS}
        sizes = {r["owner"]: r["n"] for r in rows
                 if r["source"] == "real_own" and r["metric"] == R.FIT_STEPS}
        assert fitted == sizes and set(own) == {"0", "1"}  # fine-tuned on the owner's own rows
        assert not any(r["source"] == tuned and r["metric"] == R.FRECHET for r in rows)


def test_counts_and_the_base_rate_follow_the_pools(evaluation, tiny_run):
    part = tiny_run.partition()
    counts = evaluation.counts["0"]["attack_pools"]
    for j in (0, 1):
        members = counts[str(j)]["members"]
        own = [len(part.owner_class_indices(j, c)) for c in part.classes]
        assert members == [min(FAST.members, n) for n in own]
        base = [r for r in evaluation.rows if r["source"] == "gan" and r["owner"] == str(j)
                and r["metric"] == R.BASE_RATE and r["class"] == "all" and r["seed"] == 0]
        nonmembers = sum(counts[str(j)]["nonmembers"])
        assert base[0]["value"] == pytest.approx(sum(members) / (sum(members) + nonmembers))
    sizes = evaluation.counts["0"]["training_rows"]
    assert sizes["real_own/0"] == len(part.owner_indices[0])
    assert sizes["real_pooled/all"] == len(part.owner_indices[0]) + len(part.owner_indices[1])


def test_files_are_written_and_agree(evaluation, tiny_run):
    doc = json.loads((tiny_run.root / "metrics.json").read_text())
    assert doc["seeds"] == [0, 1] and doc["config"] == eval_config_to_dict(replace(FAST, seeds=(0, 1)))
    assert len(doc["rows"]) == len(evaluation.rows)
    with open(tiny_run.root / "metrics.csv") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == len(evaluation.rows)
    assert float(table[0]["value"]) == pytest.approx(evaluation.rows[0]["value"])
    means = {(s["source"], s["owner"], s["metric"], s["class"]): s for s in doc["summary"]}
    acc = [r["value"] for r in evaluation.rows if (r["source"], r["owner"], r["metric"], r["class"])
           == ("gan", "0", R.ACCURACY, "all")]
    assert means[("gan", "0", R.ACCURACY, "all")]["mean"] == pytest.approx(np.mean(acc))
    assert means[("gan", "0", R.ACCURACY, "all")]["seeds"] == 2
    with np.load(tiny_run.root / "scores.npz") as scores:
        assert {"gan/0/0/members", "gan/0/0/nonmembers", "privgan_central/1/2/other",
                "seed1/privgan_max/0/1/members"} <= set(scores.files)
        assert len(scores["gan/0/0/members"]) == counts_of(evaluation, 0, "members")[0]


def counts_of(evaluation, owner, group):
    return evaluation.counts["0"]["attack_pools"][str(owner)][group]


def test_the_same_seed_gives_identical_numbers(evaluation, tiny_run):
    again = evaluate_run(tiny_run, seeds=(0,), config=FAST, write=False)
    first = [r for r in evaluation.rows if r["seed"] == 0]
    assert again.rows == first


def test_two_worker_processes_give_the_numbers_of_one(evaluation, tiny_run):
    """Classifiers and attacks spread over two processes (one torch thread each) give the rows
    of the in-process evaluation, in the same order."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the workers' thread count, so sums run in the same order
    try:
        one = evaluate_run(tiny_run, seeds=(0, 1), config=FAST, write=False)
        two = evaluate_run(tiny_run, seeds=(0, 1), config=replace(FAST, workers=2), write=False)
    finally:
        torch.set_num_threads(threads)
    key = [(r["source"], r["owner"], r["seed"], r["metric"], r["class"]) for r in one.rows]
    assert key == [(r["source"], r["owner"], r["seed"], r["metric"], r["class"]) for r in two.rows]
    np.testing.assert_allclose([r["value"] for r in two.rows], [r["value"] for r in one.rows],
                               rtol=1e-6, atol=1e-9)
    assert set(two.counts) == {"0", "1"} and two.counts["1"]["timings_s"]["privacy"] > 0


def test_the_cli_prints_the_tables_and_refuses_bad_input(tiny_run, tmp_path):
    ok = runner.invoke(app, ["evaluate", str(tiny_run.root), "--samples", "60", "--epochs", "1",
                             "-s", "batch_size=32", "-s", "feature_rows=150", "-s", "feature_epochs=1",
                             "-s", "blackbox_samples=100", "-s", "blackbox_components=4",
                             "-s", "attacks=[\"gan\", \"privgan_max\"]", "-s", "members=30",
                             "-s", "nonmembers=40", "-s", "seeds=[0]", "-s", "max_steps=20",
                             "-s", "fit_batch_size=32"])
    assert ok.exit_code == 0, ok.output
    assert "privgan_max" in ok.output and "real_own" in ok.output
    before = (tiny_run.root / "metrics.json").read_bytes()
    for args, words in [
        (["--seeds", "0,x"], "--seeds"),
        (["-s", "members=0"], "members=0"),
        (["-s", "bogus=1"], "bogus"),
        (["-s", "attacks=[\"nope\"]"], "nope"),
    ]:
        res = runner.invoke(app, ["evaluate", str(tiny_run.root), *args])
        assert res.exit_code != 0 and words in res.output, (args, res.output)
    missing = runner.invoke(app, ["evaluate", str(tmp_path / "no_such_run")])
    assert missing.exit_code != 0 and "no_such_run" in missing.output
    assert (tiny_run.root / "metrics.json").read_bytes() == before  # failures wrote nothing
