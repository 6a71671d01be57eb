"""Owner j's side of federated privGAN: plain PyTorch, no Flower types.

A session starts from the owner's checkpoint on its own disk (a fresh
process per message, or once for a long-lived ClientApp process), runs the
SAME step functions as :class:`privshare.training.PrivGANTrainer` and saves
the state back before every reply leaves, so a node that is killed and
restarted goes on from its checkpoint, and a round that is asked for twice
is answered from the saved reply instead of being trained twice.

One round with K local steps, given DP's current weights W (the server's)::

    for k in range(K):
        if a fake from the previous step is pending:   # G step of that step
            privgan_generator_step(G_j(z_prev), DP=W)
        z = noise(); D_j step on [real, G_j(z)]        # discriminator_step
        DP.grad += share of DP's loss on G_j(z)         # central_gradient_share
    reply mean DP.grad over the K steps

With K = 1 this is the one-process step split at the DP update: the G step
of step s runs at the start of round s + 1 with the DP the server just
updated, exactly as in ``PrivGANTrainer.train_step``. ``finish`` takes the
last pending G step. z is kept (on the owner's disk) instead of the fake:
G_j is unchanged between the two halves, so G_j(z) is recomputed exactly.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from privshare.config import RunConfig, config_to_dict
from privshare.models import build_central_discriminator
from privshare.seeding import INIT, STAGE_EXPORT, STAGE_PRIVGAN, STREAM, derive_seed
from privshare.training import (
    CheckpointError,
    OwnerState,
    autocast,
    compile_network,
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
    """Owner j's private GAN, real rows, local DP copy and round bookkeeping.

    Parameters
    ----------
    config : RunConfig
        The run's resolved configuration (the same on every node).
    node : OwnerNodeConfig
        This owner's index, data file and folder.
    owners : int
        N, the number of owners (DP's output size).
    """

    def __init__(self, *, config: RunConfig, node: OwnerNodeConfig, owners: int) -> None:
        if not 0 <= node.owner < owners:
            raise FederationError(f"node config owner={node.owner}, but the run has owners 0..{owners - 1}")
        self.config, self.node, self.owners = config, node, owners
        self.device = resolve_device(node.device or config.train.device)
        dtype = master_dtype(config.train.precision)
        data = load_owner_rows(node.data, classes=config.data.classes, device=self.device, dtype=dtype)
        self.rows, self.classes, self.image_shape = data.rows, data.classes, data.image_shape
        n_classes, _, data_dim = self.rows.x.shape
        j, seed = node.owner, config.seed if node.seed is None else node.seed
        self.state = OwnerState(
            index=j, model=config.model, optim=config.optim, classes=n_classes, data_dim=data_dim,
            init_seed=derive_seed(seed, STAGE_PRIVGAN, j, INIT),
            stream_seed=derive_seed(seed, STAGE_PRIVGAN, j, STREAM),
            device=self.device, dtype=dtype,
            augment=config.train.augment, ema_decay=config.train.ema_decay,
            r1_gamma=config.train.r1_gamma,
            r1_every=config.train.r1_every,
        )
        self.central = build_central_discriminator(
            config.model, models=n_classes, data_dim=data_dim, owners=owners
        ).to(device=self.device, dtype=dtype)  # weights come from the server every round
        if config.train.tune_allocator:
            keep_freed_memory()
        if config.train.compile:
            t = config.train
            self.state.compile(batch=t.batch_size, precision=t.precision)
            compile_network(self.central, batch=t.batch_size, precision=t.precision, label="DP")
        self.pending_z: torch.Tensor | None = None  # (C, B, latent) of the step whose G step is due
        self.done_round = -1
        self.finished = False
        self.last_reply: dict[str, Any] | None = None
        self._load()

    @property
    def checkpoint_path(self) -> Path:
        # RunLayout(run_dir).checkpoint("privgan", j), spelled out: importing
        # privshare.artifacts would add scikit-learn to every message's start-up
        return self.node.run_dir / "checkpoints" / f"privgan_owner_{self.node.owner}.pt"

    def describe(self) -> dict[str, Any]:
        """What the server may know: index, name, class list, row counts, image shape."""
        return {
            "owner": self.node.owner, "name": self.node.label, "classes": list(self.classes),
            "counts": [int(n) for n in self.rows.counts.tolist()],
            "image_shape": list(self.image_shape), "done_round": self.done_round,
        }

    def train_round(
        self, dp_weights: dict[str, torch.Tensor], order: RoundOrder
    ) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
        """Run one round; return (mean DP gradient over the round, scalar metrics)."""
        if (cached := self._cached(order.round, finish=False)) is not None:
            return cached["grads"], cached["metrics"]
        self.central.load_state_dict(dp_weights)
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
            if order.first_step + k >= order.dp_from_step:
                shares.append(central_gradient_share(
                    self.central, fake, owner=self.node.owner, owners=self.owners,
                    precision=t.precision))
            self.pending_z = z
        grads = {
            name: (p.grad / len(shares)) if p.grad is not None else torch.zeros_like(p)
            for name, p in self.central.named_parameters()
        }
        metrics = {
            "round": float(order.round), "steps": float(order.steps), "dp_steps": float(len(shares)),
            "d": float(torch.stack(d_losses).mean()) / c,
            "dp_share": float(torch.stack(shares).mean()) / c if shares else 0.0,
        }
        if g_losses:
            metrics["g"] = float(torch.stack(g_losses).mean()) / c
        trace.event("owner_steps_done", owner=self.node.owner, round=order.round)
        self._commit(order.round, {"grads": grads, "metrics": metrics}, finished=False)
        trace.event("owner_saved", owner=self.node.owner, round=order.round)
        return grads, metrics

    def finish(self, dp_weights: dict[str, torch.Tensor], order: RoundOrder) -> dict[str, float]:
        """Take the last pending G step, save G_j and D_j, export synthetic data here."""
        if (cached := self._cached(order.round, finish=True)) is not None:
            return cached["metrics"]
        self.central.load_state_dict(dp_weights)
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
            privacy_weight=self.config.train.privacy_weight, precision=precision,
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
        from privshare.artifacts import RunLayout, save_grid, save_model_file, save_npz_atomic, to_uint8

        layout = RunLayout(self.node.run_dir)
        j, e = self.node.owner, self.config.export
        save_model_file(
            layout.model("privgan", j), kind="privgan_owner", classes=self.classes,
            image_shape=self.image_shape,
            networks={"generator": self.state.sampler.state_dict(),
                      "discriminator": self.state.discriminator.state_dict()},
        )
        methods = self.config.train.methods
        m_i = methods.index("privgan") if "privgan" in methods else 0  # as export_synthetic
        seed = self.config.seed if self.node.seed is None else self.node.seed
        rng = torch.Generator().manual_seed(derive_seed(seed, STAGE_EXPORT, m_i, j))
        c, n = len(self.classes), e.samples_per_class
        z = torch.randn((c, n, self.config.model.latent_dim), generator=rng)
        generator = self.state.sampler.to("cpu", torch.float32).eval()
        with torch.no_grad():
            flat = generator(z).reshape(c * n, -1).numpy()
        x = to_uint8(flat, self.image_shape)
        y = torch.tensor(self.classes).repeat_interleave(n).numpy()
        save_npz_atomic(layout.synthetic("privgan", j), x=x, y=y)
        save_grid(layout.grid("privgan", j), x, y, classes=self.classes, columns=e.grid_columns)
