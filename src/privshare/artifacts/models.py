"""Saved model files: self-describing dicts of per-class ensemble weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from privshare.config import ModelConfig
from privshare.models import (
    CentralDiscriminator,
    Discriminator,
    Generator,
    build_central_discriminator,
    build_discriminator,
    build_generator,
)

MODEL_FILE_VERSION = 1
_KEYS = {"version", "kind", "classes", "image_shape", "networks"}


class ArtifactError(ValueError):
    """A run folder or one of its files is missing or damaged."""


def save_model_file(
    path: str | Path,
    *,
    kind: str,
    classes: tuple[int, ...],
    image_shape: tuple[int, int],
    networks: dict[str, dict[str, torch.Tensor]],
    owners: int | None = None,
) -> None:
    """Write ``networks`` (name -> state_dict, moved to CPU) atomically."""
    payload: dict[str, Any] = {
        "version": MODEL_FILE_VERSION,
        "kind": kind,
        "classes": list(classes),
        "image_shape": list(image_shape),
        "owners": owners,
        "networks": {
            name: {k: v.detach().to("cpu", torch.float32) for k, v in sd.items()}
            for name, sd in networks.items()
        },
    }
    from privshare.artifacts.atomic import atomic_file  # atomic imports ArtifactError from here

    with atomic_file(path) as tmp:
        torch.save(payload, tmp)


def save_owner_model(
    layout: Any, *, method: str, owner: int, state: Any, classes: tuple[int, ...],
    image_shape: tuple[int, int],
) -> None:
    """Owner ``owner``'s trained G_j and D_j of ``method`` (``state``: anything with ``sampler``
    and ``discriminator`` modules, the training package's owner state) as the model file
    ``layout.model(method, owner)`` of a :class:`~privshare.artifacts.layout.RunLayout`."""
    save_model_file(layout.model(method, owner), kind=f"{method}_owner", classes=classes, image_shape=image_shape,
                    networks={"generator": state.sampler.state_dict(),
                              "discriminator": state.discriminator.state_dict()})


def read_model_file(path: str | Path) -> dict[str, Any]:
    """Load and check a file written by :func:`save_model_file`."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"model file {str(path)!r} is missing; was this method trained?")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ArtifactError(f"model file {str(path)!r} cannot be read: {err}") from err
    if not isinstance(payload, dict) or _KEYS - set(payload):
        raise ArtifactError(f"model file {str(path)!r} lacks keys {sorted(_KEYS - set(payload))}")
    if payload["version"] != MODEL_FILE_VERSION:
        raise ArtifactError(f"model file {str(path)!r} has version {payload['version']}")
    return payload


def _data_dim(image_shape: tuple[int, int]) -> int:
    return int(image_shape[0] * image_shape[1])


def rebuild_generator(payload: dict[str, Any], config: ModelConfig) -> Generator:
    net = build_generator(
        config, models=len(payload["classes"]), data_dim=_data_dim(payload["image_shape"])
    )
    net.load_state_dict(payload["networks"]["generator"])
    return net.eval()


def rebuild_discriminator(payload: dict[str, Any], config: ModelConfig) -> Discriminator:
    net = build_discriminator(
        config, models=len(payload["classes"]), data_dim=_data_dim(payload["image_shape"])
    )
    net.load_state_dict(payload["networks"]["discriminator"])
    return net.eval()


def rebuild_central(payload: dict[str, Any], config: ModelConfig) -> CentralDiscriminator:
    net = build_central_discriminator(
        config,
        models=len(payload["classes"]),
        data_dim=_data_dim(payload["image_shape"]),
        owners=int(payload["owners"]),
    )
    net.load_state_dict(payload["networks"]["central"])
    return net.eval()
