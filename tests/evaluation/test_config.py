"""Evaluation settings: the papers' defaults, loading from a dict or TOML, refusals."""

from __future__ import annotations

import pytest

from privshare.config import ConfigError
from privshare.evaluation import EvalConfig, eval_config_from_dict, eval_config_to_dict, load_eval_config


def test_defaults_follow_the_papers():
    c = EvalConfig()
    assert (c.samples, c.epochs, c.batch_size) == (3000, 25, 256)
    assert (c.members, c.nonmembers) == (200, 800)  # base rate 0.2
    assert c.fpr_levels == (0.01, 0.001) and c.bins == 50


def test_round_trip_through_a_dict_and_overrides(tmp_path):
    c = eval_config_from_dict({"epochs": 3, "attacks": ["gan"], "lr": 1})
    assert c.epochs == 3 and c.attacks == ("gan",) and c.lr == 1.0
    assert eval_config_from_dict(eval_config_to_dict(c)) == c
    path = tmp_path / "eval.toml"
    path.write_text('samples = 90\nblackbox_space = "pixels"\n')
    loaded = load_eval_config(path=path, overrides=["samples=120", "equal_steps=false"])
    assert (loaded.samples, loaded.blackbox_space, loaded.equal_steps) == (120, "pixels", False)


@pytest.mark.parametrize("data, message", [
    ({"epoch": 3}, "unknown evaluation key.*epoch"),
    ({"epochs": 0}, "epochs=0 must be >= 1"),
    ({"epochs": "3"}, "epochs = '3' is a str; expected an integer"),
    ({"equal_steps": 1}, "equal_steps = 1 is an int; expected a boolean"),
    ({"attacks": ["gan", "shadow"]}, "attacks=.*: unknown \\['shadow'\\]"),
    ({"fpr_levels": [0.0]}, "fpr_levels"),
    ({"blackbox_space": "inception"}, "pca or pixels"),
])
def test_bad_settings_name_the_key_and_the_fix(data, message):
    with pytest.raises(ConfigError, match=message):
        eval_config_from_dict(data)


def test_sectioned_overrides_are_refused():
    with pytest.raises(ConfigError, match="no section"):
        load_eval_config(overrides=["train.epochs=3"])
