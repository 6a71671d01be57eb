"""Evaluation settings: one frozen dataclass, plain data, a comment per field.

Two utility protocols (``protocols``; the first one's accuracy is the
``accuracy`` metric, any other's is ``accuracy_<protocol>``):

- ``converged`` (default): a small CNN trained on each source until accuracy
  on a validation split of that source's own rows stops improving (see
  :mod:`privshare.evaluation.fitting`);
- ``paper``: the papers' fixed budget, the reference CNN trained for 25
  epochs over 3000 generated rows with batch 256 (Rajotte & Ng 2020,
  Sec. IV-A), which stops long before real MNIST rows converge.

Attack pools hold 200 members and 800 non-members per class, so random
guessing scores 0.2 (ibid., Fig. 7). Every number is a setting.
"""

from __future__ import annotations

import dataclasses
import tomllib
from importlib import resources
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from privshare.config import ConfigError, parse_override
from privshare.config.loading import build_settings, check_finite
from privshare.config.renamed import renamed_message
from privshare.config.schema import PRECISIONS

UTILITY_SOURCES = ("real_own", "real_pooled", "gan", "privgan", "privgan_pooled",
                   "own+gan", "own+privgan", "own+privgan_pooled", "dpgan", "own+dpgan")
POOLED_SOURCES = ("real_pooled", "privgan_pooled")  # every owner's rows together (owner "all")
PROTOCOLS = ("converged", "paper")
NETWORK_NAMES = ("small", "reference")
NONMEMBER_SPLITS = ("train", "test")
ATTACK_SOURCES = (
    "gan", "privgan_max", "privgan_mean", "privgan_d", "privgan_central",
    "mc_gan", "mc_privgan", "nn_gan", "nn_privgan", "dpgan", "mc_dpgan", "nn_dpgan",
)


class EvaluationError(ValueError):
    """A run cannot be evaluated as asked; the message says how to fix it."""


@dataclass(frozen=True)
class EvalConfig:
    """How a run is measured: utility classifiers, image quality, attacks."""

    seeds: tuple[int, ...] = (0, 1, 2)  # evaluation seeds: each redraws samples, splits, pools, classifiers
    # utility: a classifier trained on one source, tested on the real test split
    utility_sources: tuple[str, ...] = UTILITY_SOURCES  # subset of UTILITY_SOURCES
    samples: int = 3000  # generated training rows per synthetic source (paper: 3000)
    real_rows: int = 0  # cap on a real source's training rows (0 = all the owner's rows)
    protocols: tuple[str, ...] = ("converged",)  # converged | paper; the first one gives "accuracy"
    # converged protocol: train until validation accuracy (source's own rows) stops improving
    network: str = "small"  # small (16/32-channel CNN) | reference (the privGAN code's CNN)
    fit_lr: float = 2e-3  # Adam learning rate (betas 0.9, 0.999)
    fit_batch_size: int = 256  # rows per step
    val_fraction: float = 0.1  # share of each class of a source held out for validation, in (0, 0.5]
    patience: int = 5  # validation checks without improvement before stopping
    check_every: int = 0  # steps between validation checks (0 = one pass over the rows, >= 20 steps)
    max_steps: int = 2000  # cap on optimizer steps per classifier
    # paper protocol: fixed budget, the reference CNN
    paper_sources: tuple[str, ...] = UTILITY_SOURCES  # sources it is run on, when not the first protocol
    epochs: int = 25  # classifier epochs over `samples` rows (paper: 25)
    equal_steps: bool = True  # all sources train epochs * ceil(samples / batch) steps (false: own rows)
    batch_size: int = 256  # classifier batch (paper: 256)
    optimizer: str = "adam"  # adam (paper: lr 2e-4, beta1 0.5) | adadelta (privGAN code: lr 1.0)
    lr: float = 2e-4  # classifier learning rate
    # image quality on the penultimate features of a classifier (`network`) trained on real train rows
    feature_rows: int = 10000  # real train rows the feature classifier learns from (0 = all)
    feature_epochs: int = 5  # its epochs
    neighbours: int = 3  # k of the k-NN manifolds of precision / recall (Kynkaanniemi 2019)
    quality_rows: int = 3000  # rows of each side precision / recall compare (0 = all; equal n across sources)
    # membership attacks
    attacks: tuple[str, ...] = ATTACK_SOURCES  # subset of ATTACK_SOURCES
    members: int = 200  # members per owner and class in an attack pool (paper: 200)
    nonmembers: int = 800  # non-members per class (paper: pool of ~1000, base rate 0.2)
    nonmembers_from: str = "train"  # train (rows no owner holds) | test (the test split, as the paper's Fig. 7)
    fpr_levels: tuple[float, ...] = (0.01, 0.001)  # report TPR at these false-positive rates
    confidence: float = 0.95  # Clopper-Pearson level of the TPR intervals
    bins: int = 50  # histogram bins of the total-variation distance (privGAN code: 50)
    blackbox_samples: int = 10000  # generated rows per class the black-box attacker draws
    blackbox_space: str = "pca"  # pca (privGAN code) | pixels: where distances are measured
    blackbox_components: int = 40  # PCA dimensions, fitted on the real test split (code: 40)
    # runtime
    device: str = "cpu"  # cpu | cuda | cuda:N | auto
    precision: str = "fp32"  # classifiers' training passes: fp32 | bf16 (autocast) | auto (bf16 where native); predictions fp32
    threads: int = 0  # torch CPU threads while evaluating (0 = leave torch's setting)
    workers: int = 1  # processes training classifiers and attacking at once, one thread each (0 = one per torch thread)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def validate_eval_config(c: EvalConfig) -> EvalConfig:
    """Range checks a type hint cannot express; returns ``c``."""
    check_finite(c)
    bad = sorted(set(c.utility_sources) - set(UTILITY_SOURCES))
    _check(not bad, f"utility_sources: unknown {bad}; choose from {list(UTILITY_SOURCES)}")
    _check(bool(c.protocols) and not set(c.protocols) - set(PROTOCOLS)
           and len(set(c.protocols)) == len(c.protocols),
           f"protocols={list(c.protocols)}: one or more distinct of {list(PROTOCOLS)}")
    _check(bool(c.seeds) and min(c.seeds) >= 0 and len(set(c.seeds)) == len(c.seeds),
           f"seeds={list(c.seeds)}: give one or more distinct seeds >= 0, e.g. [0, 1, 2]")
    _check(c.network in NETWORK_NAMES, f"network={c.network!r}: choose {' or '.join(NETWORK_NAMES)}")
    _check(0 < c.val_fraction <= 0.5, f"val_fraction={c.val_fraction} must be in (0, 0.5], e.g. 0.1")
    _check(c.fit_lr > 0, f"fit_lr={c.fit_lr} must be > 0, e.g. 2e-3")
    bad = sorted(set(c.paper_sources) - set(UTILITY_SOURCES))
    _check(not bad, f"paper_sources: unknown {bad}; choose from {list(UTILITY_SOURCES)}")
    bad = sorted(set(c.attacks) - set(ATTACK_SOURCES))
    for name in bad:
        if renamed := renamed_message(name, what="attack source"):
            raise ConfigError(f"attacks: {renamed}")
    _check(not bad, f"attacks: unknown {bad}; choose from {list(ATTACK_SOURCES)}")
    for name in ("samples", "epochs", "batch_size", "fit_batch_size", "patience", "max_steps",
                 "feature_epochs", "neighbours", "members",
                 "nonmembers", "bins", "blackbox_samples", "blackbox_components"):
        _check(getattr(c, name) >= 1, f"{name}={getattr(c, name)} must be >= 1")
    for name in ("real_rows", "feature_rows", "check_every", "quality_rows"):
        _check(getattr(c, name) >= 0, f"{name}={getattr(c, name)} must be >= 0 (0 = no limit)")
    _check(c.threads >= 0, f"threads={c.threads} must be >= 0 (0 = torch's setting)")
    _check(c.workers >= 0, f"workers={c.workers} must be >= 0 (0 = one per torch thread)")
    _check(c.optimizer in ("adam", "adadelta"), f"optimizer={c.optimizer!r}: adam or adadelta")
    _check(c.lr > 0, f"lr={c.lr} must be > 0")
    _check(all(0 < f < 1 for f in c.fpr_levels), f"fpr_levels={list(c.fpr_levels)}: each in (0, 1)")
    _check(0 < c.confidence < 1, f"confidence={c.confidence} must be in (0, 1), e.g. 0.95")
    _check(c.nonmembers_from in NONMEMBER_SPLITS,
           f"nonmembers_from={c.nonmembers_from!r}: {' or '.join(NONMEMBER_SPLITS)}")
    _check(c.blackbox_space in ("pca", "pixels"), f"blackbox_space={c.blackbox_space!r}: pca or pixels")
    _check(c.precision in PRECISIONS,
           f"precision={c.precision!r}: choose {', '.join(PRECISIONS)} (auto = bf16 only "
           f"where the CPU or GPU multiplies bf16 natively)")
    _check(c.device == "auto" or c.device == "cpu" or c.device.startswith("cuda"),
           f"device={c.device!r}: cpu, cuda, cuda:N or auto")
    return c


def eval_config_from_dict(data: dict[str, Any]) -> EvalConfig:
    """Build and check an :class:`EvalConfig`; unknown keys raise :class:`ConfigError`."""
    return validate_eval_config(build_settings(EvalConfig, data, what="evaluation"))


def eval_config_to_dict(config: EvalConfig) -> dict[str, Any]:
    """Plain dict (tuples become lists) for JSON or TOML."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}


EVAL_PRESETS = ("quick", "conv", "paper", "tiny")  # one per run preset, same names


def _preset_data(name: str) -> dict[str, Any]:
    if name not in EVAL_PRESETS:
        raise ConfigError(f"unknown evaluation preset {name!r}; choose one of {', '.join(EVAL_PRESETS)}")
    text = resources.files("privshare.evaluation").joinpath(f"presets/{name}.toml").read_text()
    return tomllib.loads(text)


def load_eval_config(
    *, preset: str | None = None, path: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
) -> EvalConfig:
    """Defaults, then a preset, then a TOML file of top-level keys, then ``key=value`` overrides."""
    data: dict[str, Any] = _preset_data(preset) if preset is not None else {}
    if path is not None:
        from privshare.config.loading import read_toml

        data.update(read_toml(path, what="evaluation config"))
    for text in overrides:
        parsed = parse_override(text)
        key, value = next(iter(parsed.items()))
        if isinstance(value, dict):
            raise ConfigError(f"override {text!r}: evaluation keys have no section; "
                              f"write e.g. epochs=5")
        data[key] = value
    return eval_config_from_dict(data)
