"""Pure loss functions of the GAN and privGAN steps.

Every loss takes per-class ensembles of logits with a leading class dimension
M, averages over the batch inside each class (as the reference's Keras losses
do) and SUMS over classes, so each class's networks receive exactly the
gradient they would receive if trained alone.

``mask`` (M,), where a loss takes one, weights each class's term before the
sum: 0 for a class the owner does not hold, so its networks receive an
exactly zero gradient (and Adam, whose moments stay 0, never moves them).
``None`` (every class held) is the plain sum, unchanged.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def _class_sum(per_class: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Sum of per-class terms (M,), each weighted by ``mask`` when one is given."""
    return per_class.sum() if mask is None else (per_class * mask).sum()


def discriminator_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor, *, smoothing: float,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """BCE of D on [real, fake] with targets [smoothing, 0] (one-sided smoothing).

    Parameters
    ----------
    real_logits, fake_logits : (M, B)
        D's logits on real rows and on generated rows.
    smoothing : float
        Target for real rows (0.95 privGAN, 0.9 GAN, as in the reference).
    """
    logits = torch.cat([real_logits, fake_logits], dim=1)  # (M, 2B)
    targets = torch.cat(
        [torch.full_like(real_logits, smoothing), torch.zeros_like(fake_logits)], dim=1
    )
    bce = F.binary_cross_entropy_with_logits(logits.float(), targets.float(), reduction="none")
    return _class_sum(bce.mean(dim=1), mask)


def r1_penalty(real_logits: torch.Tensor, inputs: torch.Tensor, *, gamma: float,
               mask: torch.Tensor | None = None) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): gamma / 2 * E_real |d logit / d x|^2, summed over classes.

    ``real_logits`` (M, B) are D's logits on the first B rows of ``inputs``
    (M, B', D), which must require grad; each logit depends on its own row
    only, so the gradient of their sum is every row's own gradient. The
    graph is kept (``create_graph``) so the penalty trains D.
    """
    (grad,) = torch.autograd.grad(real_logits.float().sum(), inputs, create_graph=True)
    b = real_logits.shape[1]
    per_row = grad[:, :b].float().pow(2).flatten(2).sum(-1)  # (M, B)
    return 0.5 * gamma * _class_sum(per_row.mean(dim=1), mask)


def generator_adversarial_loss(fake_logits: torch.Tensor, *,
                               mask: torch.Tensor | None = None) -> torch.Tensor:
    """BCE(D(G(z)), 1): the generator wants its fakes called real. ``(M, B)``."""
    target = torch.ones_like(fake_logits, dtype=torch.float32)
    bce = F.binary_cross_entropy_with_logits(fake_logits.float(), target, reduction="none")
    return _class_sum(bce.mean(dim=1), mask)


def owner_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, *,
                        mask: torch.Tensor | None = None) -> torch.Tensor:
    """Per-class mean cross-entropy of D_central, summed over classes.

    Parameters
    ----------
    logits : (M, B, N)
        D_central's logits over the N owners.
    targets : (M, B) int64
        Owner index per row.
    """
    m, b, n = logits.shape
    ce = F.cross_entropy(logits.reshape(m * b, n).float(), targets.reshape(m * b), reduction="none")
    return _class_sum(ce.reshape(m, b).mean(dim=1), mask)


def central_loss_share(logits: torch.Tensor, *, owner: int, total_rows: int,
                       mask: torch.Tensor | None = None) -> torch.Tensor:
    """Owner ``owner``'s additive share of D_central's loss on all owners' fakes.

    D_central's loss is the mean cross-entropy over the ``total_rows = N * B`` fakes
    of a step; it splits into one term per owner, ``sum(CE on own fakes) /
    total_rows``. Summing the shares (or their gradients, as a federated
    server does) gives exactly the one-process loss.

    When owners are not alike, class c's term runs over the k_c owners
    that hold it: ``mask[c] = N / k_c`` for a holder, 0 otherwise
    (:func:`central_class_weights`), so each class's loss is the mean over
    its holders' fakes.

    Parameters
    ----------
    logits : (M, B, N)
        D_central's logits on this owner's fakes.
    """
    m, b, n = logits.shape
    targets = torch.full((m * b,), owner, dtype=torch.long, device=logits.device)
    ce = F.cross_entropy(logits.reshape(m * b, n).float(), targets, reduction="none")
    return _class_sum(ce.reshape(m, b).sum(dim=1), mask) / total_rows


def central_class_weights(holds: torch.Tensor) -> torch.Tensor:
    """D_central's per-class weights of each owner's share: ``holds[j, c] * N / k_c``, (N, M) float32.

    ``holds`` (N, M) bool: owner j holds class c; k_c = owners holding c.
    """
    n = holds.shape[0]
    k = holds.sum(dim=0).clamp_min(1).to(torch.float32)
    return holds.to(torch.float32) * (n / k)[None, :]


def random_other_owner(
    *, owner: int, owners: int, shape: tuple[int, ...], rng: torch.Generator, device: torch.device
) -> torch.Tensor:
    """For each row a uniformly drawn owner index different from ``owner``.

    This is y' of the privGAN generator loss: G_i is pushed to make D_central believe
    another owner made its samples.
    """
    offset = torch.randint(1, owners, shape, generator=rng, device=device)
    return (owner + offset) % owners


def random_other_holder(
    *, owner: int, holds: torch.Tensor, batch: int, rng: torch.Generator
) -> torch.Tensor:
    """y' when owners are not alike: for class c, an owner drawn uniformly among the OTHER
    owners that hold c; (M, batch) int64.

    ``holds`` (N, M) bool. Drawn from ``rng`` for every class, held or not,
    so the stream advances alike whatever the owner holds; a class with no
    other holder (privGAN refuses such splits) gets a holder, the owner itself.
    """
    others = holds.clone()
    others[owner] = False
    others = torch.where(others.any(dim=0, keepdim=True), others, holds)  # (N, M)
    k = others.sum(dim=0)  # (M,), >= 1 where some owner holds the class
    order = torch.argsort((~others).to(torch.int8), dim=0, stable=True)  # holders first, by index
    u = torch.rand((holds.shape[1], batch), generator=rng, device=holds.device)
    pick = (u * k[:, None]).long().clamp_(min=0).minimum((k[:, None] - 1).clamp_min(0))
    return order.T.gather(1, pick)  # (M, batch): the pick-th other holder of each class
