"""The dpsgd settings: bad values and unreachable budgets are refused before anything is written."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from privshare.cli import app
from privshare.config import ConfigError, load_config
from privshare.training.accounting import noise_multipliers

runner = CliRunner()
DPGAN = 'train.methods=["dpgan"]'


@pytest.mark.parametrize(
    "override, message",
    [
        ("dpsgd.target_epsilon=0", "dpsgd.target_epsilon=0.0 must be > 0"),
        ("dpsgd.target_epsilon=-1", "dpsgd.target_epsilon=-1.0 must be > 0"),
        ("dpsgd.delta=0", "dpsgd.delta=0.0 must be in (0, 1)"),
        ("dpsgd.delta=1", "dpsgd.delta=1.0 must be in (0, 1)"),
        ("dpsgd.delta=1.5", "dpsgd.delta=1.5 must be in (0, 1)"),
        ("dpsgd.max_grad_norm=0", "dpsgd.max_grad_norm=0.0 must be > 0"),
        ("dpsgd.max_grad_norm=-2", "dpsgd.max_grad_norm=-2.0 must be > 0"),
        ("dpsgd.noise_multiplier=-1", "dpsgd.noise_multiplier=-1.0 must be >= 0"),
        ('dpsgd.accountant="gdp"', "dpsgd.accountant='gdp': choose rdp or prv"),
        ("dpsgd.target_epsilon=nan", "must be a finite number"),
        ("model.spectral_norm=true", "model.spectral_norm=True cannot train"),
        ("model.minibatch_std=2", "model.minibatch_std=2 cannot train"),
        ("train.r1_gamma=1", "train.r1_gamma=1.0 cannot train"),
        ('model.kind="conv"', "model.kind='conv' cannot train"),
    ],
)
def test_bad_values_are_refused_with_one_line_and_nothing_written(tmp_path, override, message):
    with pytest.raises(ConfigError, match="^[^\n]*$") as err:
        load_config(preset="tiny", overrides=[DPGAN, override])
    assert message in str(err.value)
    res = runner.invoke(app, ["train", "--preset", "tiny", "--out-dir", str(tmp_path / "o"),
                              "--set", DPGAN, "--set", override])
    assert res.exit_code == 2 and message.split(" ")[0] in res.output, res.output
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "override, message",
    [
        ("dpsgd.target_epsilon=0.01", "dpsgd.target_epsilon=0.01 cannot be reached"),
        ("dpsgd.delta=0.05", "dpsgd.delta=0.05 is not below 1 /"),  # tiny: 29-61 rows a class
    ],
)
def test_an_unreachable_budget_exits_2_before_the_run_folder_exists(tmp_path, override, message):
    res = runner.invoke(app, ["train", "--preset", "tiny", "--out-dir", str(tmp_path / "o"),
                              "--set", 'train.methods=["privgan", "dpgan"]', "--set", override])
    assert res.exit_code == 2, res.output
    assert message in " ".join(res.output.split()), res.output
    assert not (tmp_path / "o").exists()


def test_a_given_noise_multiplier_skips_the_target_but_not_the_delta_check():
    given = [DPGAN, "dpsgd.noise_multiplier=1.5", "dpsgd.target_epsilon=0.001"]
    config = load_config(preset="tiny", overrides=given)
    assert noise_multipliers(config, counts=[[30, 30], [60, 60]], labels=(0, 1)) == [1.5, 1.5]
    config = load_config(preset="tiny", overrides=[*given, "dpsgd.delta=0.02"])
    with pytest.raises(ConfigError, match="owner 1's rows of class 0"):  # 0.02 >= 1 / 60
        noise_multipliers(config, counts=[[30, 30], [60, 10]], labels=(0, 1))
