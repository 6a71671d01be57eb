"""Owner j's side of federated privGAN: plain PyTorch, no Flower types.

A session starts from the owner's checkpoint on its own disk (a fresh
process per message, or once for a long-lived ClientApp process), runs the
SAME step functions as :class:`privshare.training.PrivGANTrainer` and saves
the state back before every reply leaves, so a node that is killed and
restarted goes on from its checkpoint, and a round that is asked for twice
is answered from the saved reply instead of being trained twice. Its state
is built by :mod:`privshare.training.privgan_setup` and its export written by
:func:`privshare.artifacts.export.export_owner`, as in a one-process run.

One round with K local steps, given D_central's current weights W (the server's)::

    for k in range(K):
        if a fake from the previous step is pending:   # G step of that step
            privgan_generator_step(G_j(z_prev), D_central=W)
        z = noise(); D_j step on [real, G_j(z)]        # discriminator_step
        D_central.grad += share of its loss on G_j(z)  # central_gradient_share
    reply mean D_central.grad over the K steps

With K = 1 this is the one-process step split at the D_central update: the G step
of step s runs at the start of round s + 1 with the D_central the server just
updated, exactly as in ``PrivGANTrainer.train_step``. ``finish`` takes the
last pending G step. z is kept (on the owner's disk) instead of the fake:
G_j is unchanged between the two halves, so G_j(z) is recomputed exactly.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from privshare.artifacts.export import export_owner
from privshare.artifacts.layout import RunLayout
from privshare.artifacts.models import save_owner_model
from privshare.config import RunConfig, config_to_dict
from privshare.training import (
    CheckpointError,
    autocast,
    build_central_state,
    build_owner_state,
    keep_freed_memory,
    load_checkpoint,
    master_dtype,
    resolve_device,
    save_checkpoint,
)
from privshare.training.checkpoint import CHECKPOINT_VERSION
from privshare.training.steps import (
    central_gradient_share,
    discriminator_step,
    privgan_generator_step,
)
from privshare.federated import trace
from privshare.federated.data import load_owner_rows
from privshare.federated.records import RoundOrder
from privshare.federated.settings import FederationError, OwnerNodeConfig

log = logging.getLogger(__name__)
KIND = "federated_owner"


class OwnerSession:
    """Owner j's private GAN, real rows, local D_central copy and round bookkeeping.

    Parameters
    ----------
    config : RunConfig
        The run's resolved configuration (the same on every node).
    node : OwnerNodeConfig
        This owner's index, data file and folder.
    owners : int
        N, the number of owners (D_central's output size).
    """

    def __init__(self, *, config: RunConfig, node: OwnerNodeConfig, owners: int) -> None:
        if not 0 <= node.owner < owners:
            raise FederationError(f"node config owner={node.owner}, but the run has owners 0..{owners - 1}")
        self.config, self.node, self.owners = config, node, owners
        self.device = resolve_device(node.device or config.train.device)
        self.seed = config.seed if node.seed is None else node.seed  # this owner's root seed
        self.layout = RunLayout(node.run_dir)  # this owner writes owner_<j>/ and its checkpoint
        data = load_owner_rows(node.data, classes=config.data.classes, device=self.device,
                               dtype=master_dtype(config.train.precision))
        self.rows, self.classes, self.image_shape = data.rows, data.classes, data.image_shape
        n_classes, _, data_dim = self.rows.x.shape
        self.state = build_owner_state(config, owner=node.owner, rows=self.rows,
                                       device=self.device, seed=self.seed)
        self.central = build_central_state(  # D_central's weights come from the server every round
            config, classes=n_classes, data_dim=data_dim, owners=owners, device=self.device,
        ).network
        if config.train.tune_allocator:
            keep_freed_memory()
        self.pending_z: torch.Tensor | None = None  # (C, B, latent) of the step whose G step is due
        self.done_round = -1
        self.finished = False
        self.last_reply: dict[str, Any] | None = None
        self._load()

    @property
    def checkpoint_path(self) -> Path:
        return self.layout.checkpoint("privgan", self.node.owner)

    def describe(self) -> dict[str, Any]:
        """What the server may know: index, name, class list, row counts, image shape."""
        return {
            "owner": self.node.owner, "name": self.node.label, "classes": list(self.classes),
            "counts": [int(n) for n in self.rows.counts.tolist()],
            "image_shape": list(self.image_shape), "done_round": self.done_round,
        }

    def train_round(
        self, central_weights: dict[str, torch.Tensor], order: RoundOrder
    ) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
        """Run one round; return (mean D_central gradient over the round, scalar metrics)."""
        if (cached := self._cached(order.round, finish=False)) is not None:
            return cached["grads"], cached["metrics"]
        self.central.load_state_dict(central_weights)
        self.central.zero_grad(set_to_none=True)
        t, c = self.config.train, self.rows.x.shape[0]
        g_losses, d_losses, shares = [], [], []
        for k in range(order.steps):
            if self.pending_z is not None:
                g_losses.append(self._generator_step())
            z = self.state.noise(t.batch_size)  # (C, B, latent), owner's own stream
            fake, d_loss = discriminator_step(
                self.state, self.rows, batch=t.batch_size, smoothing=t.smoothing_privgan,
                z=z, keep_graph=False, precision=t.precision,
            )
            d_losses.append(d_loss)
            if order.first_step + k >= order.central_from_step:
                shares.append(central_gradient_share(
                    self.central, fake, owner=self.node.owner, owners=self.owners,
                    precision=t.precision))
            self.pending_z = z
        grads = {
            name: (p.grad / len(shares)) if p.grad is not None else torch.zeros_like(p)
            for name, p in self.central.named_parameters()
        }
        metrics = {
            "round": float(order.round), "steps": float(order.steps), "central_steps": float(len(shares)),
            "d": float(torch.stack(d_losses).mean()) / c,
            "central_share": float(torch.stack(shares).mean()) / c if shares else 0.0,
        }
        if g_losses:
            metrics["g"] = float(torch.stack(g_losses).mean()) / c
        trace.event("owner_steps_done", owner=self.node.owner, round=order.round)
        self._commit(order.round, {"grads": grads, "metrics": metrics}, finished=False)
        trace.event("owner_saved", owner=self.node.owner, round=order.round)
        return grads, metrics

    def finish(self, central_weights: dict[str, torch.Tensor], order: RoundOrder) -> dict[str, float]:
        """Take the last pending G step, save G_j and D_j, export synthetic data here."""
        if (cached := self._cached(order.round, finish=True)) is not None:
            return cached["metrics"]
        self.central.load_state_dict(central_weights)
        metrics = {"round": float(order.round)}
        if self.pending_z is not None:
            metrics["g"] = float(self._generator_step()) / self.rows.x.shape[0]
        self._export()
        self._commit(order.round, {"metrics": metrics}, finished=True)
        return metrics

    # -- internals -------------------------------------------------------------------------

    def _generator_step(self) -> torch.Tensor:
        precision = self.config.train.precision
        with autocast(self.device, precision):
            fake = self.state.generator(self.pending_z)  # same G_j, same z: the pending fake
        self.pending_z = None
        return privgan_generator_step(
            self.state, fake, network=self.central, owners=self.owners,
            privacy_weight=self.config.train.privacy_weight_of(self.node.owner), precision=precision,
        )

    def _cached(self, round_index: int, *, finish: bool) -> dict[str, Any] | None:
        """The saved reply if this round is asked again; raise if it is out of order."""
        if round_index == self.done_round and self.finished == finish and self.last_reply:
            log.info("%s: round %d asked again; answering from the saved reply",
                     self.node.label, round_index)
            return self.last_reply
        if self.finished or round_index != self.done_round + 1:
            raise FederationError(
                f"{self.node.label} has done round {self.done_round} (finished={self.finished}) "
                f"and cannot run round {round_index}; if its checkpoint "
                f"{str(self.checkpoint_path)!r} is from an earlier run, delete it or use another "
                "run-dir"
            )
        return None

    def _commit(self, round_index: int, reply: dict[str, Any], *, finished: bool) -> None:
        self.done_round, self.last_reply, self.finished = round_index, reply, finished
        save_checkpoint(self.checkpoint_path, {
            "version": CHECKPOINT_VERSION, "kind": KIND, "config": config_to_dict(self.config),
            "epoch": round_index, "history": [],
            "state": {"owner": self.state.state_dict(), "pending_z": self.pending_z,
                      "done_round": round_index, "finished": finished, "last_reply": reply},
        })

    def _load(self) -> None:
        if not self.checkpoint_path.is_file():
            return
        payload = load_checkpoint(self.checkpoint_path, kind=KIND)
        if payload["config"] != config_to_dict(self.config):
            raise CheckpointError(
                f"{str(self.checkpoint_path)!r} was written under another configuration; "
                "delete it to start this owner over, or use another run-dir"
            )
        s = payload["state"]
        self.state.load_state_dict(s["owner"])
        z = s["pending_z"]
        self.pending_z = None if z is None else z.to(self.device)
        self.done_round, self.finished = int(s["done_round"]), bool(s["finished"])
        self.last_reply = s["last_reply"]
        log.info("%s: resumed from %s after round %d", self.node.label, self.checkpoint_path,
                 self.done_round)

    def _export(self) -> None:
        """G_j, D_j, labelled synthetic rows and a grid, in this owner's folder only."""
        j, methods = self.node.owner, self.config.train.methods
        save_owner_model(self.layout, method="privgan", owner=j, state=self.state,
                         classes=self.classes, image_shape=self.image_shape)
        # seeded by privGAN's place among the configured methods, as a one-process run of them
        export_owner(self.layout, config=self.config, method="privgan", owner=j,
                     methods=methods if "privgan" in methods else ("privgan",), seed=self.seed)
