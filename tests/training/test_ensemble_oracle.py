"""The batched per-class ensemble equals per-class models trained one by one.

The oracle trains one single-class privGAN per class with the weights of
that class's slice, fed the very same noise, real batches and random owner
targets that the batched run drew (recorded through monkeypatching). In
float64 the two must agree to rounding after several steps, D_central included (Adam turns
float64 summation-order differences of ~1e-16 into ~1e-11 on weights whose
updates are ~1e-4, hence the 1e-9 tolerance: any real mix-up is 1e-5 or more).
"""

from __future__ import annotations

import pytest
import torch

import privshare.training.state as state_mod
from privshare.models import EnsembleLinear
from privshare.training import PrivGANTrainer, RealRows
from privshare.training.state import OwnerState
from tests.training.helpers import tiny_config, tiny_rows

CPU = torch.device("cpu")
STEPS = 4


def test_ensemble_linear_equals_per_model_matmul():
    layer = EnsembleLinear(3, 5, 4).double()
    with torch.no_grad():
        layer.bias.normal_()
    x = torch.randn(3, 7, 5, dtype=torch.float64)
    out = layer(x)
    for m in range(3):
        expected = x[m] @ layer.weight[m] + layer.bias[m]
        torch.testing.assert_close(out[m], expected)


def _slice_state(state: dict, c: int) -> dict:
    return {k: v[c : c + 1].clone() for k, v in state.items()}


KINDS = {"mlp": (), "conv": ("model.kind='conv'", "model.conv_channels=[4, 8]"),
         "conv-batch-norm": ("model.kind='conv'", "model.conv_channels=[4, 8]",
                             "model.generator_norm='batch'"),
         "mlp-spectral": ("model.spectral_norm=true",), "mlp-minibatch-std": ("model.minibatch_std=2",)}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_batched_privgan_equals_looped_oracle(monkeypatch, kind):
    """Per class, the batched networks (MLP: batched matmuls; conv: grouped convolutions) and a
    one-class run agree; a leak between classes' groups would break this."""
    cfg = tiny_config("train.precision='fp64'", "train.batch_size=6", *KINDS[kind])
    rows = tiny_rows(dtype=torch.float64)
    batched = PrivGANTrainer(config=cfg, rows=rows, device=CPU)
    classes = rows[0].x.shape[0]
    init = {
        "owners": [(o.generator.state_dict(), o.discriminator.state_dict()) for o in batched.owners],
        "central": batched.central.network.state_dict(),
    }
    init = {  # deep copy before training mutates the tensors in place
        "owners": [({k: v.clone() for k, v in g.items()}, {k: v.clone() for k, v in d.items()})
                   for g, d in init["owners"]],
        "central": {k: v.clone() for k, v in init["central"].items()},
    }

    # Record every random draw of the batched run, in call order.
    tape: list[torch.Tensor] = []
    real_sample, owner_noise, other = RealRows.sample, OwnerState.noise, state_mod.random_other_owner

    def rec(fn):
        def wrapped(*a, **k):
            out = fn(*a, **k)
            tape.append(out)
            return out
        return wrapped

    monkeypatch.setattr(RealRows, "sample", rec(real_sample))
    monkeypatch.setattr(OwnerState, "noise", rec(owner_noise))
    monkeypatch.setattr(state_mod, "random_other_owner", rec(other))
    for _ in range(STEPS):
        batched.train_step()

    for c in range(classes):
        one = PrivGANTrainer(config=cfg, rows=[RealRows(r.x[c:c + 1], r.counts[c:c + 1]) for r in rows],
                             device=CPU)
        for o, (g, d) in zip(one.owners, init["owners"]):
            o.generator.load_state_dict(_slice_state(g, c))
            o.discriminator.load_state_dict(_slice_state(d, c))
        one.central.network.load_state_dict(_slice_state(init["central"], c))
        replay = iter(tape)
        nxt = lambda *a, **k: next(replay)[c : c + 1]  # noqa: E731
        monkeypatch.setattr(RealRows, "sample", nxt)
        monkeypatch.setattr(OwnerState, "noise", nxt)
        monkeypatch.setattr(state_mod, "random_other_owner", nxt)
        for _ in range(STEPS):
            one.train_step()
        for ob, oo in zip(batched.owners, one.owners):
            for name in ("generator", "discriminator"):
                big, small = getattr(ob, name).state_dict(), getattr(oo, name).state_dict()
                for k in big:
                    torch.testing.assert_close(big[k][c : c + 1], small[k], rtol=1e-7, atol=1e-9)
        big, small = batched.central.network.state_dict(), one.central.network.state_dict()
        for k in big:
            torch.testing.assert_close(big[k][c : c + 1], small[k], rtol=1e-7, atol=1e-9)
