"""Constraints of single settings fields, declared as data beside each field.

A field of a settings dataclass (run, evaluation, sweep, federated) carries
its rule in its metadata::

    r1_gamma: float = field(default=0.0, metadata=rule(">= 0", example="1.0", note="0 = off"))

and :func:`privshare.config.loading.build_settings`, the one loader of every
settings class, checks each field's rule right after its type, so every
class refuses an out-of-range value with the same kind of message::

    train.r1_gamma=-1.0 must be >= 0, e.g. 1.0 (0 = off)

A rule on a list field applies to each item (``choices``, bounds) and to the
list (``distinct``, ``nonempty``). Rules that tie two fields together stay in
each class's validator. Nothing here imports torch or the rest of the package.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from dataclasses import dataclass
from typing import Any

from privshare.config.renamed import renamed_message

_BOUNDS = re.compile(r"^\s*(?:(>=|>|<=|<)\s*(\S+)|([\[(])\s*(\S+)\s*,\s*(\S+)\s*([\])]))\s*$")
Interval = tuple[float, bool, float, bool]  # (low, low included, high, high included)


@functools.lru_cache(maxsize=None)
def _interval(bounds: str) -> Interval:
    """``">= 1"`` -> (1, True, inf, False), ``"(0, 0.5]"`` -> (0, False, 0.5, True); a bound
    that is not of these forms with numbers is a schema bug (ValueError)."""
    m = _BOUNDS.match(bounds)
    try:
        if m and m.group(1):
            op, edge = m.group(1), float(m.group(2))
            return {">=": (edge, True, math.inf, False), ">": (edge, False, math.inf, False),
                    "<=": (-math.inf, False, edge, True), "<": (-math.inf, False, edge, False)}[op]
        if m:
            return float(m.group(4)), m.group(3) == "[", float(m.group(5)), m.group(6) == "]"
    except ValueError:
        pass
    raise ValueError(f"rule bounds {bounds!r}: write '>= a', '> a', '[a, b)' and so on, with "
                     "numbers a and b")


@dataclass(frozen=True)
class Rule:
    """What one field accepts, beyond its type.

    ``bounds``: ``">= 1"``, ``"> 0"``, ``"[0, 1)"``, ``"(0, 0.5]"`` or ``""``;
    ``choices``: the allowed strings (``()`` = any); ``distinct`` / ``nonempty``:
    for list fields; ``example`` and ``note`` end the message.
    """

    bounds: str = ""
    choices: tuple[str, ...] = ()
    distinct: bool = False
    nonempty: bool = False
    example: str = ""
    note: str = ""

    def __post_init__(self) -> None:
        if self.bounds:
            _interval(self.bounds)  # a malformed bound fails when the schema is imported

    def _inside(self, v: float) -> bool:
        lo, lo_in, hi, hi_in = _interval(self.bounds)
        return math.isfinite(v) and (lo <= v if lo_in else lo < v) and (v <= hi if hi_in else v < hi)

    def _tail(self) -> str:
        return (f", e.g. {self.example}" if self.example else "") + \
               (f" ({self.note})" if self.note else "")

    def _phrase(self) -> str:
        return f"in {self.bounds}" if self.bounds[0] in "[(" else self.bounds

    def problem(self, key: str, value: Any) -> str:
        """The one-line refusal of ``value`` for setting ``key``, or ``""`` if it passes."""
        items = list(value) if isinstance(value, tuple) else [value]
        shown = items if isinstance(value, tuple) else value
        if self.nonempty and not items:
            return f"{key}=[] must list at least one value{self._tail()}"
        if self.choices:
            bad = [v for v in items if v not in self.choices]
            renamed = [m for v in bad if (m := renamed_message(str(v), what="value"))]
            if renamed:
                return f"{key}: {renamed[0]}"
            if bad:
                allowed = f"from {list(self.choices)}" if len(self.choices) > 4 else \
                    " or ".join([", ".join(self.choices[:-1]), self.choices[-1]] if
                                len(self.choices) > 1 else self.choices)
                what = f"unknown {bad}; " if isinstance(value, tuple) else ""
                return f"{key}={shown!r}: {what}choose {allowed}{self._tail()}"
        if self.distinct and len(set(items)) != len(items):
            twice = sorted({v for v in items if items.count(v) > 1}, key=str)
            return f"{key}={shown!r} names {twice} more than once; list each value once"
        if self.bounds and any(isinstance(v, (int, float)) and not isinstance(v, bool)
                               and not self._inside(v) for v in items):
            if isinstance(value, tuple):
                return f"{key}={shown!r} must have each value {self._phrase()}{self._tail()}"
            return f"{key}={value} must be {self._phrase()}{self._tail()}"
        return ""


def rule(bounds: str = "", *, choices: tuple[str, ...] = (), distinct: bool = False,
         nonempty: bool = False, example: str = "", note: str = "", key: str = "") -> dict[str, Any]:
    """Field metadata holding one :class:`Rule` (``field(default=..., metadata=rule(...))``);
    ``key``: the name written in files and messages when it is not the field's name."""
    out: dict[str, Any] = {"rule": Rule(bounds=bounds, choices=tuple(choices), distinct=distinct,
                                        nonempty=nonempty, example=example, note=note)}
    return {**out, "key": key} if key else out


def field_rule(f: dataclasses.Field) -> Rule | None:
    """The rule a dataclass field declares, if any."""
    return f.metadata.get("rule")


def rule_problems(node: Any, prefix: str = "") -> list[str]:
    """Every field of dataclass ``node`` (not nested ones) whose value breaks its rule."""
    out = []
    for f in dataclasses.fields(node):
        r = field_rule(f)
        if r is not None and (text := r.problem(prefix + written_key(f), getattr(node, f.name))):
            out.append(text)
    return out


def written_key(f: dataclasses.Field) -> str:
    """The name a person writes for field ``f`` (metadata ``key``, else the field's name)."""
    return f.metadata.get("key", f.name)

