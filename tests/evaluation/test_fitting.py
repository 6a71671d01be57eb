"""The converged protocol: stratified validation split, early stopping, best weights, refusals."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from privshare.config import ConfigError
from privshare.evaluation import EvaluationError
from privshare.evaluation.classifier import predict
from privshare.evaluation.config import validate_eval_config
from privshare.evaluation.fitting import (
    SourceError,
    check_source,
    fit_converged,
    validation_split,
)
from privshare.experiments.evaluate import evaluate_run
from tests.evaluation.helpers import FAST


def _two_blobs(n: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """8x8 uint8 images: class 0 bright on top, class 1 bright at the bottom, plus noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.integers(0, 80, (n, 8, 8))
    x[y == 0, :4] += 150
    x[y == 1, 4:] += 150
    return x.astype(np.uint8), y


def test_validation_split_is_stratified_disjoint_and_covers_every_row():
    y = np.array([0] * 50 + [1] * 20 + [2] * 1)
    train, val = validation_split(y, fraction=0.1, seed=3)
    assert np.intersect1d(train, val).size == 0
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(len(y)))
    assert np.bincount(y[val], minlength=3).tolist() == [5, 2, 0]  # a 1-row class stays in train
    again = validation_split(y, fraction=0.1, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(again, (train, val)))


def test_patience_stops_before_the_cap_and_the_best_weights_are_restored():
    x, y = _two_blobs(300)
    model, rep = fit_converged(x, y, classes=2, lr=3e-3, batch_size=32, patience=2,
                               max_steps=2000, seed=0)
    assert not rep.capped and rep.steps < 2000
    assert rep.best_step <= rep.steps - 2 * max(-(-rep.train_rows // 32), 20)  # 2 checks after
    assert rep.train_rows + rep.val_rows == 300
    assert rep.best_val_accuracy > 0.95
    _, val = validation_split(y, fraction=0.1,
                              seed=int(np.random.SeedSequence(0).generate_state(3)[0]))
    # the returned weights are those of the best check, not the last step's
    assert float((predict(model, x[val]) == y[val]).mean()) == rep.best_val_accuracy


def test_a_small_step_cap_is_reported_as_capped_and_same_seed_gives_same_weights():
    x, y = _two_blobs(200)
    a, rep = fit_converged(x, y, classes=2, batch_size=16, patience=50, max_steps=5, seed=1)
    b, _ = fit_converged(x, y, classes=2, batch_size=16, patience=50, max_steps=5, seed=1)
    assert rep.capped and rep.steps == 5
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and np.array_equal(va.numpy(), vb.numpy())


def test_fine_tuning_starts_from_the_given_weights_and_keeps_them_unless_a_step_helps():
    x, y = _two_blobs(300)
    good, rep = fit_converged(x, y, classes=2, lr=3e-3, batch_size=32, patience=2, seed=0)
    assert rep.best_val_accuracy == 1.0
    # already perfect on the new rows' validation split: no step can strictly improve on it
    x2, y2 = _two_blobs(200, seed=1)
    kept, rep2 = fit_converged(x2, y2, classes=2, lr=3e-3, batch_size=32, patience=2, seed=5,
                               init=good.state_dict())
    assert rep2.best_step == 0 and rep2.best_val_accuracy == 1.0 and rep2.steps > 0
    for (k, a), (_, b) in zip(good.state_dict().items(), kept.state_dict().items()):
        assert np.array_equal(a.numpy(), b.numpy()), k
    # weights that learned the opposite labels start wrong; fine-tuning turns them around
    wrong, _ = fit_converged(x, 1 - y, classes=2, lr=3e-3, batch_size=32, patience=2, seed=0)
    _, val = validation_split(y2, fraction=0.1,
                              seed=int(np.random.SeedSequence(5).generate_state(3)[0]))
    assert float((predict(wrong, x2[val]) == y2[val]).mean()) < 0.2
    tuned, rep3 = fit_converged(x2, y2, classes=2, lr=3e-3, batch_size=32, patience=2, seed=5,
                                init=wrong.state_dict())
    assert rep3.best_step > 0 and rep3.best_val_accuracy > 0.9


def test_bf16_autocast_fits_as_well_and_auto_is_fp32_where_bf16_is_emulated(monkeypatch):
    import torch

    from privshare import hardware

    x, y = _two_blobs(300)
    kw = dict(classes=2, lr=3e-3, batch_size=32, patience=2, max_steps=400, seed=0)
    fp32, rep32 = fit_converged(x, y, **kw)
    bf16, rep16 = fit_converged(x, y, precision="bf16", **kw)
    assert rep16.best_val_accuracy > 0.95 and abs(rep16.best_val_accuracy
                                                  - rep32.best_val_accuracy) < 0.05
    # the forward passes really ran in bf16: same seed, other rounding, other weights
    assert any(not torch.equal(a, b) for a, b in zip(fp32.state_dict().values(),
                                                     bf16.state_dict().values()))
    assert all(v.dtype == torch.float32 for v in bf16.state_dict().values())  # fp32 masters
    assert (predict(bf16, x, precision="bf16") == predict(bf16, x)).mean() > 0.95
    monkeypatch.setattr(hardware, "_cpu_flags", lambda: frozenset({"avx2"}))
    auto, _ = fit_converged(x, y, precision="auto", **kw)
    assert all(torch.equal(a, b) for a, b in zip(fp32.state_dict().values(),
                                                 auto.state_dict().values()))


def test_bf16_training_validates_in_fp32(monkeypatch):
    from privshare.evaluation import fitting

    seen = []

    def spy(model, x, *, precision="fp32"):
        seen.append(precision)
        return predict(model, x, precision=precision)

    monkeypatch.setattr(fitting, "predict", spy)
    x, y = _two_blobs(200)
    _, rep = fit_converged(x, y, classes=2, batch_size=32, patience=2, max_steps=60, seed=0,
                           precision="bf16")
    assert rep.steps > 0 and seen and set(seen) == {"fp32"}


def test_sources_that_cannot_be_fitted_are_refused():
    with pytest.raises(SourceError, match="1 class"):
        check_source(np.zeros(10, int), name="gan (owner 0)", val_fraction=0.1)
    with pytest.raises(SourceError, match="one per class"):
        check_source(np.array([0, 1, 2]), name="real_own (owner 1)", val_fraction=0.1)


@pytest.mark.parametrize("setting, message", [
    ({"patience": 0}, "patience=0 must be >= 1"),
    ({"val_fraction": 0.9}, r"val_fraction=0.9 must be in \(0, 0.5\]"),
    ({"val_fraction": 0.0}, r"val_fraction=0.0 must be in \(0, 0.5\]"),
    ({"max_steps": 0}, "max_steps=0 must be >= 1"),
    ({"protocols": ("converged", "fixed")}, "protocols="),
    ({"network": "resnet"}, "network='resnet'"),
    ({"seeds": (0, 0)}, "seeds="),
    ({"precision": "fp16"}, "precision='fp16': choose fp32, bf16 or auto"),
])
def test_bad_convergence_settings_name_the_setting_and_its_range(setting, message):
    with pytest.raises(ConfigError, match=message):
        validate_eval_config(replace(FAST, **setting))


def test_a_one_class_source_is_refused_before_any_training_and_nothing_is_written(tmp_path):
    from privshare.config import load_config
    from privshare.experiments import run_experiment

    config = load_config(preset="tiny", overrides=[f'out_dir="{tmp_path}"', 'name="one"',
                                                   "data.classes=[1]", "train.epochs_privgan=1",
                                                   "train.epochs_gan=1"])
    run = run_experiment(config)
    before = sorted(p.name for p in run.root.iterdir())
    with pytest.raises(EvaluationError, match="at least 2"):
        evaluate_run(run, config=FAST)
    assert sorted(p.name for p in run.root.iterdir()) == before
