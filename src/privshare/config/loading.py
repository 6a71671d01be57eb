"""Build a :class:`RunConfig` from presets, TOML files and ``a.b=c`` overrides.

Unknown keys and ill-typed values raise :class:`ConfigError` naming the key,
the value received and what is allowed.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import typing
from importlib import resources
from pathlib import Path
from typing import Any

import tomli_w

from privshare.config import rules, shares
from privshare.config.renamed import renamed_message
from privshare.config.schema import RunConfig

PRESETS = ("quick", "conv", "paper", "tiny")
MAIN_PRESET = "conv"  # what `privshare run` trains when no preset is named


class ConfigError(ValueError):
    """A configuration key or value is wrong; the message says how to fix it."""


_NOUNS = {float: "a number", int: "an integer", str: "a string", bool: "a boolean (true or false)"}
_EXAMPLES = {float: "0.5", int: "1", str: '"name"', bool: "true"}


def _example(key: str, hint: Any, default: Any, example: str = "") -> str:
    """`` e.g. key = <value>``: the field rule's example, else its default where it has the
    hinted type."""
    if example:
        return f", e.g. {key} = {example}"
    if typing.get_origin(hint) is tuple:
        inner = typing.get_args(hint)[0]
        item = default[0] if isinstance(default, tuple) and default else None
        text = _value_text(item) if item is not None and typing.get_origin(inner) is None \
            else _EXAMPLES.get(inner, "...")
        return f", e.g. {key} = [{text}]"
    ok = isinstance(default, hint) and not (isinstance(default, bool) and hint is not bool)
    return f", e.g. {key} = {_value_text(default) if ok else _EXAMPLES[hint]}"


def _value_text(v: Any) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else \
        f'"{v}"' if isinstance(v, str) else repr(v)


def _coerce(value: Any, hint: Any, key: str, default: Any = None, example: str = "") -> Any:
    """Check ``value`` against a field's type hint (lists become tuples); a mismatch raises
    :class:`ConfigError` naming the key, the value, its type, the expected type and an example."""
    if typing.get_origin(hint) is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} = {value!r} must be a list"
                              f"{_example(key, hint, default, example)}")
        inner = typing.get_args(hint)[0]
        return tuple(_coerce(v, inner, f"{key}[{i}]") for i, v in enumerate(value))
    if hint not in _NOUNS:  # pragma: no cover - a schema bug
        raise ConfigError(f"{key}: unsupported type {hint!r}")
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is str and isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # steps_per_epoch accepts an integer written as a number
    if isinstance(value, hint) and not (isinstance(value, bool) and hint is not bool):
        return value
    kind = type(value).__name__
    raise ConfigError(f"{key} = {value!r} is {'an' if kind[0] in 'aeiou' else 'a'} {kind}; expected "
                      f"{_NOUNS[hint]}{_example(key, hint, default, example)}")


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else None


def build_settings(cls: type, data: dict[str, Any], *, prefix: str = "",
                   what: str = "config") -> Any:
    """``cls(**data)`` for a frozen settings dataclass, every value checked against its
    field's type hint (lists become tuples, nested dataclasses come from tables) and its
    declared rule (:mod:`privshare.config.rules`), every float checked finite.

    The one loader of every settings class (run, evaluation, sweep, federated):
    keys are the names a person writes (a field's metadata ``key``, else its
    name); unknown keys raise :class:`ConfigError` naming ``what`` and the
    allowed keys (a renamed key, :mod:`privshare.config.renamed`, its name
    now), and so does a missing key of a field without a default. Rules that
    tie fields together stay with each class's validator.
    """
    hints = typing.get_type_hints(cls)
    by_key = {rules.written_key(f): f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(by_key))
    for key in unknown:
        if renamed := renamed_message(prefix + key, what=f"{what} key"):
            raise ConfigError(renamed)
    if unknown:
        where = prefix.rstrip(".") or "top level"
        raise ConfigError(
            f"unknown {what} key(s) {', '.join(prefix + k for k in unknown)} in {where}; "
            f"allowed: {', '.join(sorted(by_key))}"
        )
    missing = [k for k, f in by_key.items() if k not in data and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"missing {what} key(s) {', '.join(prefix + k for k in missing)}")
    kwargs = {}
    for key, value in data.items():
        f = by_key[key]
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise ConfigError(f"{prefix}{key}: expected a table, got {value!r}")
            kwargs[f.name] = build_settings(hint, value, prefix=f"{prefix}{key}.", what=what)
        else:
            r = rules.field_rule(f)
            kwargs[f.name] = _coerce(value, hint, prefix + key, _default(f), r.example if r else "")
    settings = cls(**kwargs)
    _check_level(settings, prefix)  # nested settings were checked as they were built
    return settings


def _check_level(node: Any, prefix: str) -> None:
    """ConfigError naming the first float field of ``node`` itself (not of nested settings) that
    is not finite, else its first field that breaks its declared rule."""
    check_finite(node, prefix, nested=False)
    problems = rules.rule_problems(node, prefix)
    if problems:
        raise ConfigError(problems[0])


def check_fields(node: Any, prefix: str = "") -> None:
    """What :func:`build_settings` checks, for settings built in code (``dataclasses.replace``):
    every float finite (nested settings included), then every field's declared rule."""
    check_finite(node, prefix)
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        if dataclasses.is_dataclass(value):
            check_fields(value, f"{prefix}{rules.written_key(f)}.")
    _check_level(node, prefix)


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def read_run_config(path: str | Path) -> RunConfig:
    """The config a run folder saved (its ``config.toml``); an unreadable file raises :class:`ConfigError`."""
    return config_from_dict(read_toml(path, what="run config"))


def flatten_keys(table: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """``(section.key, value)`` for every leaf of nested ``table``, in order.

    ``{"train": {"privacy_weight": 1}}`` and ``{"train.privacy_weight": 1}``
    both give ``("train.privacy_weight", 1)``; a key spelled both ways comes
    out twice, so a caller can refuse it.
    """
    out: list[tuple[str, Any]] = []
    for key, value in table.items():
        if isinstance(value, dict):
            out += flatten_keys(value, f"{prefix}{key}.")
        else:
            out.append((f"{prefix}{key}", value))
    return out


def config_mismatch(saved: RunConfig, wanted: RunConfig) -> str:
    """``""`` when the two configs agree, else `` (key: saved -> wanted; ...)`` for a refusal."""
    differences = config_differences(saved, wanted)
    if not differences:
        return ""
    return f" ({'; '.join(differences[:3])}{'; ...' if len(differences) > 3 else ''})"


def config_differences(saved: RunConfig, wanted: RunConfig) -> list[str]:
    """The settings in which ``wanted`` differs from ``saved``, as ``key: saved -> wanted``.

    ``out_dir`` is left out: the caller found ``saved`` in the folder that
    ``wanted`` names, so the two name the same folder however they spell it
    (absolute or relative, from another working directory).
    """
    a, b = (dict(flatten_keys(config_to_dict(c))) for c in (saved, wanted))
    a.pop("out_dir", None)
    b.pop("out_dir", None)
    return [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b))
            if a.get(k) != b.get(k)]


def config_to_dict(config: RunConfig) -> dict[str, Any]:
    """Plain nested dict (tuples become lists) suitable for TOML or JSON."""

    def plain(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        return v

    return plain(dataclasses.asdict(config))


def config_from_dict(data: dict[str, Any]) -> RunConfig:
    """Validate and build a config; unknown keys raise :class:`ConfigError`."""
    config = build_settings(RunConfig, data)  # types and each field's rule
    _check_relations(config)
    return config


def preset_dict(name: str) -> dict[str, Any]:
    """The TOML preset ``name`` (one of :data:`PRESETS`) as a dict."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    text = resources.files("privshare.config").joinpath(f"presets/{name}.toml").read_text()
    return tomllib.loads(text)


def read_toml(path: str | Path, *, what: str = "TOML file") -> dict[str, Any]:
    """Read a UTF-8 TOML file; a missing, unreadable, non-UTF-8 or invalid file raises
    :class:`ConfigError` naming ``what`` and the path."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{what} {str(path)!r} is a folder, not a file; pass a TOML file")
    if not path.is_file():
        raise ConfigError(f"{what} {str(path)!r} does not exist; pass a TOML file")
    try:
        return tomllib.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as err:
        raise ConfigError(f"{what} {str(path)!r} is not UTF-8 text (byte "
                          f"{err.object[err.start]:#04x} at offset {err.start}); save it as "
                          "UTF-8") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{what} {str(path)!r} is not valid TOML: {err}") from err
    except OSError as err:
        raise ConfigError(f"{what} {str(path)!r} cannot be read ({err.strerror}); check its "
                          "permissions") from err


def parse_override(text: str) -> dict[str, Any]:
    """Turn ``"train.epochs_gan=5"`` into ``{"train": {"epochs_gan": 5}}``.

    The value is read as a TOML value (``5``, ``0.1``, ``[0.01, 0.5]``,
    ``true``); anything that is not valid TOML is taken as a plain string.
    """
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like section.key=value")
    if any(c in text for c in "\n\r\x00"):
        raise ConfigError(f"override {text!r} holds a line break or NUL, which would smuggle in "
                          "more TOML; give one key=value per --set, on one line")
    key, raw = text.split("=", 1)
    key = key.strip()
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    nested: dict[str, Any] = {}
    node = nested
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return nested


def load_config(
    *,
    preset: str | None = None,
    path: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
) -> RunConfig:
    """Defaults, then a preset, then a TOML file, then ``--set`` overrides."""
    data: dict[str, Any] = {}
    if preset:
        data = _merge(data, preset_dict(preset))
    if path is not None:
        path = Path(path)
        data = _merge(data, read_toml(path, what="config file"))
    for text in overrides:
        data = _merge(data, parse_override(text))
    return config_from_dict(data)


def save_config(config: RunConfig, path: str | Path) -> None:
    """Write the resolved config as TOML."""
    Path(path).write_text(tomli_w.dumps(config_to_dict(config)))


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


NAME_BYTES = 200  # a run folder name's limit: the file system allows 255, the cells' suffixes need room


def _check_name(name: str) -> None:
    """``name`` becomes one folder under ``out_dir``: no separators, no ``..``, printable."""
    _check(bool(name) and name not in (".", "..") and "/" not in name and "\\" not in name,
           f"name={name!r} must be one folder name: not empty, '.' or '..', without '/' or "
           "'\\'; e.g. name=\"my-run\" (put the parent folder in out_dir)")
    _check(name.isprintable(),
           f"name={name!r} holds a control character (a line break?); use letters, digits, "
           "'-' and '_'")
    size = len(name.encode("utf-8"))
    _check(size <= NAME_BYTES,
           f"name={name[:40]!r}... is {size} bytes long; a run folder name may have at most "
           f"{NAME_BYTES}: pick a shorter name")


def non_finite_settings(node: Any, prefix: str = "", *, nested: bool = True
                        ) -> list[tuple[str, Any]]:
    """Every float setting of ``node`` (a config dataclass; with ``nested``, its nested settings
    too) that is NaN or infinite."""
    out: list[tuple[str, Any]] = []
    for f in dataclasses.fields(node):
        value, key = getattr(node, f.name), f"{prefix}{rules.written_key(f)}"
        if dataclasses.is_dataclass(value):
            out += non_finite_settings(value, f"{key}.") if nested else []
        elif isinstance(value, float) and not math.isfinite(value):
            out.append((key, value))
        elif isinstance(value, tuple) and any(isinstance(v, float) and not math.isfinite(v)
                                              for v in value):
            out.append((key, list(value)))
    return out


def check_finite(node: Any, prefix: str = "", *, nested: bool = True) -> None:
    """ConfigError naming the first NaN or infinite float setting of ``node``, if any."""
    bad = non_finite_settings(node, prefix, nested=nested)
    if bad:
        key, value = bad[0]
        what = "must hold finite numbers only" if isinstance(value, list) else "must be a finite number"
        raise ConfigError(f"{key}={value} {what} (not nan or inf)")


def _check_split(config: RunConfig) -> None:
    """The owners' split (:mod:`privshare.config.shares`): what can be checked before the data
    is loaded; the columns of ``class_shares`` when ``classes`` is () and a drawn Dirichlet
    table are checked by :func:`privshare.data.prepare.prepare_data`, with the same rules."""
    d, methods = config.data, config.train.methods
    problems = [shares.fraction_problem(d.fractions),
                shares.dirichlet_problem(d.dirichlet, class_shares=d.class_shares)]
    if d.class_shares:
        classes = d.classes or None
        problems.append(shares.table_problem(d.class_shares, owners=len(d.fractions),
                                             classes=classes, privgan="privgan" in methods))
    for problem in problems:
        _check(not problem, problem)


def validate(config: RunConfig) -> None:
    """Every check of :func:`config_from_dict`, for a config built in code."""
    check_fields(config)
    _check_relations(config)


def _check_relations(config: RunConfig) -> None:
    """Checks that no single field's rule (:mod:`privshare.config.rules`) can express."""
    d, t, m = config.data, config.train, config.model
    _check(0 <= config.seed < 2 ** 63, f"seed={config.seed} must be in [0, 2**63), e.g. 0")
    _check_name(config.name)
    _check(len(set(d.classes)) == len(d.classes),
           f"data.classes={list(d.classes)} names class(es) "
           f"{sorted({c for c in d.classes if d.classes.count(c) > 1})} more than once; "
           "list each class once")
    _check(not t.owner_privacy_weights or len(t.owner_privacy_weights) == len(d.fractions),
           f"train.owner_privacy_weights={list(t.owner_privacy_weights)} has "
           f"{len(t.owner_privacy_weights)} value(s) for {len(d.fractions)} owners "
           f"(data.fractions={list(d.fractions)}); give one lambda per owner "
           "(--set 'train.owner_privacy_weights=[...]'), or [] for train.privacy_weight "
           "everywhere")
    _check(not t.owner_privacy_weights or t.privacy_weight == max(t.owner_privacy_weights),
           f"train.privacy_weight={t.privacy_weight} would be unused: "
           f"train.owner_privacy_weights={list(t.owner_privacy_weights)} gives each owner's "
           "lambda; change those (privacy_weight must then be their largest, "
           f"{max(t.owner_privacy_weights, default=0.0)}), or set train.owner_privacy_weights=[] "
           "for privacy_weight everywhere")
    _check(not t.owner_d_every or len(t.owner_d_every) == len(d.fractions),
           f"train.owner_d_every={list(t.owner_d_every)} has {len(t.owner_d_every)} value(s) "
           f"for {len(d.fractions)} owners (data.fractions={list(d.fractions)}); give one "
           "interval per owner (--set 'train.owner_d_every=[...]'), or [] for every step")
    _check("privgan" not in config.train.methods or t.central_delay < t.epochs_privgan,
           f"train.central_delay={t.central_delay} >= train.epochs_privgan={t.epochs_privgan}: "
           "the central discriminator would never train and privGAN's privacy term would come "
           "from an untrained one; set train.central_delay below train.epochs_privgan (paper: 0)")
    dev = t.device
    _check(dev in ("auto", "cpu", "cuda") or (dev.startswith("cuda:") and dev[5:].isdigit()),
           f"train.device={dev!r}: auto, cpu, cuda or cuda:N")
    _check_split(config)
    spe = t.steps_per_epoch
    _check(
        spe in ("largest", "smallest") or (spe.isdigit() and int(spe) > 0),
        f"train.steps_per_epoch={spe!r}: use 'largest', 'smallest' or a positive integer",
    )
    _check(not (t.compile and t.r1_gamma > 0),
           f"train.compile=true with train.r1_gamma={t.r1_gamma}: R1 differentiates D_i's input "
           "gradient, which compiled graphs cannot; set train.compile=false or train.r1_gamma=0")
    g = m.minibatch_std
    _check(g == 0 or (g >= 2 and m.kind == "mlp" and t.batch_size % g == 0),
           f"model.minibatch_std={g}: 0 (off) or a group size >= 2 that divides train.batch_size="
           f"{t.batch_size}, with model.kind='mlp'")
    _check(m.d_dropout == 0 or m.kind == "mlp",
           f"model.d_dropout={m.d_dropout} needs model.kind='mlp' (set it to 0 for conv networks)")
    _check(m.generator_norm == "none" or m.kind == "conv",
           f"model.generator_norm={m.generator_norm!r} needs model.kind='conv'; set "
           "model.generator_norm=\"none\" for MLP networks")
    _check(not (m.spectral_norm and m.kind == "conv"),
           "model.spectral_norm=true is implemented for model.kind='mlp' only; set one of them")
    _validate_dpsgd(config)


def _validate_dpsgd(config: RunConfig) -> None:
    """The settings the per-row gradients of ``dpgan`` cannot take.

    Whether a target epsilon is reachable depends on the rows of each class,
    so that is checked once the partition is known (``privshare.training.accounting``).
    """
    t, m = config.train, config.model
    if "dpgan" not in t.methods:
        return
    _check(m.kind == "mlp", f"model.kind={m.kind!r} cannot train with train.methods containing "
           "'dpgan': the convolutional networks' channels-last layout has no per-row gradient "
           "under torch.func; set model.kind=\"mlp\" (in a run of its own if the other "
           "methods should keep conv networks)")
    coupled = {"model.spectral_norm": m.spectral_norm, "model.minibatch_std": m.minibatch_std,
               "model.d_dropout": m.d_dropout, "train.r1_gamma": t.r1_gamma}
    for key, value in coupled.items():
        _check(not value, f"{key}={value} cannot train with train.methods containing 'dpgan': "
               "DP-SGD needs each real row's own gradient of a plain D; set it to 0 / false (in "
               "a run of its own if the other methods should keep it)")
