"""Convolutional networks (model.kind = "conv"): shapes, refusals, a whole tiny run with levers."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from privshare.config import ConfigError, load_config
from privshare.experiments import run_experiment
from privshare.experiments.evaluate import evaluate_run
from privshare.models import build_central_discriminator, build_discriminator, build_generator
from tests.evaluation.helpers import FAST


@pytest.mark.parametrize("side, channels", [(28, (32, 64)), (8, (4, 8)), (16, (4, 8, 8))])
def test_conv_networks_map_the_same_shapes_as_the_mlps(side, channels):
    model = load_config(preset="tiny", overrides=["model.kind='conv'",
                                                  f"model.conv_channels={list(channels)}"]).model
    dim = side * side
    g = build_generator(model, models=3, data_dim=dim)
    x = g(torch.randn(3, 5, model.latent_dim))
    assert x.shape == (3, 5, dim) and x.abs().max() <= 1
    assert build_discriminator(model, models=3, data_dim=dim)(x).shape == (3, 5)
    assert build_central_discriminator(model, models=3, data_dim=dim, owners=4)(x).shape == (3, 5, 4)


def test_each_class_network_sees_only_its_own_rows():
    """Changing class 1's input moves class 1's logits only (grouped convolutions stay apart)."""
    model = load_config(preset="tiny", overrides=["model.kind='conv'"]).model
    d = build_discriminator(model, models=3, data_dim=64).double()
    x = torch.randn(3, 4, 64, dtype=torch.float64)
    before = d(x)
    x[1] += 1.0
    after = d(x)
    assert torch.equal(before[0], after[0]) and torch.equal(before[2], after[2])
    assert not torch.equal(before[1], after[1])


def test_unknown_kind_and_bad_channels_are_refused():
    with pytest.raises(ConfigError, match=r"model.kind='cnn': choose mlp or conv"):
        load_config(preset="tiny", overrides=["model.kind='cnn'"])
    with pytest.raises(ConfigError, match=r"model.conv_channels=\[\]"):
        load_config(preset="tiny", overrides=["model.conv_channels=[]"])


def test_images_too_small_for_the_strides_are_refused_before_anything_is_written(tmp_path):
    config = load_config(preset="tiny", overrides=[
        f'out_dir="{tmp_path}"', 'name="small"', "model.kind='conv'", "model.conv_channels=[4, 8, 16]"])
    with pytest.raises(ConfigError, match=r"multiple of 8 and at least 16; this dataset's are 8x8"):
        run_experiment(config)
    assert not (tmp_path / "small").exists()


def test_a_conv_run_with_both_levers_trains_exports_and_evaluates(tmp_path):
    config = load_config(preset="tiny", overrides=[
        f'out_dir="{tmp_path}"', 'name="c"', "model.kind='conv'", "model.conv_channels=[4, 8]",
        'train.augment=["translation", "cutout"]', "train.ema_decay=0.5"])
    run = run_experiment(config)
    x, y = run.generate("privgan", 0, n_per_class=4, seed=1)
    assert x.shape == (4 * len(run.classes), 8, 8) and x.dtype == np.uint8
    saved = np.load(run.layout.synthetic("privgan", 1))
    assert len(saved["x"]) == config.export.samples_per_class * len(run.classes)
    ev = evaluate_run(run, config=replace(FAST, utility_sources=("real_own", "privgan")),
                      write=False)
    accuracy = [r for r in ev.rows if r["metric"] == "accuracy" and r["class"] == "all"]
    assert {r["source"] for r in accuracy} == {"real_own", "privgan"}
    assert all(0 <= r["value"] <= 1 for r in accuracy)


def test_batch_normalised_generator_keeps_models_apart_and_samples_row_by_row_in_eval():
    model = load_config(preset="tiny", overrides=["model.kind='conv'", "model.conv_channels=[4, 8]",
                                                  "model.generator_norm='batch'"]).model
    g = build_generator(model, models=3, data_dim=64).double()
    z = torch.randn(3, 6, model.latent_dim, dtype=torch.float64)
    before = g(z)  # training mode: batch statistics, and the running ones move
    assert g.norms[0].running_mean.shape == (3, 8) and g.norms[0].running_mean.abs().sum() > 0
    z2 = z.clone()
    z2[1] += 1.0
    after = g(z2)
    assert torch.equal(before[0], after[0]) and torch.equal(before[2], after[2])
    assert not torch.equal(before[1], after[1])
    g.eval()  # exported rows: running statistics, so a row does not depend on its batch-mates
    torch.testing.assert_close(g(z)[:, :2], g(z[:, :2]))


@pytest.mark.parametrize("overrides, message", [
    (["model.kind='conv'", "model.generator_norm='layer'"],
     r"model.generator_norm='layer': choose none or batch"),
    (["model.generator_norm='batch'"], r"model.generator_norm='batch' needs model.kind='conv'"),
])
def test_bad_generator_norm_is_refused(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(preset="tiny", overrides=overrides)


def _two_layers(leaky, x, w1, w2):
    """conv -> LeakyReLU -> conv -> LeakyReLU -> flatten (the discriminator body's shape)."""
    h = leaky(torch.nn.functional.conv2d(x, w1, stride=2, padding=1, groups=2), 0.2)
    h = leaky(torch.nn.functional.conv2d(h, w2, stride=2, padding=1, groups=2), 0.2)
    return h.reshape(h.shape[0], -1)  # NCHW order, as the head's flattening: mixes orders


@pytest.mark.parametrize("channels_last", [False, True])
def test_the_conv_leaky_relu_has_torchs_values_and_gradients_to_second_order(channels_last):
    """The maps' LeakyReLU (one memory order in its backward) against torch's, in float64:
    outputs, input gradients, and the gradient of an R1-like penalty (a double backward)."""
    from privshare.models.conv import leaky_relu

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 2, 8, 8, dtype=torch.float64, generator=gen)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x[0, 0, 0, 0] = 0.0  # the kink itself: torch's rule (x > 0) holds there too
    w1 = torch.randn(8, 1, 4, 4, dtype=torch.float64, generator=gen)
    w2 = torch.randn(6, 4, 4, 4, dtype=torch.float64, generator=gen)
    results = []
    for leaky in (torch.nn.functional.leaky_relu, leaky_relu):
        xi, a, b = (t.detach().clone().requires_grad_() for t in (x, w1, w2))
        if channels_last:
            xi = xi.detach().contiguous(memory_format=torch.channels_last).requires_grad_()
        out = _two_layers(leaky, xi, a, b)
        (gx,) = torch.autograd.grad(out.sum(), xi, create_graph=True)
        penalty = (gx ** 2).sum()
        results.append((out.detach(), gx.detach(), *torch.autograd.grad(penalty, (a, b))))
    for ours, torchs in zip(results[1], results[0]):
        torch.testing.assert_close(ours, torchs, rtol=1e-12, atol=1e-12)
    assert results[0][2].abs().sum() > 0  # the penalty's gradient is not trivially zero


def test_the_conv_leaky_relus_backward_keeps_one_memory_order(monkeypatch):
    """A gradient arriving in NCHW order for a channels-last map is brought to the map's order
    before LeakyReLU's backward runs (the slow mixed-order path is never taken)."""
    from privshare.models import conv

    seen = []
    real = torch.ops.aten.leaky_relu_backward
    x = torch.randn(4, 6, 5, 5).contiguous(memory_format=torch.channels_last).requires_grad_()
    y = conv.leaky_relu(x, 0.2)
    grad = torch.randn(4, 6, 5, 5)  # NCHW
    assert not grad.is_contiguous(memory_format=torch.channels_last)

    class Spy:
        def __call__(self, g, inp, slope, is_result):
            seen.append((g.is_contiguous(memory_format=torch.channels_last),
                         inp.is_contiguous(memory_format=torch.channels_last)))
            return real(g, inp, slope, is_result)

    monkeypatch.setattr(conv.torch.ops, "aten", type("A", (), {"leaky_relu_backward": Spy()})())
    (gx,) = torch.autograd.grad(y, x, grad)
    monkeypatch.undo()
    assert seen == [(True, True)]
    torch.testing.assert_close(gx, torch.where(x > 0, grad, 0.2 * grad))
