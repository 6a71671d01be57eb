"""The utility protocol's CNNs, their training, predictions and features.

Two networks:

- :class:`ReferenceCNN`, the privGAN code's MNIST classifier: Conv32(3x3,
  relu) -> Conv64(3x3, relu) -> MaxPool 2 -> Dropout 0.25 -> Dense 128 relu ->
  Dropout 0.5 -> Dense(classes). Images smaller than 6x6 are zero-padded so
  the two unpadded convolutions and the pool still fit.
- :class:`SmallCNN`, the converged protocol's default: Conv16(3x3, pad 1,
  relu) -> MaxPool 2 -> Conv32(3x3, pad 1, relu) -> MaxPool 2 -> Dropout
  0.25 -> Dense 128 relu -> Dropout 0.5 -> Dense(classes). About 20 times
  fewer multiply-adds than the reference CNN (1.2 M against 23 M per 28x28
  image), so it can be trained to convergence on every source in minutes.

Both apply each 2x2 max-pool before the ReLU that precedes it in the
reference (the two commute: ``max(relu(a)) = relu(max(a))``), so the ReLU
and its backward touch a quarter of the values, and both keep convolution
weights and activations channels-last; together these measured about 1.4
times faster per small-CNN training step than the plain layout (one thread,
batch 256, AVX2 CPU: ``python -m benchmarks.classifier_step``).

Training is seeded and leaves torch's global random state untouched.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from privshare.hardware import autocast

MIN_SIDE = 6  # two 3x3 convolutions and a 2x2 pool need at least 6 pixels
_BATCH = 1024  # rows per inference pass


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda when available, else cpu."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={name!r} but no CUDA device is visible; use device=cpu")
    return torch.device(name)


class ReferenceCNN(nn.Module):
    """``forward``: uint8-scaled images (B, 1, H, W) in [0, 1] -> logits (B, classes)."""

    def __init__(self, *, image_shape: tuple[int, int], classes: int) -> None:
        super().__init__()
        h, w = image_shape
        self.pad = (max(0, MIN_SIDE - w), 0, max(0, MIN_SIDE - h), 0)  # (left, right, top, bottom)
        h, w = max(h, MIN_SIDE), max(w, MIN_SIDE)
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.MaxPool2d(2), nn.ReLU(),
            nn.Dropout(0.25), nn.Flatten(),
            nn.Linear(64 * ((h - 4) // 2) * ((w - 4) // 2), 128), nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(0.5), nn.Linear(128, classes))
        self.to(memory_format=torch.channels_last)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations (after Dense 128 + ReLU): (B, 128)."""
        x = nn.functional.pad(x, self.pad)
        return self.body(x.contiguous(memory_format=torch.channels_last))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class SmallCNN(nn.Module):
    """``forward``: uint8-scaled images (B, 1, H, W) in [0, 1] -> logits (B, classes)."""

    def __init__(self, *, image_shape: tuple[int, int], classes: int) -> None:
        super().__init__()
        h, w = image_shape
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.MaxPool2d(2), nn.ReLU(),  # (B, 16, H/2, W/2)
            nn.Conv2d(16, 32, 3, padding=1), nn.MaxPool2d(2), nn.ReLU(),  # (B, 32, H/4, W/4)
            nn.Dropout(0.25), nn.Flatten(), nn.Linear(32 * (h // 4) * (w // 4), 128), nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(0.5), nn.Linear(128, classes))
        self.to(memory_format=torch.channels_last)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations (after Dense 128 + ReLU): (B, 128)."""
        return self.body(x.contiguous(memory_format=torch.channels_last))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


NETWORKS = {"small": SmallCNN, "reference": ReferenceCNN}


def _as_input(x: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 (n, H, W) -> float (n, 1, H, W) in [0, 1] (the reference scales by 1/255)."""
    return torch.from_numpy(x.astype(np.float32) / 255.0)[:, None].to(device)


def train_classifier(
    x: np.ndarray,
    y: np.ndarray,
    *,
    classes: int,
    epochs: int,
    batch_size: int,
    steps: int | None = None,
    optimizer: str = "adam",
    lr: float = 2e-4,
    network: str = "reference",
    seed: int,
    device: torch.device | str = "cpu",
    precision: str = "fp32",
) -> nn.Module:
    """Train a CNN (``network``: reference | small) on uint8 images ``x`` (n, H, W), labels ``y`` (n,).

    Trains ``epochs`` passes over the rows, or exactly ``steps`` optimizer
    steps when given (passes reshuffled as needed). ``optimizer``: ``adam``
    (beta1 0.5, as the paper states) or ``adadelta`` (the privGAN code).
    ``precision``: fp32, or bf16 / auto autocast of the forward passes (weights
    and Adam stay fp32). Same inputs and seed give the same weights.
    """
    if len(x) == 0 or len(x) != len(y):
        raise ValueError(f"train_classifier needs as many labels as images; got {len(x)} images "
                         f"and {len(y)} labels")
    if y.min() < 0 or y.max() >= classes:
        raise ValueError(f"labels must be class positions 0..{classes - 1}; got {y.min()}..{y.max()}")
    device = torch.device(device)
    rng = np.random.default_rng(seed)
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        model = NETWORKS[network](image_shape=tuple(x.shape[1:]), classes=classes).to(device)
        if optimizer == "adam":
            opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.5, 0.999))
        elif optimizer == "adadelta":
            opt = torch.optim.Adadelta(model.parameters(), lr=lr)
        else:
            raise ValueError(f"optimizer={optimizer!r}: adam or adadelta")
        inputs, targets = _as_input(x, device), torch.from_numpy(y.astype(np.int64)).to(device)
        model.train()
        per_epoch = -(-len(x) // batch_size)
        total = epochs * per_epoch if steps is None else steps
        for step in range(total):
            if step % per_epoch == 0:
                order = torch.from_numpy(rng.permutation(len(x))).to(device)
            start = (step % per_epoch) * batch_size
            batch = order[start : start + batch_size]
            with autocast(device, precision):
                logits = model(inputs[batch])
            loss = nn.functional.cross_entropy(logits.float(), targets[batch])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model.eval()


@torch.no_grad()
def predict(model: nn.Module, x: np.ndarray, *, precision: str = "fp32") -> np.ndarray:
    """Class positions (n,) of uint8 images (n, H, W)."""
    device = next(model.parameters()).device
    model.eval()
    with autocast(device, precision):
        out = [model(_as_input(x[s : s + _BATCH], device)).float().argmax(1).cpu().numpy()
               for s in range(0, len(x), _BATCH)]
    return np.concatenate(out) if out else np.zeros(0, np.int64)


@torch.no_grad()
def embed(model: nn.Module, x: np.ndarray, *, precision: str = "fp32") -> np.ndarray:
    """Penultimate features (n, 128), float64, of uint8 images (n, H, W)."""
    device = next(model.parameters()).device
    model.eval()
    with autocast(device, precision):
        out = [model.features(_as_input(x[s : s + _BATCH], device)).double().cpu().numpy()
               for s in range(0, len(x), _BATCH)]
    return np.concatenate(out) if out else np.zeros((0, 128))
