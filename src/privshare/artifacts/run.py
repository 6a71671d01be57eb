"""A finished run, read back from its folder: the seam for evaluation and attacks.

Loading a run and generating more samples needs only the run folder, never
the training data. Scoring real rows (for membership attacks) needs the rows
themselves, which the attacker supplies.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from privshare.artifacts.export import sample_labelled
from privshare.artifacts.layout import RunLayout
from privshare.artifacts.models import (
    ArtifactError,
    read_model_file,
    rebuild_central,
    rebuild_discriminator,
    rebuild_generator,
)
from privshare.config import RunConfig, read_run_config
from privshare.data import Partition, load_partition
from privshare.models import EnsembleMLP


def _per_class_forward(
    net: EnsembleMLP, x: np.ndarray, class_index: np.ndarray, *, batch: int = 4096
) -> np.ndarray:
    """Run row r through the network of class ``class_index[r]``.

    ``x``: uint8 (n, H, W). Rows are grouped per class and padded to one
    (C, n_max, D) block per chunk, so all classes go through one batched pass.
    Returns the raw outputs, (n, out).
    """
    n = len(x)
    flat = (x.reshape(n, -1).astype(np.float32) - 127.5) / 127.5
    models = net.models
    groups = [np.flatnonzero(class_index == c) for c in range(models)]
    width = max((len(g) for g in groups), default=0)
    out: np.ndarray | None = None
    with torch.no_grad():
        for start in range(0, width, batch):
            block = np.zeros((models, min(batch, width - start), flat.shape[1]), np.float32)
            for c, g in enumerate(groups):
                part = g[start : start + batch]
                block[c, : len(part)] = flat[part]
            res = net(torch.from_numpy(block)).numpy()
            res = res[..., None] if res.ndim == 2 else res  # (C, b, out)
            if out is None:
                out = np.zeros((n, res.shape[-1]), np.float32)
            for c, g in enumerate(groups):
                part = g[start : start + batch]
                out[part] = res[c, : len(part)]
    return out if out is not None else np.zeros((0, 1), np.float32)


@dataclass
class Run:
    """A run folder: config, manifest, partition and saved models."""

    root: Path
    config: RunConfig
    manifest: dict[str, Any]
    layout: RunLayout = field(init=False)

    def __post_init__(self) -> None:
        self.layout = RunLayout(self.root)

    @property
    def classes(self) -> tuple[int, ...]:
        return tuple(self.manifest["classes"])

    @property
    def image_shape(self) -> tuple[int, int]:
        return tuple(self.manifest["image_shape"])  # type: ignore[return-value]

    @property
    def owners(self) -> int:
        return len(self.config.data.fractions)

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(m for m in self.config.train.methods if self.layout.model(m, 0).is_file())

    def partition(self) -> Partition:
        return load_partition(self.layout.partition)

    def holds(self, owner: int) -> tuple[bool, ...]:
        """Per class (in :attr:`classes` order): whether ``owner`` trained on rows of it.

        Read from the manifest's rows per class; an owner without rows of a
        class has no model of it (none is generated, attacked or exported). A
        manifest without counts (a federated run) means every class.
        """
        counts = self.manifest.get("rows_per_class", {}).get(f"owner_{owner}")
        return tuple(True for _ in self.classes) if counts is None else tuple(n > 0 for n in counts)

    def class_index(self, y: np.ndarray) -> np.ndarray:
        """Labels -> positions in :attr:`classes`; unknown labels raise."""
        lookup = {c: i for i, c in enumerate(self.classes)}
        unknown = sorted(set(np.unique(y).tolist()) - set(lookup))
        if unknown:
            raise ValueError(f"labels {unknown} were not modelled; this run has {self.classes}")
        return np.array([lookup[int(v)] for v in y], dtype=np.int64)

    def generator(self, method: str, owner: int):
        payload = read_model_file(self.layout.model(method, owner))
        return rebuild_generator(payload, self.config.model)

    def discriminator(self, method: str, owner: int):
        payload = read_model_file(self.layout.model(method, owner))
        return rebuild_discriminator(payload, self.config.model)

    def central_discriminator(self):
        return rebuild_central(read_model_file(self.layout.central_model), self.config.model)

    def generate(
        self, method: str, owner: int, *, n_per_class: int | Sequence[int], seed: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """``n_per_class`` labelled samples per class from owner's generator.

        ``n_per_class``: one count for every class, or one per class (in
        :attr:`classes` order). Classes the owner holds no rows of
        (:meth:`holds`) are left out: its generator never learnt them.
        Returns uint8 images (n, H, W) and their labels (n,), class by class.
        """
        return sample_labelled(
            self.generator(method, owner), classes=self.classes, image_shape=self.image_shape,
            latent_dim=self.config.model.latent_dim, n_per_class=n_per_class, seed=seed,
            holds=self.holds(owner),
        )

    def score(self, method: str, owner: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """D's probability that each real row is real, with the row's class's D.

        ``x``: uint8 (n, H, W); ``y``: labels (n,). Returns (n,) in [0, 1].
        """
        logits = _per_class_forward(self.discriminator(method, owner), x, self.class_index(y))
        return torch.sigmoid(torch.from_numpy(logits[:, 0])).numpy()

    def central_probabilities(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """D_central's softmax over owners for each row: (n, N)."""
        logits = _per_class_forward(self.central_discriminator(), x, self.class_index(y))
        return torch.softmax(torch.from_numpy(logits), dim=1).numpy()


def load_run(path: str | Path) -> Run:
    """Open a run folder written by ``privshare train`` / ``privshare run``."""
    root = Path(path)
    layout = RunLayout(root)
    for needed in (layout.config, layout.manifest):
        if not needed.is_file():
            raise ArtifactError(
                f"{str(root)!r} is not a privshare run folder: {needed.name} is missing"
            )
    config = read_run_config(layout.config)
    manifest = json.loads(layout.manifest.read_text())
    return Run(root=root, config=config, manifest=manifest)
