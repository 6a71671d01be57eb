"""Cell packing: several privGAN cells trained as one ensemble.

A grid cell's privGAN already trains its C classes as one ensemble (a leading
model dimension of C). K cells that share everything but their seed, their
owners' rows and their privacy weight can be stacked further: the leading
dimension then holds K x C models, so one step of K cells costs one set of
kernel launches per layer instead of K. On a GPU, where one cell's step is
launch-bound, that is the speed-up; on a CPU it saves little, since the
products were large already.

Each cell trains exactly as it would alone:
- its networks start from its own initial weights (the cells' states are
  stacked, not re-initialised), and Adam's update is elementwise, so one
  Adam over the stack is K Adams;
- every loss sums over models, so each model's gradient is its own;
- each cell keeps its own random streams: the noise, real batches,
  augmentations and D_central targets of cell k are drawn from cell k's
  owner streams, in the order its own run draws them, and stacked;
- cell k's privacy weight multiplies its models' D_central term (a per-model
  weight instead of one scalar).

``tests/training/test_packing.py`` checks this in float64 against the cells
trained one by one: every weight, Adam moment and random stream agrees after
several steps. :meth:`PackedPrivGAN.unpack` writes the trained state back
into each cell's own trainer, which saves and exports as any run does.

What cannot be packed is refused (:func:`pack_problem`): settings other than
seed, data fractions and privacy weight that differ between cells, unequal
steps per epoch, and the levers whose random draws are not per cell
(dropout in D_i, shared noise, D_central pre-training on real rows) or whose
state is not stacked here (EMA of G_i, compiled forwards, owners that lack a
class).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from privshare.config import RunConfig, config_to_dict
from privshare.config.loading import flatten_keys
from privshare.models import build_central_discriminator, build_discriminator, build_generator
from privshare.training.privgan import PrivGANTrainer
from privshare.training.state import CentralState, OwnerState, RealRows, load_adam, make_adam

# keys that may differ between packed cells (dotted, as in config files)
CELL_KEYS = ("seed", "name", "out_dir", "data.fractions", "train.privacy_weight",
             "train.owner_privacy_weights")


class PackingError(ValueError):
    """These cells cannot be trained as one ensemble; the message says why."""


def cell_settings(config: RunConfig) -> dict[str, Any]:
    """Every setting (dotted key -> value) that must agree between packed cells."""
    return {k: v for k, v in flatten_keys(config_to_dict(config)) if k not in CELL_KEYS}


def pack_signature(config: RunConfig) -> str:
    """Equal for two runs exactly when their :func:`cell_settings` agree (a grouping key)."""
    return repr(sorted((k, repr(v)) for k, v in cell_settings(config).items()))


def pack_problem(configs: Sequence[RunConfig]) -> str | None:
    """Why these cells' configs cannot be packed, or None when they can.

    The cells' steps per epoch (which depend on their rows) are checked by
    :class:`PackedPrivGAN` itself.
    """
    if len(configs) < 1:
        return "no cells to pack"
    first, *rest = [cell_settings(c) for c in configs]
    for i, settings in enumerate(rest, start=1):
        differ = sorted(k for k in set(first) | set(settings) if first.get(k) != settings.get(k))
        if differ:
            return (f"cell {i} differs from cell 0 in {', '.join(differ)}; only "
                    f"{', '.join(CELL_KEYS)} may differ between packed cells")
    c = configs[0]
    t, m = c.train, c.model
    refused = {
        "model.d_dropout > 0 (D_i's dropout masks come from one stream per network)": m.d_dropout > 0,
        "train.ema_decay > 0 (G_i's moving average is not stacked)": t.ema_decay > 0,
        "train.compile (compiled forwards are per cell)": bool(t.compile),
        "train.noise = 'shared' (one noise stream for every owner)": t.noise == "shared",
        "train.central_pretrain_epochs > 0 (D_central pre-training on real rows)":
            t.central_pretrain_epochs > 0,
    }
    hit = [name for name, bad in refused.items() if bad]
    if hit:
        return f"packing does not support {'; '.join(hit)}; train these cells one by one"
    return None


def _stack(values: list[Any], models: int, where: str) -> Any:
    """Stack K cells' states: tensors along their leading (model) dimension; anything else
    (Adam's step count, its settings) must agree and is kept once."""
    first = values[0]
    if isinstance(first, dict):
        keys = first.keys()
        if any(v.keys() != keys for v in values):
            raise PackingError(f"{where}: the cells' states hold different entries")
        return {k: _stack([v[k] for v in values], models, f"{where}.{k}") for k in keys}
    if isinstance(first, list):
        return [_stack([v[i] for v in values], models, f"{where}[{i}]") for i in range(len(first))]
    if torch.is_tensor(first) and first.dim() > 0:
        if any(v.shape[0] != models for v in values):
            raise PackingError(f"{where}: a tensor's leading dimension is not the {models} models")
        return torch.cat(values, dim=0)
    if any(not _same(v, first) for v in values):
        raise PackingError(f"{where}: the cells disagree ({first!r} against others); pack cells "
                           "at the same step")
    return first


def _same(a: Any, b: Any) -> bool:
    return bool(torch.equal(a, b)) if torch.is_tensor(a) else a == b


def _cut(value: Any, k: int, models: int) -> Any:
    """Cell k's part of a stacked state (the inverse of :func:`_stack`)."""
    if isinstance(value, dict):
        return {key: _cut(v, k, models) for key, v in value.items()}
    if isinstance(value, list):
        return [_cut(v, k, models) for v in value]
    if torch.is_tensor(value):
        return value[k * models:(k + 1) * models].clone() if value.dim() > 0 else value.clone()
    return value


class PackedRows:
    """One owner's real rows in K cells (each a :class:`RealRows` of C classes)."""

    def __init__(self, cells: list[RealRows]) -> None:
        self.cells = cells
        self.holds = torch.cat([r.holds for r in cells])  # (K * C,)


class PackedOwner:
    """Owner j of K cells as one: G_j and D_j of K x C models, one Adam each.

    It offers what the step functions use of an :class:`OwnerState`; every
    random draw comes from each cell's own stream, in that cell's order, and
    is stacked. The cells' :class:`OwnerState` objects are kept for their
    streams and to take the trained state back (:meth:`unpack`).
    """

    def __init__(self, cells: list[OwnerState], config: RunConfig, *, data_dim: int) -> None:
        first = cells[0]
        self.cells = cells
        self.index = first.index
        self.models = first.generator.models  # C, per cell
        total = self.models * len(cells)
        # built with a throwaway seed (the global stream stays untouched), then overwritten
        self.generator = build_generator(config.model, models=total, data_dim=data_dim,
                                         generator=torch.Generator().manual_seed(0))
        self.discriminator = build_discriminator(config.model, models=total, data_dim=data_dim,
                                                 generator=torch.Generator().manual_seed(0))
        for name in ("generator", "discriminator"):
            net = getattr(self, name)
            net.to(device=first.device, dtype=first.dtype)
            net.load_state_dict(_stack([getattr(c, name).state_dict() for c in cells],
                                       self.models, f"owner {self.index}'s {name}"))
        self.opt_g = make_adam(self.generator.parameters(), config.optim)
        self.opt_d = make_adam(self.discriminator.parameters(), config.optim)
        for opt, attr in ((self.opt_g, "opt_g"), (self.opt_d, "opt_d")):
            load_adam(opt, _stack([getattr(c, attr).state_dict() for c in cells], self.models,
                                   f"owner {self.index}'s {attr}"))
        self.class_mask = None  # every owner holds every class (checked by PackedPrivGAN)
        self.augment = first.augment
        self.r1_gamma, self.r1_every, self.d_steps = first.r1_gamma, first.r1_every, first.d_steps
        # owner_d_every agrees between packed cells (a cell setting), so do the calls counted
        self.d_every, self.d_calls = first.d_every, first.d_calls
        self.latent_dim, self.device, self.dtype = first.latent_dim, first.device, first.dtype

    def update_ema(self) -> None:
        """No moving average in packed training (refused by :func:`pack_problem`)."""

    def noise(self, batch: int, rng: torch.Generator | None = None) -> torch.Tensor:
        if rng is not None:
            raise PackingError("packed cells draw their noise from their own streams")
        return torch.cat([c.noise(batch) for c in self.cells])

    def real_batch(self, rows: PackedRows, batch: int) -> torch.Tensor:
        return torch.cat([c.real_batch(r, batch) for c, r in zip(self.cells, rows.cells)])

    def d_view(self, x: torch.Tensor) -> torch.Tensor:
        if not self.augment:
            return x
        return torch.cat([c.d_view(part) for c, part in zip(self.cells, x.split(self.models))])

    def other_owners(self, *, owners: int, batch: int, holds: torch.Tensor | None) -> torch.Tensor:
        if holds is not None:
            raise PackingError("packed cells need every owner to hold every class")
        return torch.cat([c.other_owners(owners=owners, batch=batch, holds=None) for c in self.cells])

    def state_dict(self) -> dict:
        return {"index": self.index, "generator": self.generator.state_dict(),
                "discriminator": self.discriminator.state_dict(),
                "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
                "rngs": [c.rng.get_state() for c in self.cells], "d_steps": self.d_steps,
                "d_calls": self.d_calls}

    def load_state_dict(self, state: dict) -> None:
        if state["index"] != self.index or len(state["rngs"]) != len(self.cells):
            raise ValueError(f"packed owner state is for owner {state['index']} of "
                             f"{len(state['rngs'])} cells, not owner {self.index} of {len(self.cells)}")
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        load_adam(self.opt_g, state["opt_g"])
        load_adam(self.opt_d, state["opt_d"])
        for c, rng in zip(self.cells, state["rngs"]):
            c.rng.set_state(rng)
        self.d_steps = int(state["d_steps"])
        self.d_calls = int(state.get("d_calls", self.d_steps))

    def unpack(self) -> None:
        """Write each cell's slice of the trained state back into its own OwnerState."""
        state = self.state_dict()
        for k, cell in enumerate(self.cells):
            cell.load_state_dict({
                "index": self.index, "rng": cell.rng.get_state(), "d_steps": self.d_steps,
                "d_calls": self.d_calls,
                **{name: _cut(state[name], k, self.models)
                   for name in ("generator", "discriminator", "opt_g", "opt_d")}})


class PackedCentral:
    """D_central of K cells as one network of K x C models, with one Adam."""

    def __init__(self, cells: list[CentralState], config: RunConfig, *, classes: int,
                 data_dim: int, owners: int) -> None:
        self.cells, self.classes, self.owners = cells, classes, owners
        first = next(cells[0].network.parameters())
        self.network = build_central_discriminator(config.model, models=classes * len(cells),
                                                   data_dim=data_dim, owners=owners,
                                                   generator=torch.Generator().manual_seed(0))
        self.network.to(device=first.device, dtype=first.dtype)
        self.network.load_state_dict(_stack([c.network.state_dict() for c in cells], classes,
                                            "D_central"))
        self.optimizer = make_adam(self.network.parameters(), config.optim)
        load_adam(self.optimizer, _stack([c.optimizer.state_dict() for c in cells], classes,
                                          "D_central's Adam"))

    def state_dict(self) -> dict:
        return {"network": self.network.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.network.load_state_dict(state["network"])
        load_adam(self.optimizer, state["optimizer"])

    def unpack(self) -> None:
        state = self.state_dict()
        for k, cell in enumerate(self.cells):
            cell.load_state_dict(_cut(state, k, self.classes))


class PackedPrivGAN(PrivGANTrainer):
    """K privGAN cells (:class:`PrivGANTrainer`, built as usual) trained as one.

    Train it with :func:`privshare.training.fit` like any trainer, then call
    :meth:`unpack`: each cell's trainer then holds its trained networks,
    optimisers, streams, epoch and the packed run's history. The losses
    reported each step are per-class means over all K x C models (one
    history for the pack, not one per cell).
    """

    kind = "privgan-packed"

    def __init__(self, cells: Sequence[PrivGANTrainer]) -> None:  # noqa: D107 - no super().__init__:
        # every part is built from the cells' own, already initialised, states
        cells = list(cells)
        problem = pack_problem([c.config for c in cells])
        if problem is None and any(c.holds is not None for c in cells):
            problem = "packed cells need every owner to hold every class"
        if problem is None:
            steps = {c.steps_per_epoch() for c in cells}
            if len(steps) > 1:
                problem = (f"the cells take {sorted(steps)} steps per epoch; pack only cells "
                           "with the same (their largest subsets set it)")
        if problem is None and len({c.epoch for c in cells}) > 1:
            problem = "the cells are at different epochs; pack cells at the same epoch"
        if problem is None and len({len(c.owners) for c in cells}) > 1:
            problem = "the cells have different numbers of owners"
        if problem:
            raise PackingError(problem)
        first = cells[0]
        self.cells = cells
        self.config = first.config
        self.device, self.dtype = first.device, first.dtype
        classes, _, data_dim = first.rows[0].x.shape
        n_owners = len(first.owners)
        self.rows = [PackedRows([c.rows[j] for c in cells]) for j in range(n_owners)]
        self.owners = [PackedOwner([c.owners[j] for c in cells], first.config, data_dim=data_dim)
                       for j in range(n_owners)]
        self.central = PackedCentral([c.central for c in cells], first.config, classes=classes,
                                     data_dim=data_dim, owners=n_owners)
        self.holds = self.class_weights = None
        self.shared_rng = first.shared_rng  # unused: shared noise is refused
        self.classes = classes * len(cells)
        self.privacy_weights = [torch.tensor(
            [c.config.train.privacy_weight_of(j) for c in cells for _ in range(classes)],
            dtype=torch.float32, device=self.device) for j in range(n_owners)]
        self.epoch = first.epoch
        self.pretrained = True
        self.history = []

    def steps_per_epoch(self) -> int:
        return self.cells[0].steps_per_epoch()

    def state_dict(self) -> dict:
        return {"owners": [o.state_dict() for o in self.owners], "central": self.central.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        if len(state["owners"]) != len(self.owners):
            raise ValueError(f"checkpoint has {len(state['owners'])} owners, this pack "
                             f"{len(self.owners)}")
        for owner, s in zip(self.owners, state["owners"]):
            owner.load_state_dict(s)
        self.central.load_state_dict(state["central"])

    def unpack(self) -> list[PrivGANTrainer]:
        """Each cell's trainer, holding its slice of the trained state; returns them."""
        for owner in self.owners:
            owner.unpack()
        self.central.unpack()
        for cell in self.cells:
            cell.epoch = self.epoch
            cell.history = [dict(r) for r in self.history]
        return self.cells
