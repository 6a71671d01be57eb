"""Membership scorers behind one signature, registered by name.

A scorer is called as ``scorer(run, owner=j, x=x, y=y, **options)`` with
real rows ``x`` (uint8, (n, H, W)) and their labels ``y`` (n,), and returns
one float per row, (n,): the higher, the more the attacker believes the row
is one of owner j's training rows. Options select the variant (which model,
how scores of several discriminators are aggregated), never a copy of the code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from privshare.config.renamed import renamed_message

Scorer = Callable[..., np.ndarray]
_ATTACKS: dict[str, Scorer] = {}


def register_attack(name: str) -> Callable[[Scorer], Scorer]:
    """Decorator: make a scorer available as ``get_attack(name)``."""
    def add(fn: Scorer) -> Scorer:
        if name in _ATTACKS and _ATTACKS[name] is not fn:
            raise ValueError(f"attack {name!r} is registered twice; pick another name")
        _ATTACKS[name] = fn
        return fn
    return add


def get_attack(name: str) -> Scorer:
    """The scorer registered as ``name``."""
    _load_builtin()
    if name not in _ATTACKS:
        raise KeyError(renamed_message(name, what="attack")
                       or f"unknown attack {name!r}; registered: {sorted(_ATTACKS)}")
    return _ATTACKS[name]


def available_attacks() -> tuple[str, ...]:
    _load_builtin()
    return tuple(sorted(_ATTACKS))


def score(name: str, run: Any, *, owner: int, x: np.ndarray, y: np.ndarray, **options: Any) -> np.ndarray:
    """Run the scorer ``name`` and check it returns one finite score per row."""
    out = np.asarray(get_attack(name)(run, owner=owner, x=x, y=y, **options), dtype=np.float64)
    assert out.shape == (len(x),), (name, out.shape, len(x))
    return out


def _load_builtin() -> None:
    from privshare.attacks import blackbox, whitebox  # noqa: F401  (they register themselves)
