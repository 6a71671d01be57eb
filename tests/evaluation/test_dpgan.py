"""The dpgan method end to end on the tiny preset: train, export, budget, evaluate (seconds)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from opacus.accountants import RDPAccountant

from privshare.evaluation import rows as R
from privshare.experiments.evaluate import evaluate_run
from privshare.experiments.grids import spec_from_dict
from privshare.experiments.sweep import plan_cells
from tests.evaluation.helpers import FAST, make_tiny_run


@pytest.fixture(scope="module")
def dp_run(tmp_path_factory):
    return make_tiny_run(tmp_path_factory.mktemp("dpgan_runs"), methods=("gan", "dpgan"))


def test_a_dpgan_run_trains_and_exports_like_the_local_gan(dp_run):
    assert dp_run.methods == ("gan", "dpgan")
    history = json.loads(dp_run.layout.history.read_text())
    for j in (0, 1):
        assert {"d_fake", "g", "epoch"} == set(history[f"dpgan_owner_{j}"][0])  # no real-row loss
        assert len(history[f"dpgan_owner_{j}"]) == len(history[f"gan_owner_{j}"]) == 2
        assert (dp_run.manifest["steps_per_epoch"][f"dpgan_owner_{j}"]
                == dp_run.manifest["steps_per_epoch"][f"gan_owner_{j}"])
        data = np.load(dp_run.layout.synthetic("dpgan", j))
        assert data["x"].shape == (60, 8, 8) and np.bincount(data["y"]).tolist() == [20, 20, 20]
        assert dp_run.layout.model("dpgan", j).is_file()
        assert dp_run.layout.grid("dpgan", j).is_file()
    assert not (dp_run.root / "checkpoints" / "dpgan_owner_0.pt").exists()


def test_the_epsilon_in_run_json_is_what_opacus_rdp_accountant_reports(dp_run):
    manifest = json.loads(dp_run.layout.manifest.read_text())
    budget, cfg = manifest["dpsgd"], dp_run.config
    assert (budget["accountant"], budget["delta"], budget["max_grad_norm"]) == ("rdp", 1e-5, 1.0)
    counts = dp_run.partition().counts()
    for j, owner in enumerate(budget["owners"]):
        steps = cfg.train.epochs_gan * manifest["steps_per_epoch"][f"dpgan_owner_{j}"]
        assert owner["steps"] == steps
        assert [c["rows"] for c in owner["classes"]] == counts[f"owner_{j}"]
        for c in owner["classes"]:
            assert c["sample_rate"] == min(1.0, cfg.train.batch_size / c["rows"])
            acc = RDPAccountant()
            for _ in range(steps):
                acc.step(noise_multiplier=owner["noise_multiplier"], sample_rate=c["sample_rate"])
            assert c["epsilon"] == pytest.approx(acc.get_epsilon(delta=budget["delta"]), rel=1e-12)
        assert owner["epsilon"] == max(c["epsilon"] for c in owner["classes"])
        # sigma was searched for the class with the largest rate: it lands just under the target
        assert cfg.dpsgd.target_epsilon - 0.02 <= owner["epsilon"] <= cfg.dpsgd.target_epsilon
    assert budget["epsilon_max"] == max(o["epsilon"] for o in budget["owners"])


def test_a_dpgan_run_is_evaluated_for_utility_and_attacks(dp_run):
    ev = evaluate_run(dp_run, config=FAST, write=False)
    have = {(r["source"], r["owner"], r["metric"]) for r in ev.rows if r["class"] == "all"}
    for j in ("0", "1"):
        for source in ("dpgan", "own+dpgan", "gan"):
            assert (source, j, R.ACCURACY) in have
        for attack in ("dpgan", "mc_dpgan", "nn_dpgan"):
            assert (attack, j, R.AUC) in have
    assert not any(r["source"].startswith("privgan") for r in ev.rows)  # not trained here


def test_a_sweep_plans_one_dpgan_cell_per_fraction_like_the_local_gan():
    spec = spec_from_dict({"name": "x", "preset": "tiny", "fractions": [0.1, 0.2],
                           "methods": ["gan", "dpgan"]})
    cells = plan_cells(spec, root=Path("/x"))
    by_method = {m: [c for c in cells if c.method == m] for m in ("gan", "dpgan")}
    assert [(c.f0, c.f1) for c in by_method["dpgan"]] == [(c.f0, c.f1) for c in by_method["gan"]]
    assert all(c.key.startswith("dpgan-") for c in by_method["dpgan"])
    assert len({c.run_seed for c in cells}) == len(cells)
    assert all(c.config["train"]["methods"] == ["dpgan"] for c in by_method["dpgan"])
