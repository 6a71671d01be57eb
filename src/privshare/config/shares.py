"""Owners' shares of each class: every rule on ``fractions``, ``class_shares`` and ``dirichlet``.

A split is an owners x classes table of shares: owner i holds
``round(share[i][c] * n_c)`` of class c's ``n_c`` train rows (at least one
when the share is positive, none when it is 0). ``data.fractions`` gives
every class the same column; ``data.class_shares`` writes the table out;
``data.dirichlet`` draws it (:func:`privshare.data.partition.dirichlet_shares`).

Each rule is defined once, here, and returns ``""`` when the value is sound
or a one-line message naming the key, the value and the fix. The config
loader raises :class:`~privshare.config.loading.ConfigError` with it and
the data layer :class:`~privshare.data.DataError`, so both refuse with the
same words. Nothing here imports torch or numpy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Table = Sequence[Sequence[float]]
COLUMN_SLACK = 1e-9  # float rounding allowed above 1 in a column (or fractions) sum


def fraction_problem(fractions: Sequence[float], *, key: str = "data.fractions") -> str:
    """At least 2 owners, each share in (0, 1), summing to at most 1."""
    fr = [float(f) for f in fractions]
    if len(fr) < 2:
        return (f"{key}={fr}: need at least 2 owners (privGAN trains N >= 2); give one fraction "
                "per owner, e.g. [0.02, 0.2]")
    for j, f in enumerate(fr):
        if not math.isfinite(f) or f <= 0:
            return (f"{key}[{j}]={f} is not positive; each must be in (0, 1), a share of every "
                    "class's rows, e.g. 0.02")
        if f >= 1:
            return (f"{key}[{j}]={f} is >= 1; each must be in (0, 1) (0.2 means 20% of each "
                    "class's rows)")
    if sum(fr) > 1 + COLUMN_SLACK:
        return (f"{key}={fr} sum to {sum(fr):.4f} > 1; owners' shares are disjoint, lower them "
                "(owners' subsets must be disjoint)")
    return ""


def dirichlet_problem(alpha: float, *, class_shares: Table) -> str:
    """A concentration > 0 (0 = off), and not together with an explicit table."""
    if not math.isfinite(alpha) or alpha < 0:
        return (f"data.dirichlet={alpha} must be a concentration > 0 (e.g. 0.5; smaller gives "
                "owners less alike), or 0 to split by data.fractions")
    if alpha > 0 and len(class_shares):
        return (f"data.class_shares and data.dirichlet={alpha} are both set; they are two ways "
                "to give the owners' shares: keep one (set data.dirichlet=0 or "
                "data.class_shares=[])")
    return ""


def _label(classes: Sequence[int] | None, c: int) -> str:
    return f"class {classes[c]}" if classes is not None else f"column {c}"


def table_problem(table: Table, *, owners: int, classes: Sequence[int] | None,
                  key: str = "data.class_shares", privgan: bool = False) -> str:
    """Shape owners x classes, finite shares >= 0, each class summing to at most 1,
    and :func:`holder_problem` on the positive shares.

    ``classes``: the run's labels in column order, or None when not yet known
    (``data.classes = []``: the columns are then checked once the data is loaded).
    """
    rows = [list(r) for r in table]
    width = len(rows[0]) if rows else 0
    if len(rows) != owners or any(len(r) != width for r in rows) or (
            classes is not None and width != len(classes)):
        shape = f"{len(rows)} x {'/'.join(sorted({str(len(r)) for r in rows})) or 0}"
        want = f"{owners} x {len(classes) if classes is not None else 'classes'}"
        return (f"{key} is {shape} (owners x classes); it must be {want}: one row per owner of "
                "data.fractions, one column per class of the run"
                + (f" ({list(classes)})" if classes is not None else ""))
    for i, r in enumerate(rows):
        for c, s in enumerate(r):
            if not math.isfinite(s) or s < 0:
                return (f"{key}[{i}][{c}]={s} is not a share >= 0; write 0 for a class owner "
                        f"{i} does not hold, e.g. 0.02 for 2% of the class")
    for c in range(width):
        total = sum(r[c] for r in rows)
        if total > 1 + COLUMN_SLACK:
            return (f"{key}: {_label(classes, c)} (column {c}) sums to {total:.4f} > 1 over the "
                    "owners; owners' rows are disjoint, lower that column's shares")
    return holder_problem(holds(rows), classes=classes, key=key, privgan=privgan)


def holder_problem(held: Sequence[Sequence[bool]], *, classes: Sequence[int] | None,
                   key: str = "data.class_shares", privgan: bool = False) -> str:
    """Every class held by some owner and every owner holding some class; with
    ``privgan``, every class held by at least 2 owners.

    ``held``: owners x classes, True where the owner has rows of the class.
    privGAN's D_central learns which owner made a fake of class c; with one holder
    there is nothing to tell apart, G_i's privacy term for c vanishes and the
    class's rows would leave privGAN with no protection from it.
    """
    rows = [list(r) for r in held]
    for c in range(len(rows[0]) if rows else 0):
        holders = [i for i, r in enumerate(rows) if r[c]]
        if not holders:
            return (f"{key}: no owner holds {_label(classes, c)} (column {c} is all 0), so no "
                    "model can learn it; give it a positive share or drop it from data.classes")
        if privgan and len(holders) == 1:
            return (f"{key}: only owner {holders[0]} holds {_label(classes, c)} (column {c}); "
                    "privGAN's central discriminator cannot tell owners apart on a class one "
                    "owner holds, so its privacy term would vanish for it: give a second owner "
                    "a positive share, "
                    "drop the class (data.classes) or train train.methods=['gan'] only")
    for i, r in enumerate(rows):
        if not any(r):
            return (f"{key}[{i}] is all 0: owner {i} would hold no rows at all; give it a "
                    "positive share of some class or remove that owner")
    return ""


def holds(table: Table) -> list[list[bool]]:
    """owners x classes: True where the share is positive (the owner holds rows of the class)."""
    return [[s > 0 for s in r] for r in table]
