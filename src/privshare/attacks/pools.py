"""Attack pools drawn from a saved partition: members, non-members, others.

For owner j and class c, members are a sample of owner j's training rows of
class c, non-members a sample of the class's rows that no owner holds, and
"others" a sample of the other owners' rows of the class (for the
score-distribution figures and the attack on the central discriminator).
Pool sizes are capped by what the partition has; the drawn sizes are kept.
An owner that holds no row of a class has no pool for it (nothing to be a
member of, and no model of the class to attack).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from privshare.data import Partition
from privshare.seeding import derive_seed

MEMBERS, NONMEMBERS, OTHERS = 0, 1, 2  # seed sub-streams


@dataclass(frozen=True)
class AttackPool:
    """Row indices into the train split, one class, one attacked owner."""

    owner: int
    cls: int
    members: np.ndarray  # int64, sorted: the owner's training rows
    nonmembers: np.ndarray  # int64, sorted: rows no owner holds (or test rows, offset past train)
    others: np.ndarray  # int64, sorted: other owners' training rows

    def counts(self) -> dict[str, int]:
        return {"members": len(self.members), "nonmembers": len(self.nonmembers),
                "others": len(self.others)}


def _sample(rows: np.ndarray, n: int, *, seed: int) -> np.ndarray:
    """``min(n, len(rows))`` rows without replacement, sorted."""
    rng = np.random.default_rng(seed)
    take = rng.choice(len(rows), size=min(n, len(rows)), replace=False)
    return np.sort(rows[take]).astype(np.int64)


def draw_pools(
    partition: Partition, *, owner: int, seed: int, members: int = 200, nonmembers: int = 800,
    nonmember_rows: dict[int, np.ndarray] | None = None,
) -> list[AttackPool]:
    """One :class:`AttackPool` per class of ``partition`` that ``owner`` holds rows of.

    Non-members are drawn from ``nonmember_rows[c]`` (indices of class c's
    candidates) when given, else from the train rows no owner holds. The
    non-member sample of a class depends only on ``seed``, the class and the
    candidates, so every owner is attacked against the same non-members.
    """
    if members < 1 or nonmembers < 1:
        raise ValueError(f"members={members} and nonmembers={nonmembers} must both be >= 1")
    pools = []
    for k, c in enumerate(partition.classes):
        own = partition.owner_class_indices(owner, c)
        if not len(own):  # the owner lacks this class: no members, no model to attack
            continue
        rest = [partition.owner_class_indices(j, c) for j in range(partition.owners) if j != owner]
        others = np.sort(np.concatenate(rest)) if rest else np.zeros(0, np.int64)
        pools.append(AttackPool(
            owner=owner,
            cls=int(c),
            members=_sample(own, members, seed=derive_seed(seed, MEMBERS, owner, k)),
            nonmembers=_sample(partition.nonmember_class_indices(c) if nonmember_rows is None
                               else nonmember_rows[int(c)], nonmembers,
                               seed=derive_seed(seed, NONMEMBERS, k)),
            others=_sample(others, members, seed=derive_seed(seed, OTHERS, owner, k)),
        ))
    return pools
