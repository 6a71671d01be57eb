"""Seed derivation: every random stream comes from the run's root seed.

Streams are children of ``numpy.random.SeedSequence(root)`` addressed by a
spawn key, so ``derive_seed(root, STAGE_PRIVGAN, owner, INIT)`` equals the
seed of ``SeedSequence(root).spawn(...)[STAGE_PRIVGAN].spawn(...)[owner]...``
without materialising the siblings. Keys are recorded with each run.
"""

from __future__ import annotations

import numpy as np

STAGE_PARTITION = 0
STAGE_PRIVGAN = 1
STAGE_GAN = 2
STAGE_EXPORT = 3
STAGE_EVALUATION = 4
STAGE_DPGAN = 6  # (5 seeds sweep cells: privshare.experiments.sweep.STAGE_SWEEP)

CENTRAL = 1000  # owner slot used for D_central and for the shared noise stream
INIT = 0  # sub-stream: weight initialisation
STREAM = 1  # sub-stream: noise, batches and random targets during training


def derive_seed(root: int, *keys: int) -> int:
    """A 63-bit seed for the stream at ``keys`` under ``root``."""
    seq = np.random.SeedSequence(int(root), spawn_key=tuple(int(k) for k in keys))
    return int(seq.generate_state(1, np.uint64)[0] & np.uint64(2**63 - 1))
