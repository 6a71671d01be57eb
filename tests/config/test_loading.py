"""Config: presets, overrides, unknown keys and bad values."""

from __future__ import annotations

import pytest

from privshare.config import (
    ConfigError,
    RunConfig,
    config_from_dict,
    config_to_dict,
    load_config,
    parse_override,
    save_config,
)


def test_defaults_follow_the_paper():
    c = RunConfig()
    assert (c.train.epochs_privgan, c.train.epochs_gan, c.train.batch_size) == (200, 250, 256)
    assert (c.optim.lr, c.optim.beta1) == (2e-4, 0.5)
    assert c.train.central_pretrain_epochs == 0 and c.train.central_delay == 0
    assert c.model.generator_widths == (512, 512, 1024)
    assert c.model.discriminator_widths == (2048, 512, 256)


@pytest.mark.parametrize("preset", ["quick", "conv", "paper", "tiny"])
def test_presets_load_and_round_trip(tmp_path, preset):
    c = load_config(preset=preset)
    save_config(c, tmp_path / "c.toml")
    assert load_config(path=tmp_path / "c.toml") == c
    assert config_from_dict(config_to_dict(c)) == c


def test_overrides_are_typed():
    c = load_config(
        preset="tiny",
        overrides=["train.epochs_gan=7", "data.fractions=[0.1, 0.3, 0.5]", "train.noise=shared"],
    )
    assert c.train.epochs_gan == 7
    assert c.data.fractions == (0.1, 0.3, 0.5)
    assert c.train.noise == "shared"
    assert parse_override("a.b=1.5") == {"a": {"b": 1.5}}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.epoch=3", "unknown config key(s) train.epoch"),
        ("trian.epochs_gan=3", "unknown config key(s) trian"),
        ("train.epochs_gan='many'", "train.epochs_gan = 'many' is a str; expected an integer"),
        ("data.fractions=[0.6, 0.6]", "sum to 1.2000 > 1"),
        ("data.fractions=[0.0, 0.5]", "each must be in (0, 1)"),
        ("data.fractions=[0.5]", "at least 2 owners"),
        ("train.methods=['vae']", "unknown ['vae']; choose privgan, gan or dpgan"),
        ("train.steps_per_epoch=often", "largest"),
        ("train.precision=fp8", "choose fp32, bf16, auto"),
        ("train.batch_size=0", "train.batch_size=0 must be >= 1"),
        ("noequals", "section.key=value"),
        ("train.owner_privacy_weights=[1.0, 2.0, 3.0]", "3 value(s) for 2 owners"),
        ("train.owner_privacy_weights=[3.0, 0.0]", "train.privacy_weight=1.0 would be unused"),
        ("train.owner_privacy_weights=[1.0, -2.0]", "train.owner_privacy_weights"),
        ("train.owner_d_every=[2, 1, 1]", "train.owner_d_every=[2, 1, 1] has 3 value(s) for 2 owners"),
        ("train.owner_d_every=[0, 1]", "train.owner_d_every"),
    ],
)
def test_bad_values_explain_themselves(override, message):
    with pytest.raises(ConfigError) as err:
        load_config(preset="tiny", overrides=[override])
    assert message in str(err.value)


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(path=tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\nepochs=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path=bad)
    with pytest.raises(ConfigError, match="unknown preset"):
        load_config(preset="huge")
