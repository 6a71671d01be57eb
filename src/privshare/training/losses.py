"""Pure loss functions of the GAN and privGAN steps.

Every loss takes per-class ensembles of logits with a leading class dimension
M, averages over the batch inside each class (as the reference's Keras losses
do) and SUMS over classes, so each class's networks receive exactly the
gradient they would receive if trained alone.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def discriminator_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor, *, smoothing: float
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
    return bce.mean(dim=1).sum()


def r1_penalty(real_logits: torch.Tensor, inputs: torch.Tensor, *, gamma: float) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): gamma / 2 * E_real |d logit / d x|^2, summed over classes.

    ``real_logits`` (M, B) are D's logits on the first B rows of ``inputs``
    (M, B', D), which must require grad; each logit depends on its own row
    only, so the gradient of their sum is every row's own gradient. The
    graph is kept (``create_graph``) so the penalty trains D.
    """
    (grad,) = torch.autograd.grad(real_logits.float().sum(), inputs, create_graph=True)
    b = real_logits.shape[1]
    per_row = grad[:, :b].float().pow(2).flatten(2).sum(-1)  # (M, B)
    return 0.5 * gamma * per_row.mean(dim=1).sum()


def generator_adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """BCE(D(G(z)), 1): the generator wants its fakes called real. ``(M, B)``."""
    target = torch.ones_like(fake_logits, dtype=torch.float32)
    bce = F.binary_cross_entropy_with_logits(fake_logits.float(), target, reduction="none")
    return bce.mean(dim=1).sum()


def owner_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-class mean cross-entropy of DP, summed over classes.

    Parameters
    ----------
    logits : (M, B, N)
        DP's logits over the N owners.
    targets : (M, B) int64
        Owner index per row.
    """
    m, b, n = logits.shape
    ce = F.cross_entropy(logits.reshape(m * b, n).float(), targets.reshape(m * b), reduction="none")
    return ce.reshape(m, b).mean(dim=1).sum()


def central_loss_share(logits: torch.Tensor, *, owner: int, total_rows: int) -> torch.Tensor:
    """Owner ``owner``'s additive share of DP's loss on all owners' fakes.

    DP's loss is the mean cross-entropy over the ``total_rows = N * B`` fakes
    of a step; it splits into one term per owner, ``sum(CE on own fakes) /
    total_rows``. Summing the shares (or their gradients, as a federated
    server does) gives exactly the one-process loss.

    Parameters
    ----------
    logits : (M, B, N)
        DP's logits on this owner's fakes.
    """
    m, b, n = logits.shape
    targets = torch.full((m * b,), owner, dtype=torch.long, device=logits.device)
    ce = F.cross_entropy(logits.reshape(m * b, n).float(), targets, reduction="none")
    return ce.reshape(m, b).sum(dim=1).sum() / total_rows


def random_other_owner(
    *, owner: int, owners: int, shape: tuple[int, ...], rng: torch.Generator, device: torch.device
) -> torch.Tensor:
    """For each row a uniformly drawn owner index different from ``owner``.

    This is y' of the privGAN generator loss: G_i is pushed to make DP believe
    another owner made its samples.
    """
    offset = torch.randint(1, owners, shape, generator=rng, device=device)
    return (owner + offset) % owners
