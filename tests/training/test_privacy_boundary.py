"""D_central never sees a real row unless D_central pre-training is switched on."""

from __future__ import annotations

import torch

from privshare.training import PrivGANTrainer, fit
from tests.training.helpers import tiny_config, tiny_rows

CPU = torch.device("cpu")


def _instrument(network: torch.nn.Module) -> list[torch.Tensor]:
    seen: list[torch.Tensor] = []
    network.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach().clone()))
    return seen


def _real_rows_seen(seen: list[torch.Tensor], rows) -> int:
    """How many rows D_central received are exactly one of the owners' real rows."""
    real = torch.cat([r.x[c, : int(r.counts[c])] for r in rows for c in range(r.x.shape[0])])
    hits = 0
    for batch in seen:
        flat = batch.reshape(-1, batch.shape[-1])
        hits += int((torch.cdist(flat, real) == 0).any(dim=1).sum())
    return hits


def test_central_sees_only_fakes_by_default():
    rows = tiny_rows()
    t = PrivGANTrainer(config=tiny_config(), rows=rows, device=CPU)
    seen = _instrument(t.central.network)
    fit(t, epochs=3)
    assert len(seen) > 0, "D_central was never called: the instrument would prove nothing"
    assert _real_rows_seen(seen, rows) == 0


def test_instrument_detects_real_rows_when_pretraining_is_on():
    rows = tiny_rows()
    t = PrivGANTrainer(config=tiny_config("train.central_pretrain_epochs=1"), rows=rows, device=CPU)
    seen = _instrument(t.central.network)
    fit(t, epochs=1)
    assert _real_rows_seen(seen, rows) > 0
