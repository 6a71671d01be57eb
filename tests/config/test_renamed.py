"""Names renamed from ``dp`` to ``central`` are refused in one line that gives the new name."""

from __future__ import annotations

import pytest

from privshare.attacks.registry import get_attack
from privshare.config import ConfigError, load_config
from privshare.config.renamed import RENAMED_ATTACKS, RENAMED_SETTINGS
from privshare.evaluation.config import load_eval_config
from privshare.reports.axis_figures import parse_metric


def _one_line(text: str, old: str, new: str) -> None:
    assert f"{old!r} was renamed {new!r}" in text and f"write {new}" in text
    assert "\n" not in text


@pytest.mark.parametrize(("old", "new"), sorted(RENAMED_SETTINGS.items()))
def test_an_old_settings_key_is_refused_with_its_new_name(tmp_path, old, new):
    with pytest.raises(ConfigError) as caught:
        load_config(preset="tiny", overrides=[f"{old}=1"])
    _one_line(str(caught.value), old, new)
    section, key = old.split(".")
    path = tmp_path / "old.toml"
    path.write_text(f"[{section}]\n{key} = 1\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path=path)
    _one_line(str(caught.value), old, new)
    assert load_config(preset="tiny", overrides=[f"{new}=0"])  # the new name loads


def test_an_old_attack_source_is_refused_with_its_new_name():
    with pytest.raises(ConfigError) as caught:
        load_eval_config(overrides=['attacks = ["gan", "privgan_dp"]'])
    _one_line(str(caught.value), "privgan_dp", "privgan_central")
    with pytest.raises(ValueError) as caught:
        parse_metric("privgan_dp:auc")
    _one_line(str(caught.value), "privgan_dp", "privgan_central")


def test_an_old_scorer_name_is_refused_with_its_new_name():
    with pytest.raises(KeyError) as caught:
        get_attack("dp_attribution")
    _one_line(str(caught.value), "dp_attribution", "central_attribution")
    assert get_attack("central_attribution")


def test_the_tables_rename_dp_to_central_and_nothing_of_dp_sgd():
    for old, new in {**RENAMED_SETTINGS, **RENAMED_ATTACKS}.items():
        assert "dp" in old and "central" in new and "dp" not in new
        assert "dpgan" not in old and "dpsgd" not in old
