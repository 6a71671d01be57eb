"""Keyword settings of the Python API -> the same configs the CLI builds.

``PrivGAN(preset="tiny", train__epochs_privgan=3)`` is ``privshare train
--preset tiny --set train.epochs_privgan=3``: a double underscore separates a
section from its key, as in scikit-learn's nested parameters.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w

from privshare.config import ConfigError, RunConfig, config_from_dict, config_to_dict, load_config
from privshare.data import Dataset

# settings the API owns: the data come from fit's arrays, the folder and seed from arguments
_OWNED = {"name": "folder", "out_dir": "folder", "seed": "random_state"}


def toml_value(value: Any) -> str:
    """``value`` as TOML text, as ``--set key=value`` takes it."""
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, list):  # one line: an override never holds a line break
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    try:
        return tomli_w.dumps({"v": value}).split("=", 1)[1].strip()
    except TypeError as err:
        raise ConfigError(f"setting value {value!r} ({type(value).__name__}) is not a number, "
                          "string, boolean or list of those") from err


def override_strings(settings: dict[str, Any], *, sections: bool) -> list[str]:
    """``{"train__epochs_gan": 3}`` -> ``["train.epochs_gan=3"]`` (``sections=False``: keys as given)."""
    out = []
    for key, value in settings.items():
        dotted = key.replace("__", ".") if sections else key
        out.append(f"{dotted}={toml_value(value)}")
    return out


def base_config(*, preset: str | None, overrides: dict[str, Any], method: str) -> RunConfig:
    """Preset, then ``overrides``; ``train.methods`` defaults to ``[method]``.

    Raises
    ------
    ConfigError
        For an unknown preset or key, a value out of range, a ``data__*``
        setting (the data are fit's arrays) or ``name`` / ``out_dir`` /
        ``seed`` (use ``folder`` / ``random_state``).
    """
    for key in overrides:
        if key in _OWNED:
            raise ConfigError(f"{key}={overrides[key]!r}: pass {_OWNED[key]}=... instead; the "
                              "estimator sets the run's folder and seed itself")
        if key.startswith("data__") and key != "data__min_rows_per_owner":
            raise ConfigError(f"{key}={overrides[key]!r}: the data are the arrays given to fit "
                              "(owners=[(x0, y0), ...]); select classes or rows before fitting")
        if "__" not in key:
            raise ConfigError(f"{key}={overrides[key]!r}: write settings as section__key, e.g. "
                              "train__epochs_privgan=3 or model__latent_dim=8")
    texts = [f"train.methods={toml_value([method])}", *override_strings(overrides, sections=True)]
    config = load_config(preset=preset, overrides=texts)
    if method not in config.train.methods:
        raise ConfigError(f"train__methods={list(config.train.methods)} leaves out {method!r}, "
                          f"the method this estimator fits; include it")
    return config


def fitted_config(base: RunConfig, *, dataset: Dataset, fractions: tuple[float, ...],
                  root: Path, seed: int) -> RunConfig:
    """``base`` for these arrays: data from ``root/data.npz``, owner shares, folder and seed."""
    data = replace(base.data, name="npz", path=str((root / "data.npz").resolve()),
                   classes=tuple(int(c) for c in dataset.classes), fractions=tuple(fractions),
                   min_nonmembers=0, max_train_per_class=0)
    config = replace(base, data=data, name=root.name, out_dir=str(root.parent), seed=int(seed))
    return config_from_dict(config_to_dict(config))  # checked like any loaded config


def resolve_seed(random_state: int | None) -> int:
    """``random_state`` as a run seed; ``None`` draws one from the OS (recorded in ``seed_``)."""
    if random_state is None:
        return int(np.random.SeedSequence().entropy % 2**63)
    if isinstance(random_state, bool) or not isinstance(random_state, (int, np.integer)):
        raise ConfigError(f"random_state={random_state!r} ({type(random_state).__name__}): "
                          "pass an integer in [0, 2**63) or None")
    if not 0 <= int(random_state) < 2**63:
        raise ConfigError(f"random_state={random_state} must be in [0, 2**63), e.g. 0")
    return int(random_state)
