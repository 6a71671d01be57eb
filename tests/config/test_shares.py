"""Owners that are not alike: data.class_shares and data.dirichlet, checked once, refused."""

from __future__ import annotations

import pytest

from privshare.config import ConfigError, config_from_dict, config_to_dict, load_config
from privshare.config import shares as rules

THREE = "data.fractions=[0.2, 0.3, 0.2]"  # three owners, the tiny preset's classes [0, 1, 2]


def _load(*overrides: str):
    return load_config(preset="tiny", overrides=list(overrides))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ((THREE, "data.class_shares=[[0.2, -0.1, 0.2], [0.3, 0.3, 0.3], [0.2, 0.2, 0.2]]"),
         "data.class_shares[0][1]=-0.1 is not a share >= 0"),
        ((THREE, "data.class_shares=[[0.2, 0.2, 0.6], [0.3, 0.3, 0.3], [0.2, 0.2, 0.2]]"),
         "data.class_shares: class 2 (column 2) sums to 1.1000 > 1"),
        ((THREE, "data.class_shares=[[0, 0, 0], [0.3, 0.3, 0.3], [0.2, 0.2, 0.2]]"),
         "data.class_shares[0] is all 0: owner 0 would hold no rows at all"),
        ((THREE, "data.class_shares=[[0.2, 0.2, 0], [0.3, 0.3, 0], [0.2, 0.2, 0]]"),
         "no owner holds class 2 (column 2 is all 0)"),
        ((THREE, "data.class_shares=[[0.2, 0.2, 0], [0.3, 0.3, 0.3], [0.2, 0.2, 0]]"),
         "only owner 1 holds class 2 (column 2); privGAN's central discriminator cannot tell"),
        ((THREE, "data.class_shares=[[0.2, 0.2, 0.2], [0.3, 0.3, 0.3]]"),
         "data.class_shares is 2 x 3 (owners x classes); it must be 3 x 3"),
        ((THREE, "data.class_shares=[[0.2, 0.2], [0.3, 0.3], [0.2, 0.2]]"),
         "data.class_shares is 3 x 2 (owners x classes); it must be 3 x 3"),
        ((THREE, "data.class_shares=[[0.2, 0.2, 0.2], [0.3, 0.3], [0.2, 0.2, 0.2]]"),
         "data.class_shares is 3 x 2/3"),
        (("data.dirichlet=-0.5",), "data.dirichlet=-0.5 must be a concentration > 0"),
        (("data.dirichlet=0.5", "data.class_shares=[[0.2, 0.2, 0.2], [0.3, 0.3, 0.3]]"),
         "data.class_shares and data.dirichlet=0.5 are both set"),
        (("data.fractions=[0.2]",), "data.fractions=[0.2]: need at least 2 owners"),
    ],
)
def test_bad_splits_are_refused_in_one_line_naming_key_and_fix(overrides, message):
    with pytest.raises(ConfigError) as err:
        _load(*overrides)
    text = str(err.value)
    assert message in text and "\n" not in text
    assert any(fix in text for fix in ("give", "lower", "write 0", "keep one", "e.g.", "must be"))


def test_a_class_one_owner_holds_is_fine_for_local_gans_only():
    table = "data.class_shares=[[0.2, 0.2, 0], [0.3, 0.3, 0.3], [0.2, 0.2, 0]]"
    c = _load(THREE, table, "train.methods=['gan']")
    assert c.data.class_shares[0] == (0.2, 0.2, 0.0)


def test_a_sound_table_loads_and_round_trips():
    c = _load(THREE, "data.class_shares=[[0.02, 0.02, 0], [0.2, 0.2, 0.2], [0.1, 0.1, 0.1]]")
    assert c.data.class_shares == ((0.02, 0.02, 0.0), (0.2, 0.2, 0.2), (0.1, 0.1, 0.1))
    assert config_from_dict(config_to_dict(c)) == c
    d = _load("data.dirichlet=0.5")
    assert d.data.dirichlet == 0.5 and config_from_dict(config_to_dict(d)) == d


def test_columns_wait_for_the_data_when_classes_are_not_listed():
    # data.classes = [] (every label): the column count is checked once the data is loaded
    c = _load("data.classes=[]", "data.class_shares=[[0.2, 0.2], [0.3, 0.3]]")
    assert len(c.data.class_shares[0]) == 2


def test_one_rule_serves_config_and_data():
    assert rules.fraction_problem([0.2, 0.4]) == ""
    assert "fractions[1]=1.5 is >= 1" in rules.fraction_problem([0.2, 1.5], key="fractions")
    assert rules.holder_problem([[True, False], [True, True]], classes=None) == ""
    assert "only owner 1" in rules.holder_problem([[True, False], [True, True]], classes=None,
                                                  privgan=True)
