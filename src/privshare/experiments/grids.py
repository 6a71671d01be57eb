"""Sweep grids: which cells a sweep trains, read from TOML presets.

A sweep crosses owner 0's fraction (``fractions``) with owner 1's
(``other_fractions``, default the same list) for privGAN, or trains the
explicit ``cells``, each a list of two or more owners' fractions
(``[0.02, 0.1, 0.2]`` is a privGAN run with three owners), and trains one
local-GAN cell per distinct fraction. A local GAN sees only its own owner's
rows, so its result depends on that owner's fraction alone: the GAN cell for
fraction ``f`` is a run with two owners at ``f`` (two independent local GANs,
two replicates) and serves every grid cell whose owner has ``f``, whatever
the cell's number of owners.

Cells of the cross whose owners together hold more than 95% of a class are
skipped (the membership attacks need the remaining rows as non-members): the
paper grid loses its 50%-50% corner; an explicit cell that does so is refused.
A GAN cell at f > 0.475 pairs owner 0 with the smallest fraction instead of f.

privGAN's owners are interchangeable, so cell (f1, f2) should match cell
(f2, f1) with the owners swapped. By default both are trained and the
symmetry is a measured check; ``symmetric = true`` trains only f1 <= f2 and
the store marks the mirrored cells (``mirror_of``) and rows (``mirrored``).

An ``axes`` table crosses every cell with the values of other run-config
keys (``"train.privacy_weight" = [0.0, 1.0]``; see
:mod:`privshare.experiments.axes`).
"""

from __future__ import annotations

import functools
import importlib
import tomllib
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from privshare.config import PRESETS, ConfigError, RunConfig, load_config, shares
from privshare.config.loading import build_settings, read_toml
from privshare.config.rules import rule
from privshare.config.schema import METHODS
from privshare.experiments.axes import Axes, combinations, parse_axes
from privshare.experiments.axes import apply as apply_axes

GRIDS = ("quick", "reduced", "paper", "paper-cells", "paper-halves", "privacy-front", "owners")
EVALUATOR = "privshare.experiments.evaluate:evaluate_run"
NONMEMBER_MARGIN = 0.05  # owners together keep <= 95% of a class: the rest are attack non-members


@dataclass(frozen=True)
class SweepSpec:
    """One sweep: a base run configuration and the grid laid over it."""

    name: str  # folder name of the sweep under --out-dir
    preset: str = field(metadata=rule(choices=PRESETS))  # run preset every cell starts from
    # owner 0's share of each class's train rows (grid rows)
    fractions: tuple[float, ...] = field(
        metadata=rule("(0, 1)", nonempty=True, distinct=True, example="[0.2]"))
    # owner 1's share (columns; () = same as fractions)
    other_fractions: tuple[float, ...] = field(
        default=(), metadata=rule("(0, 1)", distinct=True, example="[0.2]"))
    # privgan cells and/or local-GAN (gan, dpgan) cells
    methods: tuple[str, ...] = field(
        default=("privgan", "gan"), metadata=rule(choices=METHODS, nonempty=True, distinct=True))
    # replicate root seeds; each cell derives its own run seed
    seeds: tuple[int, ...] = field(default=(0,), metadata=rule(">= 0", nonempty=True, distinct=True))
    symmetric: bool = False  # train privGAN only for f0 <= f1 and mirror the rest
    # "section.key=value" applied to every cell's config
    overrides: tuple[str, ...] = field(default=(), metadata={"key": "set"})
    # classifier seeds handed to the evaluation
    eval_seeds: tuple[int, ...] = field(
        default=(0,), metadata=rule(">= 0", nonempty=True, distinct=True))
    evaluator: str = EVALUATOR  # "module:function" called as f(run, seeds=eval_seeds) -> rows
    # "key=value" evaluation settings
    evaluation: tuple[str, ...] = field(default=(), metadata={"key": "evaluate"})
    # explicit privGAN cells (f0, f1, ...), not the cross
    cells: tuple[tuple[float, ...], ...] = field(default=(), metadata=rule(example="[[0.01, 0.25]]"))
    # what each cell asks of a Ray cluster (--engine ray)
    cpus_per_cell: float = field(default=1.0, metadata=rule("> 0", example="1.0"))
    # fractions let several cells share one GPU
    gpus_per_cell: float = field(default=0.0, metadata=rule(">= 0", example="0.25"))
    axes: Axes = ()  # (run-config key, values) crossed with every cell, sorted by key

    @property
    def columns(self) -> tuple[float, ...]:
        return self.other_fractions or self.fractions

    def base_config(self) -> RunConfig:
        """The run configuration every cell derives from (fractions replaced per cell)."""
        return load_config(preset=self.preset, overrides=list(self.overrides))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "preset": self.preset, "fractions": list(self.fractions),
            "other_fractions": list(self.other_fractions), "methods": list(self.methods),
            "seeds": list(self.seeds), "symmetric": self.symmetric,
            "set": list(self.overrides), "eval_seeds": list(self.eval_seeds),
            "evaluator": self.evaluator, "evaluate": list(self.evaluation),
            **({"cells": [list(c) for c in self.cells]} if self.cells else {}),
            **({"cpus_per_cell": self.cpus_per_cell} if self.cpus_per_cell != 1.0 else {}),
            **({"gpus_per_cell": self.gpus_per_cell} if self.gpus_per_cell else {}),
            **({"axes": {k: list(v) for k, v in self.axes}} if self.axes else {}),
        }

    @functools.cached_property
    def max_owned(self) -> float:
        """Largest share of a class the owners of one cell may hold together.

        ``1 - NONMEMBER_MARGIN`` when the attacks draw non-members from the
        train rows no owner holds (the default), 1 when they come from the
        test split (``nonmembers_from = "test"`` in ``evaluate``).
        """
        from privshare.evaluation.config import load_eval_config

        test = load_eval_config(overrides=self.evaluation).nonmembers_from == "test"
        return 1.0 if test else 1 - NONMEMBER_MARGIN

    def fits(self, fractions: tuple[float, ...]) -> bool:
        """Whether owners at ``fractions`` leave the attacks their non-members."""
        return sum(fractions) <= self.max_owned + 1e-9

    def privgan_cells(self) -> list[tuple[float, ...]]:
        """Every privGAN cell's owner fractions (owner 0 first), in grid order."""
        if self.cells:
            return list(self.cells)
        return [(f0, f1) for f0 in self.fractions for f1 in self.columns]


def spec_from_dict(data: dict[str, Any], *, where: str = "sweep spec") -> SweepSpec:
    """Build and check a :class:`SweepSpec`; unknown keys and ill-typed or bad values raise
    :class:`ConfigError` starting with ``where``."""
    data = dict(data)
    axes = data.pop("axes", None)
    try:
        spec = build_settings(SweepSpec, data, what="sweep")
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from err
    _validate(spec, where)
    if axes is not None:
        if not isinstance(axes, dict):
            raise ConfigError(f"{where}: axes = {axes!r} is a {type(axes).__name__}; expected a "
                              'table of run-config keys and their values, e.g. axes = '
                              '{ "train.privacy_weight" = [0.0, 1.0] }')
        base = spec.base_config()
        taken = [text.partition("=")[0].strip() for text in spec.overrides]
        spec = replace(spec, axes=parse_axes(axes, base=base, taken=taken, where=where))
        for values in combinations(spec.axes):  # values that pass alone may clash together
            apply_axes(base, values, where=where)
    return spec


def _check_cells(spec: SweepSpec, where: str) -> None:
    """Each explicit cell: fractions in (0, 1) and listed in ``fractions``, room left for
    the attacks' non-members, and listed once."""
    seen = set()
    for cell in spec.cells:
        text = f"{where}: cells entry {list(cell)}"
        if problem := shares.fraction_problem(cell, key="cells entry"):
            raise ConfigError(f"{where}: {problem}")
        missing = sorted(set(cell) - set(spec.fractions))
        if missing:
            raise ConfigError(f"{text} uses fraction(s) {missing} that are not in fractions "
                              f"{list(spec.fractions)}; list every fraction there (its local-GAN "
                              "cell is trained from it)")
        if not spec.fits(cell):
            raise ConfigError(
                f"{text} gives its owners {100 * sum(cell):g}% of each class, more than "
                f"{100 * spec.max_owned:g}%; attacks need non-member rows: lower its fractions "
                "or evaluate with nonmembers_from = \"test\"")
        if cell in seen:
            raise ConfigError(f"{text} is listed twice; list each cell once")
        seen.add(cell)


def _check_evaluator(evaluator: str, where: str) -> None:
    """Import ``"module:function"`` now, so a typo fails before any cell trains."""
    module, _, name = evaluator.partition(":")
    if not module or not name:
        raise ConfigError(f"{where}: evaluator {evaluator!r} must look like "
                          f"'package.module:function', e.g. {EVALUATOR!r}")
    try:
        fn = getattr(importlib.import_module(module), name)
    except ImportError as err:
        raise ConfigError(f"{where}: evaluator {evaluator!r}: module {module!r} does not import "
                          f"({err}); fix the name or install it (default: {EVALUATOR!r})") from err
    except AttributeError as err:
        raise ConfigError(f"{where}: evaluator {evaluator!r}: module {module!r} has no "
                          f"{name!r}; fix the function name (default: {EVALUATOR!r})") from err
    if not callable(fn):
        raise ConfigError(f"{where}: evaluator {evaluator!r} is not a function")


def _validate(spec: SweepSpec, where: str) -> None:
    def bad(msg: str) -> ConfigError:
        return ConfigError(f"{where}: {msg}")

    fr, cols = spec.fractions, spec.columns
    if spec.cells and spec.symmetric:
        raise bad("symmetric = true needs the full cross of fractions; drop it or cells")
    if spec.evaluation:
        from privshare.evaluation.config import load_eval_config

        load_eval_config(overrides=spec.evaluation)  # raises ConfigError on a bad setting
    if spec.cells:
        _check_cells(spec, where)
    elif not spec.fits((min(fr), min(cols))):
        raise bad(f"every privGAN cell gives the owners more than {100 * spec.max_owned:g}% of "
                  f"a class (min fractions {min(fr)} + {min(cols)}); attacks need non-member "
                  "rows: lower the fractions or evaluate with nonmembers_from = \"test\"")
    if spec.symmetric and set(fr) != set(cols):
        raise bad("symmetric = true needs other_fractions equal to fractions")
    _check_evaluator(spec.evaluator, where)
    spec.base_config()  # raises ConfigError on a bad preset or override


def load_spec(
    *, grid: str | None = None, path: str | Path | None = None, overrides: dict[str, Any] | None = None
) -> SweepSpec:
    """A named grid (see :data:`GRIDS`) or a TOML file, then top-level ``overrides``."""
    if (grid is None) == (path is None):
        raise ConfigError("give exactly one of a grid name (--grid quick|paper) or a sweep TOML file")
    if grid is not None:
        if grid not in GRIDS:
            raise ConfigError(f"unknown grid {grid!r}; choose one of {', '.join(GRIDS)}")
        text = resources.files("privshare.experiments").joinpath(f"sweeps/{grid}.toml").read_text()
        data, where = tomllib.loads(text), f"grid {grid!r}"
    else:
        data = read_toml(path, what="sweep file")
        where = str(path)
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return spec_from_dict(data, where=where)
