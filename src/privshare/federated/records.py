"""What crosses the wire, as Flower records, and the checks on every reply.

Message layout (protocol 2; protocol 1 named the central discriminator's records
``dp`` and ``dp_grad``):

=====================  ===========================================  ==========================
message type           server -> owner                              owner -> server
=====================  ===========================================  ==========================
``query.setup``        ConfigRecord ``setup`` (protocol, owners)    ConfigRecord ``owner``
                                                                    (index, name, classes,
                                                                    counts, image shape)
``train``              ArrayRecord ``central`` (its weights),      ArrayRecord ``central_grad``,
                       ConfigRecord ``round``                       MetricRecord ``metrics``
``train.finish``       ArrayRecord ``central``, ConfigRecord        MetricRecord ``metrics``
                       ``round``
=====================  ===========================================  ==========================

Only arrays shaped as D_central's (the central discriminator) ever cross; the owner's G_j, D_j and rows do not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord

SETUP = "query.setup"
TRAIN = "train"
FINISH = "train.finish"

SETUP_RECORD = "setup"
CENTRAL = "central"
CENTRAL_GRAD = "central_grad"
ROUND = "round"
METRICS = "metrics"
OWNER = "owner"


class ReplyRejected(ValueError):
    """An owner's reply failed a check; the reason names the check."""


@dataclass(frozen=True)
class RoundOrder:
    """What the server asks of every owner in one round."""

    round: int  # 0-based round index
    first_step: int  # global index of the round's first privGAN step
    steps: int  # K: local steps this round (the last round may have fewer)
    central_from_step: int  # steps before this index do not train D_central (train.central_delay)
    steps_per_epoch: int  # to turn step indices into epochs in the owners' logs

    def to_record(self) -> ConfigRecord:
        return ConfigRecord({k: int(v) for k, v in self.__dict__.items()})

    @classmethod
    def from_record(cls, record: ConfigRecord) -> RoundOrder:
        return cls(**{k: int(record[k]) for k in cls.__dataclass_fields__})


def weights_record(state_dict: dict[str, torch.Tensor]) -> ArrayRecord:
    """D_central's weights (or gradients) as an ArrayRecord, on the CPU."""
    return ArrayRecord({k: _array(v) for k, v in state_dict.items()})


def _array(t: torch.Tensor):
    from flwr.app import Array

    return Array.from_numpy_ndarray(np.ascontiguousarray(t.detach().cpu().numpy()))


def tensors(record: ArrayRecord, *, device: torch.device) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(v.numpy().copy()).to(device) for k, v in record.items()}


def scalar_metrics(values: dict[str, float | int | torch.Tensor]) -> MetricRecord:
    """Scalars only: a MetricRecord never carries a list from this package."""
    return MetricRecord({k: float(v) for k, v in values.items()})


def check_gradients(
    message: Message,
    *,
    expected: dict[str, torch.Tensor],
    max_norm: float,
    round_index: int,
) -> dict[str, torch.Tensor]:
    """Validate an owner's ``train`` reply; return its D_central gradients as tensors.

    Rejected (with :class:`ReplyRejected` naming the reason): an error reply,
    missing records, another round's reply, keys or shapes or dtypes other than
    D_central's, any NaN/Inf, or a total L2 norm above ``max_norm``.
    """
    if message.has_error():
        raise ReplyRejected(f"the owner reported an error: {message.error.reason}")
    content = message.content
    if CENTRAL_GRAD not in content.array_records or METRICS not in content.metric_records:
        raise ReplyRejected(f"reply lacks {CENTRAL_GRAD!r} arrays or {METRICS!r} metrics")
    metrics = content.metric_records[METRICS]
    if int(metrics.get("round", -1)) != round_index:
        raise ReplyRejected(f"reply is for round {metrics.get('round')}, not {round_index}")
    record = content.array_records[CENTRAL_GRAD]
    if set(record) != set(expected):
        raise ReplyRejected(
            f"arrays {sorted(record)} are not the central discriminator's parameters "
            f"{sorted(expected)}"
        )
    out, total = {}, 0.0
    for key, ref in expected.items():
        arr = record[key].numpy()
        if arr.shape != tuple(ref.shape) or arr.dtype != _np_dtype(ref.dtype):
            raise ReplyRejected(
                f"{key}: got {arr.dtype} {arr.shape}, the central discriminator has "
                f"{_np_dtype(ref.dtype)} {tuple(ref.shape)}"
            )
        if not np.isfinite(arr).all():
            raise ReplyRejected(f"{key}: contains NaN or Inf")
        total += float(np.square(arr, dtype=np.float64).sum())
        out[key] = torch.from_numpy(arr.copy()).to(ref.device)
    norm = math.sqrt(total)
    if norm > max_norm:
        raise ReplyRejected(f"gradient norm {norm:.3g} exceeds max-grad-norm {max_norm:.3g}")
    return out


def _np_dtype(dtype: torch.dtype) -> np.dtype:
    return torch.empty((), dtype=dtype).numpy().dtype
