"""The reference CNN: shapes for 28x28 and small images, seeded training that learns."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from privshare.evaluation import ReferenceCNN, embed, predict, train_classifier


@pytest.mark.parametrize("shape, flat", [((28, 28), 9216), ((8, 8), 256), ((4, 5), 64)])
def test_reference_architecture_fits_every_image_size(shape, flat):
    net = ReferenceCNN(image_shape=shape, classes=10)
    assert net.body[-2].in_features == flat  # 64 channels x pooled positions
    x = torch.rand(3, 1, *shape)
    assert net(x).shape == (3, 10) and net.features(x).shape == (3, 128)


def _stripes(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Class 0: bright top half; class 1: bright bottom half; noise elsewhere."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.integers(0, 60, (n, 8, 8)).astype(np.uint8)
    x[y == 0, :4] += 180
    x[y == 1, 4:] += 180
    return x, y


def test_training_is_seeded_learns_and_leaves_the_global_rng_alone():
    x, y = _stripes(200, 0)
    state = torch.random.get_rng_state()
    kw = dict(classes=2, epochs=1, steps=40, batch_size=32, lr=1e-3)
    a = train_classifier(x, y, seed=5, **kw)
    assert torch.equal(torch.random.get_rng_state(), state)
    b = train_classifier(x, y, seed=5, **kw)
    c = train_classifier(x, y, seed=6, **kw)
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k])
    assert not torch.equal(a.head[1].weight, c.head[1].weight)
    x_test, y_test = _stripes(100, 1)
    assert (predict(a, x_test) == y_test).mean() > 0.9
    assert embed(a, x_test).shape == (100, 128)


def test_labels_must_be_class_positions():
    x, y = _stripes(10, 0)
    with pytest.raises(ValueError, match="class positions 0..0"):
        train_classifier(x, y, classes=1, epochs=1, batch_size=4, seed=0)
