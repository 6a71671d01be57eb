"""Cell packing: K privGAN cells trained as one ensemble equal the K cells trained one by one.

Float64, several steps, cells that differ in seed (so in initial weights and
random streams), in their owners' rows and in their privacy weights (0 among
them: no D_central term; one cell with a lambda per owner). Every weight, Adam moment and random stream of
every cell must agree with its lone run after unpacking (1e-9: Adam turns
float64 summation-order differences into ~1e-11 on the weights; a mix-up
between cells is 1e-5 or more).
"""

from __future__ import annotations

import pytest
import torch

from privshare.training import PrivGANTrainer
from privshare.training.packing import PackedPrivGAN, PackingError, pack_problem
from tests.training.helpers import tiny_config, tiny_rows

CPU = torch.device("cpu")
STEPS = 4
KINDS = {
    "mlp": (),
    "conv-batch-norm": ("model.kind='conv'", "model.conv_channels=[4, 8]",
                        "model.generator_norm='batch'"),
    "mlp-augment-r1": ("train.augment=['translation', 'cutout']", "train.r1_gamma=1.0",
                       "train.r1_every=2"),
    "mlp-resting-d0": ("train.owner_d_every=[2, 1]",),  # D_0 steps on every other step
}
# (seed, privacy weight setting)
CELLS = ((0, ("train.privacy_weight=0.0",)), (1, ("train.privacy_weight=1.0",)),
         (2, ("train.owner_privacy_weights=[3.0, 0.5]", "train.privacy_weight=3.0")))


def _cells(kind: str) -> list[PrivGANTrainer]:
    out = []
    for seed, weights in CELLS:
        cfg = tiny_config("train.precision='fp64'", "train.batch_size=6", f"seed={seed}",
                          *weights, *KINDS[kind])
        out.append(PrivGANTrainer(config=cfg, rows=tiny_rows(seed=seed, dtype=torch.float64),
                                  device=CPU))
    return out


def _assert_same_state(a, b, where: str) -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _assert_same_state(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same_state(x, y, f"{where}[{i}]")
    elif torch.is_tensor(a):
        if a.dtype == torch.uint8:  # a random stream's state: exactly the same draws left
            assert torch.equal(a, b), where
        else:
            torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-9, msg=where)
    else:
        assert a == b, where


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_packed_cells_train_as_each_cell_alone(kind):
    alone = _cells(kind)
    for cell in alone:
        for _ in range(STEPS):
            cell.train_step()
    pack = PackedPrivGAN(_cells(kind))
    assert pack.classes == 3 * 3 and pack.owners[0].generator.models == 9
    for _ in range(STEPS):
        losses = pack.train_step()
    assert all(torch.isfinite(v) for v in losses.values())
    for k, (packed, lone) in enumerate(zip(pack.unpack(), alone)):
        _assert_same_state(packed.state_dict(), lone.state_dict(), f"cell {k}")
    # the cells really differ from each other (a pack of copies would pass the above trivially)
    g = [c.owners[0].generator.state_dict() for c in alone]
    key = next(iter(g[0]))
    assert not torch.allclose(g[0][key], g[1][key])


def test_privacy_weight_zero_in_a_pack_leaves_d_central_out_of_that_cells_generators():
    # cell 0 (lambda 0) trained in a pack equals cell 0 trained alone, where the term is skipped
    alone = _cells("mlp")[0]
    for _ in range(STEPS):
        alone.train_step()
    pack = PackedPrivGAN(_cells("mlp"))
    for _ in range(STEPS):
        pack.train_step()
    packed = pack.unpack()[0]
    _assert_same_state(packed.owners[1].generator.state_dict(),
                       alone.owners[1].generator.state_dict(), "G_1 of the lambda-0 cell")


def test_a_pack_resumes_from_its_state_as_if_never_stopped():
    straight = PackedPrivGAN(_cells("mlp"))
    for _ in range(STEPS):
        straight.train_step()
    first = PackedPrivGAN(_cells("mlp"))
    for _ in range(STEPS // 2):
        first.train_step()
    saved = first.state_dict()
    again = PackedPrivGAN(_cells("mlp"))
    again.load_state_dict(saved)
    for _ in range(STEPS - STEPS // 2):
        again.train_step()
    _assert_same_state(again.state_dict(), straight.state_dict(), "resumed pack")


@pytest.mark.parametrize("overrides, message", [
    (("model.generator_widths=[8, 16]",), r"cell 1 differs from cell 0 in model.generator_widths"),
    (("model.d_dropout=0.3",), r"model.d_dropout > 0"),
    (("train.ema_decay=0.9",), r"train.ema_decay > 0"),
    (("train.noise='shared'",), r"train.noise = 'shared'"),
])
def test_cells_that_cannot_be_packed_are_refused_with_the_reason(overrides, message):
    a = tiny_config("seed=0")
    b = tiny_config("seed=1", *overrides)
    if "differs" in message:
        assert pack_problem([a, b]) is not None
        with pytest.raises(PackingError, match=message):
            PackedPrivGAN([PrivGANTrainer(config=c, rows=tiny_rows(), device=CPU) for c in (a, b)])
    else:  # a lever refused for every cell
        cells = [PrivGANTrainer(config=tiny_config(f"seed={s}", *overrides), rows=tiny_rows(),
                                device=CPU) for s in (0, 1)]
        with pytest.raises(PackingError, match=message):
            PackedPrivGAN(cells)
    assert pack_problem([a, tiny_config("seed=5", "train.privacy_weight=2.0")]) is None


def test_cells_with_different_steps_per_epoch_are_refused():
    cfg = tiny_config("train.batch_size=2")
    small = PrivGANTrainer(config=cfg, rows=tiny_rows(sizes=(3, 4)), device=CPU)
    large = PrivGANTrainer(config=cfg, rows=tiny_rows(sizes=(3, 9)), device=CPU)
    assert small.steps_per_epoch() != large.steps_per_epoch()
    with pytest.raises(PackingError, match="steps per epoch; pack only cells with the same"):
        PackedPrivGAN([small, large])


def test_fit_checkpoints_a_pack_and_resumes_it(tmp_path):
    from privshare.training import fit

    straight = PackedPrivGAN(_cells("mlp"))
    fit(straight, epochs=3)
    path = tmp_path / "pack.pt"
    first = PackedPrivGAN(_cells("mlp"))
    fit(first, epochs=2, checkpoint_path=path, checkpoint_every=1)
    again = PackedPrivGAN(_cells("mlp"))
    history = fit(again, epochs=3, checkpoint_path=path, checkpoint_every=1)
    assert [r["epoch"] for r in history] == [0, 1, 2]
    _assert_same_state(again.state_dict(), straight.state_dict(), "resumed through fit")
    cells = again.unpack()
    assert all(c.epoch == 3 and len(c.history) == 3 for c in cells)
