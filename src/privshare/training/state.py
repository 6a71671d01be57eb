"""Stateful pieces of training: one owner's private models, and D_central.

An :class:`OwnerState` is what never leaves an owner: its real rows, G_i,
D_i, their optimisers and its random stream. A :class:`CentralState` is the
central discriminator D_central with its optimiser. Both have ``state_dict()`` /
``load_state_dict()``; real rows are never part of a state dict.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from privshare.config import ModelConfig, OptimConfig
from privshare.models import (
    CentralDiscriminator,
    Discriminator,
    Generator,
    build_central_discriminator,
    build_discriminator,
    build_generator,
)
from privshare.training.augment import augment as _augment
from privshare.training.losses import random_other_holder, random_other_owner
from privshare.training.runtime import compile_network


FUSED_ADAM_DEVICES = ("cpu", "cuda")


def make_adam(params, config: OptimConfig) -> torch.optim.Adam:
    """Adam with the fused kernel where torch has one (one pass over each tensor).

    Same update as the per-tensor loop; measured 14 % off a 10-class fp32
    step on CPU, where the loop's seven elementwise passes over 40 M
    parameters are memory-bound.
    """
    params = list(params)
    fused = params[0].device.type in FUSED_ADAM_DEVICES
    return torch.optim.Adam(
        params, lr=config.lr, betas=(config.beta1, config.beta2), eps=config.eps, fused=fused
    )


def load_adam(optimizer: torch.optim.Adam, state: dict) -> None:
    """Load ``state`` but keep this optimiser's kernel choice (a checkpoint carries its own)."""
    fused = [group["fused"] for group in optimizer.param_groups]
    optimizer.load_state_dict(state)
    for group, flag in zip(optimizer.param_groups, fused):
        group["fused"] = flag
        for param in group["params"] if flag else ():
            saved = optimizer.state.get(param, {})
            if torch.is_tensor(saved.get("step")):  # the fused kernel wants it beside the weights
                saved["step"] = saved["step"].to(device=param.device, dtype=torch.float32)


def _rng(seed: int, device: torch.device) -> torch.Generator:
    rng = torch.Generator(device=device)
    rng.manual_seed(seed)
    return rng


@dataclass
class RealRows:
    """An owner's real rows, per class, scaled to [-1, 1] and padded.

    Attributes
    ----------
    x : (C, n_max, D) float tensor; rows past ``counts[c]`` are padding.
    counts : (C,) int64 tensor, rows of each class; 0 for a class the owner
        does not hold (its rows are all padding, and its models are masked out).
    """

    x: torch.Tensor
    counts: torch.Tensor

    @classmethod
    def from_arrays(
        cls, per_class: list[np.ndarray], *, device: torch.device, dtype: torch.dtype
    ) -> RealRows:
        """``per_class[c]``: uint8 images (n_c, H, W) of class c."""
        counts = [len(a) for a in per_class]
        if max(counts) < 1:
            raise ValueError(f"an owner needs at least one real row, got counts {counts}")
        dim = int(np.prod(per_class[0].shape[1:]))
        x = np.zeros((len(per_class), max(counts), dim), dtype=np.float32)
        for c, arr in enumerate(per_class):
            x[c, : len(arr)] = (arr.reshape(len(arr), dim).astype(np.float32) - 127.5) / 127.5
        return cls(
            x=torch.from_numpy(x).to(device=device, dtype=dtype),
            counts=torch.tensor(counts, dtype=torch.long, device=device),
        )

    @property
    def holds(self) -> torch.Tensor:
        """(C,) bool: the classes this owner has rows of."""
        return self.counts > 0

    def sample(self, batch: int, rng: torch.Generator) -> torch.Tensor:
        """``batch`` rows per class drawn with replacement: (C, batch, D).

        A class without rows gives its first padding row (zeros), which only
        masked-out models see.
        """
        c = self.x.shape[0]
        u = torch.rand((c, batch), generator=rng, device=self.x.device)
        idx = (u * self.counts[:, None]).long().clamp_max_(self.counts[:, None] - 1).clamp_min_(0)
        rows = torch.arange(c, device=self.x.device)[:, None]
        return self.x[rows, idx]


class OwnerState:
    """One owner's private GAN: G_i, D_i, their Adams and its random stream.

    ``r1_gamma > 0`` adds the R1 penalty to D_i's loss on every ``r1_every``-th
    D_i step (:func:`discriminator_step`). ``d_every = k`` lets D_i step on
    every k-th call of :func:`discriminator_step` only (the first included);
    G_i still gets its fakes on every call.
    ``augment`` (names from :data:`privshare.training.augment.AUGMENTATIONS`)
    is applied to everything D_i sees (:meth:`d_view`); ``ema_decay > 0``
    keeps an exponential moving average of G_i's weights, updated after each
    generator step (:meth:`update_ema`), and :attr:`sampler` (what is saved,
    exported and attacked black-box) is then that average instead of G_i.
    ``holds`` (C,) bool marks the classes the owner has rows of; when some is
    False, :attr:`class_mask` (C,) float weights its per-class losses (0 for
    the classes it lacks, whose G_i and D_i then never move); None otherwise.
    """

    def __init__(
        self,
        *,
        index: int,
        model: ModelConfig,
        optim: OptimConfig,
        classes: int,
        data_dim: int,
        init_seed: int,
        stream_seed: int,
        device: torch.device,
        dtype: torch.dtype = torch.float32,
        augment: tuple[str, ...] = (),
        ema_decay: float = 0.0,
        r1_gamma: float = 0.0,
        r1_every: int = 1,
        d_every: int = 1,
        holds: torch.Tensor | None = None,
    ) -> None:
        init = torch.Generator().manual_seed(init_seed)
        self.index = index
        self.class_mask: torch.Tensor | None = None
        if holds is not None and not bool(holds.all()):
            self.class_mask = holds.to(device=device, dtype=torch.float32)
        self.generator: Generator = build_generator(
            model, models=classes, data_dim=data_dim, generator=init
        ).to(device=device, dtype=dtype)
        self.discriminator: Discriminator = build_discriminator(
            model, models=classes, data_dim=data_dim, generator=init
        ).to(device=device, dtype=dtype)
        self.opt_g = make_adam(self.generator.parameters(), optim)
        self.opt_d = make_adam(self.discriminator.parameters(), optim)
        self.rng = _rng(stream_seed, device)
        if isinstance(self.discriminator, Discriminator):  # D_i's dropout masks: this owner's stream
            self.discriminator.dropout_rng = self.rng
        self.augment = tuple(augment)
        self.r1_gamma = float(r1_gamma)
        self.r1_every = int(r1_every)
        self.d_steps = 0  # D_i steps taken: which of them carry the lazy R1 penalty
        if int(d_every) < 1:
            raise ValueError(f"d_every={d_every} must be >= 1 (1 = a D_i step on every call)")
        self.d_every = int(d_every)
        self.d_calls = 0  # calls of the D_i step, stepped or rested (d_every > 1)
        self.ema: AveragedModel | None = None
        if ema_decay > 0:  # torch's own EMA: a frozen copy, foreach lerp after each G step
            # use_buffers: a batch-normalised G's running statistics are averaged with its weights
            self.ema = AveragedModel(self.generator, multi_avg_fn=get_ema_multi_avg_fn(ema_decay),
                                     use_buffers=True)
            self.ema.requires_grad_(False)
        self.latent_dim = model.latent_dim
        self.device = device
        self.dtype = dtype

    def compile(self, *, batch: int, precision: str) -> bool:
        """``torch.compile`` G_i and D_i (see :func:`compile_network`); True if both compiled."""
        ok_g = compile_network(self.generator, batch=batch, precision=precision,
                               label=f"G_{self.index}")
        ok_d = compile_network(self.discriminator, batch=batch, precision=precision,
                               label=f"D_{self.index}")
        return ok_g and ok_d

    @property
    def sampler(self) -> Generator:
        """The generator that is saved and sampled: G_i's moving average if kept, else G_i."""
        return self.generator if self.ema is None else self.ema.module

    def update_ema(self) -> None:
        """Fold G_i's current weights into the moving average (no-op without one)."""
        if self.ema is not None:
            self.ema.update_parameters(self.generator)

    def d_view(self, x: torch.Tensor) -> torch.Tensor:
        """What D_i is shown of rows ``x`` (C, B, D): augmented if asked, from this owner's stream."""
        return _augment(x, self.augment, rng=self.rng)

    def noise(self, batch: int, rng: torch.Generator | None = None) -> torch.Tensor:
        """z ~ N(0, I): (C, batch, latent), from this owner's stream by default."""
        shape = (self.generator.models, batch, self.latent_dim)
        return torch.randn(shape, generator=rng or self.rng, device=self.device, dtype=self.dtype)

    def real_batch(self, rows: RealRows, batch: int) -> torch.Tensor:
        """``batch`` of the owner's real rows per class, (C, batch, D), from its stream."""
        return rows.sample(batch, self.rng)

    def other_owners(self, *, owners: int, batch: int, holds: torch.Tensor | None) -> torch.Tensor:
        """y' of G_i's D_central term, (C, batch) int64, from this owner's stream: another
        owner per row (another holder of the row's class when ``holds`` (N, C) is given)."""
        if holds is None:
            return random_other_owner(owner=self.index, owners=owners,
                                      shape=(self.generator.models, batch), rng=self.rng,
                                      device=self.device)
        return random_other_holder(owner=self.index, holds=holds, batch=batch, rng=self.rng)

    def state_dict(self) -> dict:
        return {
            "index": self.index,
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "rng": self.rng.get_state(),
            "d_steps": self.d_steps,
            "d_calls": self.d_calls,
            **({"ema": self.ema.state_dict()} if self.ema is not None else {}),
        }

    def load_state_dict(self, state: dict) -> None:
        needed = {"index", "generator", "discriminator", "opt_g", "opt_d", "rng"}
        if self.ema is not None:
            needed.add("ema")
        missing = needed - set(state)
        if missing:
            raise KeyError(f"owner state lacks {sorted(missing)}; the checkpoint is incomplete")
        if state["index"] != self.index:
            raise ValueError(f"owner state is for owner {state['index']}, not {self.index}")
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        load_adam(self.opt_g, state["opt_g"])
        load_adam(self.opt_d, state["opt_d"])
        self.rng.set_state(state["rng"])
        self.d_steps = int(state.get("d_steps", 0))  # checkpoints written before lazy R1: 0
        self.d_calls = int(state.get("d_calls", self.d_steps))  # before owner_d_every: one each
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])


class CentralState:
    """The central discriminator D_central and its Adam."""

    def __init__(
        self,
        *,
        model: ModelConfig,
        optim: OptimConfig,
        classes: int,
        data_dim: int,
        owners: int,
        init_seed: int,
        device: torch.device,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        init = torch.Generator().manual_seed(init_seed)
        self.network: CentralDiscriminator = build_central_discriminator(
            model, models=classes, data_dim=data_dim, owners=owners, generator=init
        ).to(device=device, dtype=dtype)
        self.optimizer = make_adam(self.network.parameters(), optim)
        self.owners = owners

    def state_dict(self) -> dict:
        return {"network": self.network.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        missing = {"network", "optimizer"} - set(state)
        if missing:
            raise KeyError(f"central state lacks {sorted(missing)}; the checkpoint is incomplete")
        self.network.load_state_dict(state["network"])
        load_adam(self.optimizer, state["optimizer"])
