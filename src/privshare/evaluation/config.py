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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from privshare.config import PRESETS, ConfigError, parse_override
from privshare.config.loading import build_settings, check_fields
from privshare.config.rules import rule
from privshare.config.schema import PRECISIONS

UTILITY_SOURCES = ("real_own", "real_pooled", "gan", "privgan", "privgan_pooled",
                   "own+gan", "own+privgan", "own+privgan_pooled", "dpgan", "own+dpgan",
                   # fitted on the synthetic source, then fine-tuned on the owner's own rows
                   "gan>own", "privgan>own", "privgan_pooled>own", "dpgan>own")
# measured unless a preset or setting says otherwise: every source but the fine-tuned ones,
# which came later (stores of sweeps begun before them stay alike from cell to cell)
DEFAULT_SOURCES = UTILITY_SOURCES[:10]
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

    # evaluation seeds: each redraws samples, splits, pools, classifiers
    seeds: tuple[int, ...] = field(
        default=(0, 1, 2), metadata=rule(">= 0", nonempty=True, distinct=True, example="[0, 1, 2]"))
    # utility: a classifier trained on one source, tested on the real test split
    # subset of UTILITY_SOURCES
    utility_sources: tuple[str, ...] = field(
        default=DEFAULT_SOURCES, metadata=rule(choices=UTILITY_SOURCES, distinct=True))
    # generated training rows per synthetic source (paper: 3000)
    samples: int = field(default=3000, metadata=rule(">= 1"))
    # cap on a real source's training rows (0 = all the owner's rows)
    real_rows: int = field(default=0, metadata=rule(">= 0", note="0 = no limit"))
    # converged | paper; the first one gives "accuracy"
    protocols: tuple[str, ...] = field(
        default=("converged",), metadata=rule(choices=PROTOCOLS, nonempty=True, distinct=True))
    # converged protocol: train until validation accuracy (source's own rows) stops improving
    # small (16/32-channel CNN) | reference (the privGAN code's CNN)
    network: str = field(default="small", metadata=rule(choices=NETWORK_NAMES))
    # Adam learning rate (betas 0.9, 0.999)
    fit_lr: float = field(default=2e-3, metadata=rule("> 0", example="2e-3"))
    fit_batch_size: int = field(default=256, metadata=rule(">= 1"))  # rows per step
    # share of each class of a source held out for validation, in (0, 0.5]
    val_fraction: float = field(default=0.1, metadata=rule("(0, 0.5]", example="0.1"))
    # validation checks without improvement before stopping
    patience: int = field(default=5, metadata=rule(">= 1"))
    # steps between validation checks (0 = one pass over the rows, >= 20 steps)
    check_every: int = field(default=0, metadata=rule(">= 0", note="0 = one pass over the rows"))
    # cap on optimizer steps per classifier
    max_steps: int = field(default=2000, metadata=rule(">= 1"))
    # paper protocol: fixed budget, the reference CNN
    # sources it is run on, when not the first protocol
    paper_sources: tuple[str, ...] = field(
        default=UTILITY_SOURCES, metadata=rule(choices=UTILITY_SOURCES, distinct=True))
    # classifier epochs over `samples` rows (paper: 25)
    epochs: int = field(default=25, metadata=rule(">= 1"))
    equal_steps: bool = True  # all sources train epochs * ceil(samples / batch) steps (false: own rows)
    batch_size: int = field(default=256, metadata=rule(">= 1"))  # classifier batch (paper: 256)
    # adam (paper: lr 2e-4, beta1 0.5) | adadelta (privGAN code: lr 1.0)
    optimizer: str = field(default="adam", metadata=rule(choices=("adam", "adadelta")))
    # classifier learning rate
    lr: float = field(default=2e-4, metadata=rule("> 0", example="2e-4"))
    # image quality on the penultimate features of a classifier (`network`) trained on real train rows
    # real train rows the feature classifier learns from (0 = all)
    feature_rows: int = field(default=10000, metadata=rule(">= 0", note="0 = no limit"))
    feature_epochs: int = field(default=5, metadata=rule(">= 1"))  # its epochs
    # k of the k-NN manifolds of precision / recall (Kynkaanniemi 2019)
    neighbours: int = field(default=3, metadata=rule(">= 1"))
    # rows of each side precision / recall compare (0 = all; equal n across sources)
    quality_rows: int = field(default=3000, metadata=rule(">= 0", note="0 = no limit"))
    # membership attacks
    # subset of ATTACK_SOURCES
    attacks: tuple[str, ...] = field(
        default=ATTACK_SOURCES, metadata=rule(choices=ATTACK_SOURCES, distinct=True))
    # members per owner and class in an attack pool (paper: 200)
    members: int = field(default=200, metadata=rule(">= 1"))
    # non-members per class (paper: pool of ~1000, base rate 0.2)
    nonmembers: int = field(default=800, metadata=rule(">= 1"))
    # train (rows no owner holds) | test (the test split, as the paper's Fig. 7)
    nonmembers_from: str = field(default="train", metadata=rule(choices=NONMEMBER_SPLITS))
    # report TPR at these false-positive rates
    fpr_levels: tuple[float, ...] = field(
        default=(0.01, 0.001), metadata=rule("(0, 1)", example="[0.01, 0.001]"))
    # Clopper-Pearson level of the TPR intervals
    confidence: float = field(default=0.95, metadata=rule("(0, 1)", example="0.95"))
    # histogram bins of the total-variation distance (privGAN code: 50)
    bins: int = field(default=50, metadata=rule(">= 1"))
    # generated rows per class the black-box attacker draws
    blackbox_samples: int = field(default=10000, metadata=rule(">= 1"))
    # pca (privGAN code) | pixels: where distances are measured
    blackbox_space: str = field(default="pca", metadata=rule(choices=("pca", "pixels")))
    # PCA dimensions, fitted on the real test split (code: 40)
    blackbox_components: int = field(default=40, metadata=rule(">= 1"))
    # runtime
    device: str = "cpu"  # cpu | cuda | cuda:N | auto
    # classifiers' training passes: fp32 | bf16 (autocast) | auto (bf16 where native); predictions fp32
    precision: str = field(
        default="fp32", metadata=rule(choices=PRECISIONS, note="auto = bf16 only where the CPU or GPU multiplies bf16 natively"))
    # torch CPU threads while evaluating (0 = leave torch's setting)
    threads: int = field(default=0, metadata=rule(">= 0", note="0 = torch's setting"))
    # processes training classifiers and attacking at once, one thread each (0 = one per torch thread)
    workers: int = field(default=1, metadata=rule(">= 0", note="0 = one per torch thread"))


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def validate_eval_config(c: EvalConfig) -> EvalConfig:
    """Every check of :func:`eval_config_from_dict`, for settings built in code; returns ``c``."""
    check_fields(c)
    return _check_device(c)


def _check_device(c: EvalConfig) -> EvalConfig:
    """The one check no field rule (:mod:`privshare.config.rules`) expresses; returns ``c``."""
    _check(c.device == "auto" or c.device == "cpu" or c.device.startswith("cuda"),
           f"device={c.device!r}: cpu, cuda, cuda:N or auto")
    return c


def eval_config_from_dict(data: dict[str, Any]) -> EvalConfig:
    """Build and check an :class:`EvalConfig`; unknown keys raise :class:`ConfigError`."""
    return _check_device(build_settings(EvalConfig, data, what="evaluation"))


def eval_config_to_dict(config: EvalConfig) -> dict[str, Any]:
    """Plain dict (tuples become lists) for JSON or TOML."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}


EVAL_PRESETS = PRESETS  # one evaluation preset per run preset, same names


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
