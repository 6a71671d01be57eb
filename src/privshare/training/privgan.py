"""The privGAN trainer for N >= 2 owners, all classes batched.

Per step (reference step, see :mod:`privshare.training.steps`):
each owner draws z and a real batch and takes one D_i step; if the epoch is
past ``central_delay`` D_central takes one step on all owners' fakes (target = the owner
that made each fake); then each G_i takes one step on
``BCE(D_i(G_i(z)), 1) + lambda_i * CE(D_central(G_i(z)), y')`` with y' a random other
owner (lambda_i: ``train.privacy_weight_of(i)``). D_central never sees a real row unless
``central_pretrain_epochs > 0``.

Owners that are not alike (an owner with no row of class c, ``counts[c] ==
0``): owner j's G_j^c and D_j^c are never trained (their loss terms are
masked out, so Adam never moves them), D_central's term for class c runs over the
owners that hold c only, and y' is another holder of c. Every class must be
held by at least two owners (else D_central has nothing to tell apart).
"""

from __future__ import annotations

import torch

from privshare.config import RunConfig
from privshare.config import shares as rules
from privshare.seeding import CENTRAL, STAGE_PRIVGAN, STREAM, derive_seed
from privshare.training.losses import central_class_weights
from privshare.training.privgan_setup import (
    build_central_state,
    build_owner_state,
    privgan_steps_per_epoch,
)
from privshare.training.runtime import master_dtype
from privshare.training.state import RealRows
from privshare.training.steps import (
    central_gradient_shares,
    central_pretrain_step,
    discriminator_step,
    privgan_generator_steps,
)


class PrivGANTrainer:
    """One-process privGAN over ``len(rows)`` owners.

    Parameters
    ----------
    config : RunConfig
        Resolved run configuration.
    rows : list of RealRows
        Each owner's real rows (C classes, same class order for every owner);
        a class with no rows is one the owner lacks (see the module docstring).
    device : torch.device
        Where models and rows live.
    """

    kind = "privgan"

    def __init__(self, *, config: RunConfig, rows: list[RealRows], device: torch.device) -> None:
        if len(rows) < 2:
            raise ValueError(f"privGAN needs at least 2 owners, got {len(rows)}")
        self.config = config
        self.rows = rows
        self.device = device
        self.dtype = master_dtype(config.train.precision)
        n_owners = len(rows)
        classes, _, data_dim = rows[0].x.shape
        holds = torch.stack([r.holds for r in rows])  # (N, C) bool
        problem = rules.holder_problem(holds.tolist(), classes=None, key="rows", privgan=True)
        if problem:
            raise ValueError(f"privGAN cannot train these owners' rows: {problem}")
        # (N, C) bool, or None when every owner holds every class (the unweighted steps)
        self.holds = None if bool(holds.all()) else holds.to(device)
        # (N, C) float32: each owner's per-class weight in D_central's loss (None: unweighted)
        self.class_weights = None if self.holds is None else central_class_weights(self.holds)
        self.owners = [build_owner_state(config, owner=j, rows=r, device=device)
                       for j, r in enumerate(rows)]
        self.central = build_central_state(config, classes=classes, data_dim=data_dim,
                                           owners=n_owners, device=device)
        self.shared_rng = torch.Generator(device=device)
        self.shared_rng.manual_seed(derive_seed(config.seed, STAGE_PRIVGAN, CENTRAL, STREAM))
        self.classes = classes
        # lambda in each owner's generator loss (a (C,) tensor per owner when cells are packed)
        self.privacy_weights: list[float | torch.Tensor] = [
            config.train.privacy_weight_of(j) for j in range(n_owners)]
        self.epoch = 0
        self.pretrained = config.train.central_pretrain_epochs == 0
        self.history: list[dict[str, float]] = []

    def steps_per_epoch(self) -> int:
        """Steps per epoch from the (owner, class) subsets that exist (absent pairs ignored)."""
        counts = [n for r in self.rows for n in r.counts.tolist()]
        return privgan_steps_per_epoch(self.config, counts=counts)

    def prepare(self) -> None:
        """Optional D_central pre-training on real rows (original privGAN; off by default)."""
        if self.pretrained:
            return
        t = self.config.train
        steps = t.central_pretrain_epochs * self.steps_per_epoch()
        for _ in range(steps):
            batches = [o.real_batch(r, t.batch_size) for r, o in zip(self.rows, self.owners)]
            central_pretrain_step(
                self.central.network, self.central.optimizer, batches, precision=t.precision,
                weights=self.class_weights,
            )
        self.pretrained = True

    def train_step(self) -> dict[str, torch.Tensor]:
        """One privGAN step for every owner and class; returns detached losses.

        Losses are reported as the mean over classes (gradients use the sum):
        the classes the owner holds for ``d_j`` and ``g_j``, every class for ``central``.
        """
        t = self.config.train
        n = len(self.owners)
        z_shared = None
        if t.noise == "shared":
            z_shared = self.owners[0].noise(t.batch_size, rng=self.shared_rng)
        losses: dict[str, torch.Tensor] = {}
        fakes = []
        for owner, rows in zip(self.owners, self.rows):
            fake, d_loss = discriminator_step(
                owner, rows, batch=t.batch_size, smoothing=t.smoothing_privgan, z=z_shared,
                precision=t.precision,
            )
            fakes.append(fake)
            losses[f"d_{owner.index}"] = d_loss
        if self.epoch >= t.central_delay:
            self.central.optimizer.zero_grad(set_to_none=True)
            share = central_gradient_shares(self.central.network, fakes, owners=n,
                                            precision=t.precision, weights=self.class_weights)
            self.central.optimizer.step()
            self.central.optimizer.zero_grad(set_to_none=True)
            losses["central"] = torch.stack(share).sum()
        g_losses = privgan_generator_steps(
            self.owners, fakes, network=self.central.network, owners=n,
            privacy_weights=self.privacy_weights, precision=t.precision, holds=self.holds)
        losses.update({f"g_{o.index}": g for o, g in zip(self.owners, g_losses)})
        held = {f"{p}_{j}": int(r.holds.sum()) for j, r in enumerate(self.rows) for p in "dg"}
        return {k: v / held.get(k, self.classes) for k, v in losses.items()}  # per-class means

    def state_dict(self) -> dict:
        return {
            "owners": [o.state_dict() for o in self.owners],
            "central": self.central.state_dict(),
            "shared_rng": self.shared_rng.get_state(),
            "pretrained": self.pretrained,
        }

    def load_state_dict(self, state: dict) -> None:
        if len(state["owners"]) != len(self.owners):
            raise ValueError(
                f"checkpoint has {len(state['owners'])} owners, this run {len(self.owners)}"
            )
        for owner, s in zip(self.owners, state["owners"]):
            owner.load_state_dict(s)
        self.central.load_state_dict(state["central"])
        self.shared_rng.set_state(state["shared_rng"])
        self.pretrained = bool(state["pretrained"])
