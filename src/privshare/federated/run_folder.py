"""The server's part of the run folder (:class:`privshare.artifacts.RunLayout`).

The server writes ``config.toml``, ``run.json``, ``history.json`` and
``central/privgan_central.pt``; each owner writes ``owner_<j>/`` (G_j, D_j,
synthetic rows, grid) under its own ``run-dir``. When all of them share one
folder (a simulation on one machine) the result is the layout of a
one-process run, readable with :func:`privshare.artifacts.load_run`.
"""

from __future__ import annotations

import platform
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

import privshare
from privshare.artifacts import RunLayout, save_model_file
from privshare.artifacts.atomic import write_json_atomic
from privshare.config import RunConfig, config_mismatch, read_run_config, save_config
from privshare.federated.records import RoundOrder
from privshare.federated.settings import FederatedSettings, FederationError

if TYPE_CHECKING:
    from privshare.federated.server import FederatedResult, OwnerInfo
    from privshare.training import CentralState


class ServerRunFolder:
    """Config, manifest, per-epoch history and D_central, as the server sees the run."""

    def __init__(
        self,
        *,
        config: RunConfig,
        settings: FederatedSettings,
        owners: list[OwnerInfo],
        device: torch.device,
    ) -> None:
        root = Path(settings.run_dir) if settings.run_dir else Path(config.out_dir) / config.name
        self.layout = RunLayout(root)
        self.config, self.settings, self.owners, self.device = config, settings, owners, device
        self._sums: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self._counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.manifest: dict[str, Any] = {}

    def open(self, *, steps_per_epoch: int, rounds: int) -> None:
        if self.layout.config.is_file():
            saved = read_run_config(self.layout.config)
            mismatch = config_mismatch(saved, self.config)
            if mismatch:
                raise FederationError(
                    f"{str(self.layout.root)!r} holds a run with another configuration{mismatch}; "
                    "choose another run-dir / run name, or delete the folder"
                )
        self.layout.root.mkdir(parents=True, exist_ok=True)
        save_config(self.config, self.layout.config)
        first = self.owners[0]
        self.manifest = {
            "status": "running", "dataset": self.config.data.name, "classes": list(first.classes),
            "image_shape": list(first.image_shape),
            "rows_per_class": {f"owner_{o.index}": list(o.counts) for o in self.owners},
            "seed": self.config.seed, "device": str(self.device),
            "versions": {"privshare": privshare.__version__, "torch": torch.__version__,
                         "numpy": np.__version__, "python": platform.python_version(),
                         "flwr": _flwr_version()},
            "methods_done": [], "timings_s": {}, "steps_per_epoch": {"privgan": steps_per_epoch},
            "federated": {"rounds": rounds, "local_steps": self.settings.local_steps,
                          "owners": [{"index": o.index, "name": o.name, "node_id": str(o.node_id)}
                                     for o in self.owners]},
        }
        write_json_atomic(self.layout.manifest, self.manifest)

    def record_round(self, order: RoundOrder, metrics: dict[int, dict[str, float]]) -> None:
        """Fold one round's owner metrics into per-epoch sums.

        ``g`` reported in round r belongs to the previous round's steps (the
        G step runs at the start of the next round); ``finish`` has the last.
        """
        spe = order.steps_per_epoch
        epoch = order.first_step // spe
        g_epoch = max(order.first_step - 1, 0) // spe
        for j, m in metrics.items():
            if order.steps:
                self._add(epoch, f"d_{j}", m["d"])
                if m.get("central_steps", 0) > 0:
                    self._add(epoch, "central", m["central_share"], count=j == 0)
            if "g" in m:
                self._add(g_epoch, f"g_{j}", m["g"])

    def _add(self, epoch: int, key: str, value: float, *, count: bool = True) -> None:
        self._sums[epoch][key] += float(value)
        self._counts[epoch][key] += int(count)

    def history(self) -> list[dict[str, float]]:
        return [
            {**{k: v / max(self._counts[e][k], 1) for k, v in sorted(self._sums[e].items())},
             "epoch": e}
            for e in sorted(self._sums)
        ]

    def close(self, *, central: CentralState, result: FederatedResult) -> None:
        first = self.owners[0]
        save_model_file(
            self.layout.central_model, kind="privgan_central", classes=first.classes,
            image_shape=first.image_shape, networks={"central": central.network.state_dict()},
            owners=len(self.owners),
        )
        write_json_atomic(self.layout.history, {"privgan": self.history()})
        self.manifest["status"] = "done"
        self.manifest["methods_done"] = ["privgan"]
        self.manifest["timings_s"]["privgan"] = round(result.seconds_per_round * result.rounds, 3)
        self.manifest["federated"].update(
            {k: v for k, v in asdict(result).items() if k not in ("run_dir", "owners")})
        write_json_atomic(self.layout.manifest, self.manifest)


def _flwr_version() -> str:
    from importlib.metadata import version

    return version("flwr")
