"""Field rules: declared beside each field, applied by the one loader to every settings class."""

from __future__ import annotations

import dataclasses

import pytest

from privshare.config import ConfigError, RunConfig, load_config
from privshare.config.loading import build_settings
from privshare.config.rules import Rule, rule_problems
from privshare.evaluation.config import EvalConfig, load_eval_config
from privshare.experiments.grids import SweepSpec, spec_from_dict
from privshare.federated.settings import FederatedSettings


@pytest.mark.parametrize("rule, value, message", [
    (Rule(">= 1"), 0, "k=0 must be >= 1"),
    (Rule("> 0", example="2e-4"), 0.0, "k=0.0 must be > 0, e.g. 2e-4"),
    (Rule("[0, 1)", note="0 = off"), 1.0, "k=1.0 must be in [0, 1) (0 = off)"),
    (Rule("(0, 0.5]"), 0.0, "k=0.0 must be in (0, 0.5]"),
    (Rule("(0, 1)"), (0.5, 1.0), "k=[0.5, 1.0] must have each value in (0, 1)"),
    (Rule(choices=("a", "b")), "c", "k='c': choose a or b"),
    (Rule(choices=("a", "b", "c")), ("a", "d"), "k=['a', 'd']: unknown ['d']; choose a, b or c"),
    (Rule(distinct=True), ("a", "a"), "k=['a', 'a'] names ['a'] more than once"),
    (Rule(nonempty=True), (), "k=[] must list at least one value"),
    (Rule(choices=("privgan_central",)), "privgan_dp", "k: value 'privgan_dp' was renamed"),
])
def test_a_broken_rule_names_the_key_the_value_and_the_allowed_values(rule, value, message):
    assert rule.problem("k", value).startswith(message)


@pytest.mark.parametrize("rule, value", [
    (Rule(">= 1"), 1), (Rule("[0, 1)"), 0.0), (Rule("(0, 0.5]"), 0.5), (Rule("> 0"), 1e-9),
    (Rule(choices=("a", "b")), ("b", "a")), (Rule(distinct=True, nonempty=True), (1, 2)),
])
def test_values_inside_the_rule_pass(rule, value):
    assert rule.problem("k", value) == ""


def test_non_finite_numbers_never_pass_a_bound():
    assert Rule(">= 0").problem("k", float("inf"))
    assert Rule("(0, 1)").problem("k", float("nan"))


def test_a_malformed_bound_is_a_schema_bug_caught_at_import():
    with pytest.raises(ValueError, match="rule bounds"):
        Rule(">= one")


def test_every_default_setting_obeys_its_own_rules():
    for node in (RunConfig(), EvalConfig(), FederatedSettings()):
        stack = [node]
        while stack:
            n = stack.pop()
            assert rule_problems(n) == [], n
            stack += [getattr(n, f.name) for f in dataclasses.fields(n)
                      if dataclasses.is_dataclass(getattr(n, f.name))]


def test_one_loader_refuses_with_the_same_words_in_every_settings_class():
    with pytest.raises(ConfigError, match=r"^train.batch_size=0 must be >= 1"):
        load_config(preset="tiny", overrides=["train.batch_size=0"])
    with pytest.raises(ConfigError, match=r"^members=0 must be >= 1"):
        load_eval_config(overrides=["members=0"])
    with pytest.raises(ConfigError, match=r"^s: cpus_per_cell=0.0 must be > 0"):
        spec_from_dict({"name": "x", "preset": "tiny", "fractions": [0.1], "cpus_per_cell": 0},
                       where="s")
    with pytest.raises(ConfigError, match=r"^federated setting local-steps=0 must be >= 1"):
        FederatedSettings.from_run_config({"local-steps": 0, "privshare-config": ""})
    with pytest.raises(ConfigError, match=r"^federated setting retries=-1 must be >= 0"):
        FederatedSettings(retries=-1)  # built in code: the same rule
    with pytest.raises(ConfigError, match=r"^round-timeout = 'x' is a str; expected a number"):
        FederatedSettings.from_run_config({"round-timeout": "x"})


def test_a_field_written_under_another_name_is_read_and_refused_by_that_name():
    spec = spec_from_dict({"name": "x", "preset": "tiny", "fractions": [0.1],
                           "set": ["train.epochs_gan=1"], "evaluate": ["members=5"]})
    assert spec.overrides == ("train.epochs_gan=1",) and spec.evaluation == ("members=5",)
    with pytest.raises(ConfigError, match=r"unknown sweep key\(s\) overrides"):
        spec_from_dict({"name": "x", "preset": "tiny", "fractions": [0.1], "overrides": []})
    with pytest.raises(ConfigError, match=r"missing sweep key\(s\) preset"):
        build_settings(SweepSpec, {"name": "x", "fractions": [0.1]}, what="sweep")
