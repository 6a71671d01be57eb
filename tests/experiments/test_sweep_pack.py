"""`privshare sweep --pack`: privGANs trained as packs give the store cell-by-cell training gives."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from privshare.cli import app
from privshare.experiments.engines import EngineSettings
from privshare.experiments.grids import spec_from_dict
from privshare.experiments.store import ResultStore
from privshare.experiments.sweep import SweepError, run_sweep

from .test_sweep import EVALUATOR, FAST_EVAL, needs_evaluator

KEY = "train.privacy_weight"


def _spec(name: str):
    # three lambdas x two seeds of one cell: same steps per epoch, so packs of up to 3
    return spec_from_dict({
        "name": name, "preset": "tiny", "fractions": [0.3], "methods": ["privgan"],
        "seeds": [0, 1], "evaluator": EVALUATOR, "evaluate": FAST_EVAL,
        "set": ["train.epochs_privgan=3", "train.precision='fp64'", "train.checkpoint_every=1"],
        "axes": {KEY: [0.0, 1.0, 3.0]}})


def _rows(store):
    with ResultStore(store) as s:
        return {(r["cell"], r["source"], r["owner"], r["eval_seed"], r["metric"], r["class"]):
                r["value"] for r in s.results()}


@needs_evaluator
def test_a_packed_sweep_stores_what_the_cell_by_cell_sweep_stores(tmp_path):
    alone = run_sweep(_spec("s"), out_dir=tmp_path / "alone", threads=1)
    packed = run_sweep(_spec("s"), out_dir=tmp_path / "packed", threads=1, pack=3)
    assert alone.failed == {} and packed.failed == {} and packed.ran == alone.ran == 6
    a, b = _rows(alone.store), _rows(packed.store)
    assert a.keys() == b.keys() and a
    differ = [k for k in a if a[k] != pytest.approx(b[k], rel=1e-9, abs=1e-12, nan_ok=True)]
    assert differ == []
    # each cell was trained in a pack of three (one per seed) and says so
    for seed in (0, 1):
        key = f"privgan-f0.3-f0.3-s{seed}-{KEY}=1"
        manifest = json.loads((packed.root / "cells" / key / "run.json").read_text())
        assert sorted(manifest["packed_with"]) == sorted(
            f"privgan-f0.3-f0.3-s{seed}-{KEY}={w}" for w in ("0", "3"))
        assert "packed_with" not in json.loads(
            (alone.root / "cells" / key / "run.json").read_text())
    assert not list((packed.root / "packs").glob("*.pt"))  # checkpoints gone once trained


def test_pack_with_a_ray_engine_or_workers_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(SweepError, match="--pack 4 trains the packs in this process"):
        run_sweep(_spec("r"), out_dir=tmp_path, pack=4, engine=EngineSettings(engine="ray"))
    with pytest.raises(SweepError, match="no --engine ray, no --workers"):
        run_sweep(_spec("r"), out_dir=tmp_path, pack=4, workers=2)
    result = CliRunner().invoke(app, ["sweep", "--grid", "quick", "--out-dir", str(tmp_path),
                                      "--pack", "-1"])
    assert result.exit_code == 2 and "-1" in result.output
    assert not (tmp_path / "r").exists() and not (tmp_path / "quick").exists()
