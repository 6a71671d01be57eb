"""Owners that are not alike: an owner without rows of a class has no model of it.

Oracles, in float64 (owner 1 of 3 lacks class 2):

- its G_1^2 and D_1^2 stay bit-identical to their initial weights;
- nothing else depends on them or on the rows it would have held: changing
  those rows and those initial weights leaves every other model, D_central
  included, bit-identical;
- classes every owner holds train exactly as in the run where all owners
  hold every class, fed the same draws (recorded and replayed).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import privshare.training.losses as losses_mod
import privshare.training.state as state_mod
from privshare.training import GANTrainer, PrivGANTrainer, RealRows, fit
from privshare.training.state import OwnerState
from tests.training.helpers import tiny_config

CPU = torch.device("cpu")
OWNERS, CLASSES, ABSENT = 3, 3, (1, 2)  # owner 1 holds no row of class 2
VARIANTS = {
    "plain": (),
    "levers": ("train.ema_decay=0.9", "train.r1_gamma=1.0", "train.augment=['translation']",
               "train.central_pretrain_epochs=1", "model.d_dropout=0.2"),
}


def _config(*extra: str):
    return tiny_config("train.precision='fp64'", "train.batch_size=6",
                       "data.fractions=[0.2, 0.2, 0.2]", *extra)


def _rows(*, absent: bool = True, fill: int = 0, dtype=torch.float64) -> list[RealRows]:
    """3 owners x 3 classes of random 8x8 images; owner 1's class 2 is empty when ``absent``.

    ``fill`` seeds the padding an absent class's sampler returns (what D_1^2 would see).
    """
    rng = np.random.default_rng(0)
    out = []
    for j in range(OWNERS):
        per_class = [rng.integers(0, 256, (4 + c + j, 8, 8), dtype=np.uint8)
                     for c in range(CLASSES)]
        if absent and j == ABSENT[0]:
            per_class[ABSENT[1]] = per_class[ABSENT[1]][:0]
        rows = RealRows.from_arrays(per_class, device=CPU, dtype=dtype)
        if absent and j == ABSENT[0]:
            g = torch.Generator().manual_seed(fill)
            pad = rows.x[ABSENT[1]]
            rows.x[ABSENT[1]] = torch.rand(pad.shape, generator=g, dtype=dtype) * 2 - 1
        out.append(rows)
    return out


def _models(trainer: PrivGANTrainer) -> dict[tuple, torch.nn.Module]:
    out: dict[tuple, torch.nn.Module] = {("central",): trainer.central.network}
    for o in trainer.owners:
        out[(o.index, "g")], out[(o.index, "d")] = o.generator, o.discriminator
        out[(o.index, "sampler")] = o.sampler
    return out


def _slices(trainer: PrivGANTrainer, keep) -> dict[tuple, torch.Tensor]:
    """Every ensemble tensor's class slice c for which ``keep(owner, c)``; D_central's owner is None."""
    out = {}
    for key, net in _models(trainer).items():
        owner = None if key == ("central",) else key[0]
        for name, v in net.state_dict().items():
            assert v.shape[0] == CLASSES, (key, name, v.shape)  # one slice per class
            for c in range(CLASSES):
                if keep(owner, c):
                    out[(*key, name, c)] = v[c].detach().clone()
    return out


def _held(owner, c) -> bool:
    return (owner, c) != ABSENT


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_absent_models_never_move_and_nothing_depends_on_them(variant):
    cfg = _config(*VARIANTS[variant])
    a = PrivGANTrainer(config=cfg, rows=_rows(fill=1), device=CPU)
    b = PrivGANTrainer(config=cfg, rows=_rows(fill=2), device=CPU)
    with torch.no_grad():  # other initial weights of the absent models in b
        gen = torch.Generator().manual_seed(5)
        for net in (b.owners[1].generator, b.owners[1].discriminator):
            for p in net.parameters():
                p[ABSENT[1]] += 0.1 * torch.randn(p[ABSENT[1]].shape, generator=gen,
                                                  dtype=p.dtype)
        if b.owners[1].ema is not None:  # the average starts from G as perturbed
            b.owners[1].ema.module.load_state_dict(b.owners[1].generator.state_dict())
    assert a.holds is not None and a.owners[1].class_mask.tolist() == [1.0, 1.0, 0.0]
    assert a.owners[0].class_mask is None  # an owner holding every class is not weighted
    start = {t: _slices(t, lambda o, c: (o, c) == ABSENT) for t in (a, b)}
    fit(a, epochs=3)
    fit(b, epochs=3)
    for t in (a, b):  # bit-identical to where they started
        now = _slices(t, lambda o, c: (o, c) == ABSENT)
        assert now.keys() == start[t].keys() and all(torch.equal(now[k], start[t][k]) for k in now)
    held_a, held_b = _slices(a, _held), _slices(b, _held)
    assert held_a.keys() == held_b.keys()
    same = [k for k in held_a if torch.equal(held_a[k], held_b[k])]
    assert len(same) == len(held_a), [k for k in held_a if k not in same][:5]
    first = _slices(PrivGANTrainer(config=cfg, rows=_rows(fill=1), device=CPU), _held)
    assert all(not torch.equal(first[k], held_a[k]) for k in held_a if "weight" in k[-2])  # trained


def test_classes_every_owner_holds_train_as_in_the_iid_run(monkeypatch):
    cfg = _config()
    tape: list[torch.Tensor] = []
    sample, noise = RealRows.sample, OwnerState.noise

    def rec(fn):
        def wrapped(*args, **kwargs):
            tape.append(fn(*args, **kwargs))
            return tape[-1]
        return wrapped

    monkeypatch.setattr(RealRows, "sample", rec(sample))
    monkeypatch.setattr(OwnerState, "noise", rec(noise))
    monkeypatch.setattr(state_mod, "random_other_holder", rec(losses_mod.random_other_holder))
    masked = PrivGANTrainer(config=cfg, rows=_rows(), device=CPU)
    for _ in range(5):
        masked.train_step()

    replay = iter(tape)
    nxt = lambda *args, **kwargs: next(replay)  # noqa: E731
    monkeypatch.setattr(RealRows, "sample", nxt)
    monkeypatch.setattr(OwnerState, "noise", nxt)
    monkeypatch.setattr(state_mod, "random_other_owner", nxt)
    iid = PrivGANTrainer(config=cfg, rows=_rows(absent=False), device=CPU)
    assert iid.holds is None and all(o.class_mask is None for o in iid.owners)
    for _ in range(5):
        iid.train_step()
    assert next(replay, None) is None  # both runs drew the same number of times

    everyone = lambda owner, c: c != ABSENT[1]  # noqa: E731
    m, i = _slices(masked, everyone), _slices(iid, everyone)
    assert all(torch.equal(m[k], i[k]) for k in m)
    # D_central's class 2 ran over owners 0 and 2 only: it differs from the iid run's
    central_m, central_i = masked.central.network.state_dict(), iid.central.network.state_dict()
    assert any(not torch.equal(central_m[k][2], central_i[k][2]) for k in central_m)


def test_targets_are_other_holders_of_the_class():
    holds = torch.tensor([[True, True, False], [True, False, True], [True, True, True]])
    rng = torch.Generator().manual_seed(0)
    for owner in range(3):
        t = losses_mod.random_other_holder(owner=owner, holds=holds, batch=400, rng=rng)
        assert t.shape == (3, 400)
        for c in range(3):
            allowed = {j for j in range(3) if holds[j, c] and j != owner}
            assert set(t[c].tolist()) == allowed  # every other holder drawn, nobody else


def test_central_class_weights_average_each_class_over_its_holders():
    holds = torch.tensor([[True, True, False], [True, False, True], [True, True, True]])
    w = losses_mod.central_class_weights(holds)
    assert w.tolist() == [[1.0, 1.5, 0.0], [1.0, 0.0, 1.5], [1.0, 1.5, 1.5]]


def test_steps_per_epoch_ignores_absent_pairs_and_sampler_copes():
    cfg = tiny_config("train.steps_per_epoch=smallest", "data.fractions=[0.2, 0.2, 0.2]")
    rng = np.random.default_rng(0)
    sizes = [[40, 40, 40], [30, 30, 0], [40, 40, 40]]
    rows = [RealRows.from_arrays([rng.integers(0, 256, (n, 8, 8), dtype=np.uint8) for n in s],
                                 device=CPU, dtype=torch.float32) for s in sizes]
    assert PrivGANTrainer(config=cfg, rows=rows, device=CPU).steps_per_epoch() == 2  # ceil(30/16)
    assert GANTrainer(config=cfg, rows=rows[1], owner=1, device=CPU).steps_per_epoch() == 2
    batch = rows[1].sample(16, torch.Generator().manual_seed(0))
    assert batch.shape == (3, 16, 64) and torch.all(batch[2] == 0)  # padding, never a crash


def test_splits_privgan_cannot_train_are_refused():
    rng = np.random.default_rng(0)

    def rows(sizes):
        return [RealRows.from_arrays([rng.integers(0, 256, (n, 8, 8), dtype=np.uint8) for n in s],
                                     device=CPU, dtype=torch.float32) for s in sizes]

    cfg = _config()
    with pytest.raises(ValueError, match="no owner holds column 2"):
        PrivGANTrainer(config=cfg, rows=rows([[5, 5, 0], [5, 5, 0], [5, 5, 0]]), device=CPU)
    with pytest.raises(ValueError, match="only owner 2 holds column 1"):
        PrivGANTrainer(config=cfg, rows=rows([[5, 0, 5], [5, 0, 5], [5, 5, 5]]), device=CPU)
    with pytest.raises(ValueError, match="an owner needs at least one real row"):
        rows([[0, 0, 0]])


def test_local_gan_has_no_model_of_a_class_its_owner_lacks():
    cfg = _config()
    rows = _rows(dtype=torch.float64)[1]
    trainer = GANTrainer(config=cfg, rows=rows, owner=1, device=CPU)
    before = {k: v.clone() for k, v in trainer.owner.generator.state_dict().items()}
    before_d = {k: v.clone() for k, v in trainer.owner.discriminator.state_dict().items()}
    fit(trainer, epochs=3)
    for old, net in ((before, trainer.owner.generator), (before_d, trainer.owner.discriminator)):
        for k, v in net.state_dict().items():
            assert torch.equal(v[2], old[k][2])  # class 2: never trained
            if "weight" in k:
                assert not torch.equal(v[0], old[k][0])  # class 0: trained


def test_masked_run_resumes_from_its_checkpoint(tmp_path):
    cfg = _config()
    straight = PrivGANTrainer(config=cfg, rows=_rows(), device=CPU)
    fit(straight, epochs=4)
    ck = tmp_path / "ck.pt"
    fit(PrivGANTrainer(config=cfg, rows=_rows(), device=CPU), epochs=2, checkpoint_path=ck,
        checkpoint_every=1)
    resumed = PrivGANTrainer(config=cfg, rows=_rows(), device=CPU)
    fit(resumed, epochs=4, checkpoint_path=ck, checkpoint_every=1)
    a, b = _slices(straight, lambda o, c: True), _slices(resumed, lambda o, c: True)
    assert all(torch.equal(a[k], b[k]) for k in a)
