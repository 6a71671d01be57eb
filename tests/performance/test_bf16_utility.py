"""bf16 autocast must not cost utility: a small run trained in bf16 and in fp32.

Both runs share every seed; only train.precision differs. The utility of
each owner's privGAN and local-GAN samples (accuracy of a classifier trained
on them, tested on real test rows; 8x8 digits 0-3, 60 epochs) must agree
within TOLERANCE, averaged over owners and methods. Two fp32 runs with
different seeds differ by about 0.03 here, so 0.08 leaves room for noise
while catching a bf16 path that degrades training.
"""

from __future__ import annotations

import numpy as np
import pytest

from privshare.config import load_config
from privshare.evaluation import EvalConfig, utility_evaluation
from privshare.experiments import run_experiment
from privshare.experiments.run import prepare_data

TOLERANCE = 0.08
SETTINGS = EvalConfig(utility_sources=("gan", "privgan"), samples=400, epochs=10, batch_size=64,
                      feature_rows=300, feature_epochs=1)


def _utility(tmp_path, precision: str) -> float:
    config = load_config(preset="tiny", overrides=[
        f'out_dir="{tmp_path}"', f'name="{precision}"', "data.classes=[0, 1, 2, 3]",
        "model.latent_dim=16", "model.generator_widths=[64, 128]",
        "model.discriminator_widths=[128, 64]", "train.epochs_privgan=60",
        "train.epochs_gan=60", "train.checkpoint_every=0", f'train.precision="{precision}"'])
    run = run_experiment(config)
    dataset, partition = prepare_data(config)
    result = utility_evaluation(run, dataset=dataset, partition=partition, config=SETTINGS, seed=0)
    acc = [r["value"] for r in result.rows if r["metric"] == "accuracy" and r["class"] == "all"]
    assert len(acc) == 4  # gan and privgan, two owners each
    return float(np.mean(acc))


@pytest.mark.slow
def test_bf16_utility_stays_within_tolerance_of_fp32(tmp_path):
    fp32, bf16 = _utility(tmp_path, "fp32"), _utility(tmp_path, "bf16")
    assert fp32 > 0.5, f"the fp32 reference run did not learn (accuracy {fp32:.3f}, chance 0.25)"
    assert abs(bf16 - fp32) <= TOLERANCE, f"bf16 {bf16:.3f} vs fp32 {fp32:.3f}"
