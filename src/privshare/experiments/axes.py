"""Sweep axes: any run-config key, crossed with a grid's owner-fraction cells.

A sweep file may add a table of run-config keys (``section.key``, as
``--set`` takes them) and the values each takes::

    [axes]
    "train.privacy_weight" = [0.0, 0.1, 1.0]

Every owner-fraction cell is then trained once per combination of axis
values. Axes are kept sorted by key, so a combination's cell-key suffix
(``-train.privacy_weight=0.1``) does not depend on the order of the file.
A grid without axes has the one empty combination and keys without suffix.

Every key and value is checked here, against the sweep's base run config,
before anything is written: the key must name a run-config setting that the
sweep does not set itself, and each value must pass the config's own type
and range checks (it is stored as the config coerced it: ``0`` becomes
``0.0`` for a float setting).

Cells that differ only in their axis values share their run seed: the same
partition, initialisation and noise streams, so an axis is a paired
comparison.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
from collections.abc import Iterable
from typing import Any

from privshare.config import ConfigError, RunConfig, config_from_dict, config_to_dict
from privshare.config.loading import flatten_keys
from privshare.config.renamed import renamed_message

Axes = tuple[tuple[str, tuple[Any, ...]], ...]  # (key, values) pairs, sorted by key

# keys every cell's config gets from the sweep itself, and where to vary them instead
RESERVED = {
    "seed": "seeds = [...] (each cell derives its run seed from them)",
    "name": "the sweep's name (cell folders are named by their key)",
    "out_dir": "--out-dir",
    "data.fractions": "fractions, other_fractions or cells",
    "train.methods": "methods = [...]",
}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")  # characters a cell key (a folder name) does not take


def _leaf(data: dict[str, Any], key: str, where: str) -> tuple[dict[str, Any], str]:
    """The dict that holds run-config key ``key`` and its last part; unknown keys raise."""
    *sections, name = key.split(".")
    node = data
    for i, part in enumerate(sections):
        child = node.get(part)
        if not isinstance(child, dict):
            known = sorted(k for k, v in node.items() if isinstance(v, dict))
            raise ConfigError(f"{where}: axes key {key!r}: {'.'.join(sections[:i + 1])!r} is not a "
                              f"config section; write section.key with a section of {known}")
        node = child
    if isinstance(node.get(name), dict):
        raise ConfigError(f"{where}: axes key {key!r} names a config section, not a key; write "
                          f"{key}.<key> with one of: {', '.join(sorted(node[name]))}")
    if name not in node and (renamed := renamed_message(key, what="axes key")):
        raise ConfigError(f"{where}: {renamed}")
    if name not in node:
        section = ".".join(sections) or "the top level"
        allowed = sorted(k for k, v in node.items() if not isinstance(v, dict))
        raise ConfigError(f"{where}: axes key {key!r} is not a run-config key; keys of "
                          f"{section}: {', '.join(allowed)}")
    return node, name


def _literal(value: Any) -> str:
    return json.dumps(value)  # numbers, strings, booleans and lists read the same in TOML


def parse_axes(table: dict[str, Any], *, base: RunConfig, taken: Iterable[str],
               where: str) -> Axes:
    """Check the sweep file's ``axes`` table against ``base``; values as the config coerces them.

    ``taken`` are the keys the sweep's ``set = [...]`` already fixes for every cell.
    """
    taken = set(taken)
    plain = config_to_dict(base)
    axes = []
    for key, values in sorted(flatten_keys(table), key=lambda kv: kv[0]):
        if any(key == k for k, _ in axes):
            raise ConfigError(f"{where}: axes key {key!r} is given twice (quoted and as a "
                              "dotted key?); give it once")
        if key in RESERVED:
            raise ConfigError(f"{where}: axes key {key!r} is set by the sweep for every cell; "
                              f"vary it with {RESERVED[key]}")
        if key in taken:
            raise ConfigError(f"{where}: axes key {key!r} is also fixed by set = [...]; drop it "
                              "from one of the two")
        node, name = _leaf(plain, key, where)
        example = f"{_literal(key)} = [{_literal(node[name])}]"
        if not isinstance(values, (list, tuple)) or not values:
            raise ConfigError(f"{where}: axes key {key!r} = {values!r} must be a non-empty list "
                              f"of values, e.g. {example}")
        axes.append((key, tuple(_accepted(plain, key, v, where) for v in values)))
        _distinct(key, axes[-1][1], where)
    return tuple(axes)


def _accepted(plain: dict[str, Any], key: str, value: Any, where: str) -> Any:
    """``value`` as the run config stores it; a value the config refuses raises."""
    data = copy.deepcopy(plain)
    node, name = _leaf(data, key, where)
    node[name] = value
    try:
        config = config_from_dict(data)
    except ConfigError as err:
        raise ConfigError(f"{where}: axes key {key!r} value {value!r} is refused: {err}") from err
    node, name = _leaf(config_to_dict(config), key, where)
    return node[name]


def _distinct(key: str, values: tuple[Any, ...], where: str) -> None:
    seen: dict[str, Any] = {}
    for value in values:
        tok = token(value)
        if tok in seen:
            same = "twice" if seen[tok] == value else f"beside {seen[tok]!r} (both read {tok!r})"
            raise ConfigError(f"{where}: axes key {key!r} lists {value!r} {same} in "
                              f"{list(values)}; list each value once")
        seen[tok] = value


def token(value: Any) -> str:
    """A value as it appears in a cell key: ``0.1``, ``10``, ``true``, ``translation+cutout``."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "+".join(token(v) for v in value) or "none"
    return _UNSAFE.sub("_", str(value)) or "none"


def suffix(values: dict[str, Any]) -> str:
    """The cell-key suffix of one combination (``""`` without axes)."""
    return "".join(f"-{key}={token(values[key])}" for key in sorted(values))


def combinations(axes: Axes) -> list[dict[str, Any]]:
    """Every combination of axis values, first axis slowest; ``[{}]`` without axes."""
    keys = [key for key, _ in axes]
    return [dict(zip(keys, chosen)) for chosen in itertools.product(*(v for _, v in axes))]


def apply(base: RunConfig, values: dict[str, Any], *, where: str = "sweep") -> RunConfig:
    """``base`` with one combination's values set (``base`` itself without axes)."""
    if not values:
        return base
    data = config_to_dict(base)
    for key, value in values.items():
        node, name = _leaf(data, key, where)
        node[name] = value
    try:
        return config_from_dict(data)
    except ConfigError as err:
        combination = ", ".join(f"{k} = {json.dumps(v)}" for k, v in sorted(values.items()))
        raise ConfigError(f"{where}: the axes combination {combination} is refused: {err}; "
                          "drop one of its values") from err
