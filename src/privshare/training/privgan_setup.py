"""privGAN's parties, built one way: an owner's state, D_central's state, the epoch length.

The one-process trainer (:class:`privshare.training.PrivGANTrainer`) and the
federated apps (:mod:`privshare.federated.owner`, :mod:`privshare.federated.server`)
build their states here, so every path starts from the same seeds
(``derive_seed(root, STAGE_PRIVGAN, owner | CENTRAL, INIT | STREAM)``), the
same master dtype and the same compiled forwards, and counts the same
steps per epoch.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from privshare.config import RunConfig
from privshare.seeding import CENTRAL, INIT, STAGE_PRIVGAN, STREAM, derive_seed
from privshare.training.runtime import compile_network, master_dtype, steps_per_epoch
from privshare.training.state import CentralState, OwnerState, RealRows


def build_owner_state(
    config: RunConfig,
    *,
    owner: int,
    rows: RealRows,
    device: torch.device,
    seed: int | None = None,
) -> OwnerState:
    """Owner ``owner``'s G_j, D_j, their Adams and its random stream.

    Parameters
    ----------
    config : RunConfig
        The run's configuration: ``model``, ``optim`` and the ``train`` levers
        (precision, augment, EMA, R1, compile).
    owner : int
        j, the owner's index: its seed slot and its label in D_central.
    rows : RealRows
        The owner's real rows, (C, n_max, D): they give the class count C, the
        image size D and the classes the owner holds.
    device : torch.device
        Where the models live.
    seed : int or None
        Root seed of the owner's streams; None means ``config.seed`` (a
        federated owner may keep a private one).

    G_j's and D_j's forwards are compiled when ``train.compile`` is set.
    """
    t = config.train
    root = config.seed if seed is None else seed
    classes, _, data_dim = rows.x.shape
    state = OwnerState(
        index=owner,
        model=config.model,
        optim=config.optim,
        classes=classes,
        data_dim=data_dim,
        init_seed=derive_seed(root, STAGE_PRIVGAN, owner, INIT),
        stream_seed=derive_seed(root, STAGE_PRIVGAN, owner, STREAM),
        device=device,
        dtype=master_dtype(t.precision),
        augment=t.augment,
        ema_decay=t.ema_decay,
        r1_gamma=t.r1_gamma,
        r1_every=t.r1_every,
        d_every=t.d_every_of(owner),
        holds=rows.holds,
    )
    if t.compile:  # each network falls back to eager on its own
        state.compile(batch=t.batch_size, precision=t.precision)
    return state


def build_central_state(
    config: RunConfig,
    *,
    classes: int,
    data_dim: int,
    owners: int,
    device: torch.device,
    compile_forward: bool = True,
) -> CentralState:
    """The central discriminator D_central (C classes, N = ``owners`` outputs) and its Adam.

    ``compile_forward``: compile D_central's forward when ``train.compile`` is set;
    False where D_central is only stepped and sent, never run (the federated server).
    """
    t = config.train
    state = CentralState(
        model=config.model,
        optim=config.optim,
        classes=classes,
        data_dim=data_dim,
        owners=owners,
        init_seed=derive_seed(config.seed, STAGE_PRIVGAN, CENTRAL, INIT),
        device=device,
        dtype=master_dtype(t.precision),
    )
    if compile_forward and t.compile:
        compile_network(state.network, batch=t.batch_size, precision=t.precision, label="D_central")
    return state


def privgan_steps_per_epoch(config: RunConfig, *, counts: Iterable[int]) -> int:
    """Steps per privGAN epoch under ``train.steps_per_epoch``.

    ``counts``: the rows of every (owner, class) subset; empty ones (a class
    an owner lacks) are ignored.
    """
    t = config.train
    return steps_per_epoch(t.steps_per_epoch, counts=[int(n) for n in counts if n > 0],
                           batch=t.batch_size)
