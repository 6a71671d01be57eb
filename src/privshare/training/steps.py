"""One-step functions shared by the one-process trainers and the federated apps.

The privGAN step of the reference, made exact and cheaper: each G_i(z) is
computed once and its graph kept; D_i and D_central train on the detached fakes; the
generator loss is then taken on the same fakes with the UPDATED D_i and D_central and
back-propagated into G_i's parameters only (``backward(inputs=...)``), so no
discriminator weight gradient is computed in the generator step. As z and
G_i are unchanged in between, this equals the reference step minus its two
extra generator forward passes.

Precision: every function takes ``precision`` and opens its own bf16 autocast
around its forward passes only, then leaves it before ``backward`` and the
optimiser step. Autocast caches the bf16 copy of each weight until its
context exits, so one context spanning an optimiser step would keep feeding
the next forward the weights from BEFORE the step (measured: a context around
a whole privGAN step made G_i's loss use the stale D_i and D_central).

Owners that are not alike: an owner's per-class terms are weighted by its
``class_mask`` (0 for a class it lacks, see :mod:`privshare.training.losses`),
D_central's by per-class weights over the owners that hold the class, and G_i's D_central
target y' is another holder of the class. Every forward pass still runs over
all classes (the ensemble is batched); the masked terms contribute exactly
zero gradient. With every class held nothing is weighted: the steps are the
i.i.d. ones, draw for draw.
"""

from __future__ import annotations

import torch

from privshare.models import CentralDiscriminator
from privshare.training.losses import (
    central_loss_share,
    discriminator_loss,
    generator_adversarial_loss,
    owner_cross_entropy,
    r1_penalty,
)
from privshare.training.runtime import autocast
from privshare.training.state import OwnerState, RealRows


def _update(optimizer: torch.optim.Optimizer, loss: torch.Tensor, *, inputs=None) -> None:
    """One optimiser step on ``loss``; gradients are freed after it, so memory holds one network's.

    ``inputs``: the only tensors to receive gradients (a generator's parameters,
    so the frozen discriminators get none).
    """
    optimizer.zero_grad(set_to_none=True)
    loss.backward(inputs=inputs)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def discriminator_step(
    owner: OwnerState,
    rows: RealRows,
    *,
    batch: int,
    smoothing: float,
    z: torch.Tensor | None = None,
    keep_graph: bool = True,
    precision: str = "fp32",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw z and a real batch, take one D_i step on [real, G_i(z)].

    With ``owner.d_every = k > 1`` D_i steps on every k-th call only (the
    first included); on the others the batch is drawn as usual and D_i's
    loss on it is computed and returned, but nothing is trained.

    Returns
    -------
    fake : (C, B, D)
        G_i(z), still attached to G_i's graph when ``keep_graph``.
    loss : scalar tensor (detached)
        D_i's loss before its update (or without one, when D_i rests).
    """
    z = owner.noise(batch) if z is None else z
    owner.d_calls += 1
    rests = (owner.d_calls - 1) % owner.d_every != 0  # owner_d_every: D_i steps on every k-th call
    with autocast(owner.device, precision):
        with torch.set_grad_enabled(keep_graph):
            fake = owner.generator(z)  # (C, B, D)
        real = owner.real_batch(rows, batch)  # (C, B, D)
        # one D_i pass over [real, fake]: one matmul per layer instead of two;
        # D_i sees both through the owner's augmentation (if any), D_central never does
        both = owner.d_view(torch.cat([real.to(fake.dtype), fake.detach()], dim=1))
        r1 = 0.0
        if not rests:
            owner.d_steps += 1
            r1 = owner.r1_gamma * owner.r1_every if owner.d_steps % owner.r1_every == 0 else 0.0
        if r1:
            both.requires_grad_(True)
        # a resting D_i's loss is still reported, from a forward pass that trains nothing
        with torch.set_grad_enabled(not rests):
            logits = owner.discriminator(both)
            loss = discriminator_loss(logits[:, :batch], logits[:, batch:], smoothing=smoothing,
                                      mask=owner.class_mask)
    if rests:
        return fake, loss
    total = loss
    if r1:  # D_i trains on it; the loss reported stays the BCE, comparable across runs
        total = loss + r1_penalty(logits[:, :batch], both, gamma=r1, mask=owner.class_mask)
    _update(owner.opt_d, total)
    return fake, loss.detach()


def central_gradient_share(
    network: CentralDiscriminator,
    fake: torch.Tensor,
    *,
    owner: int,
    owners: int,
    precision: str = "fp32",
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Accumulate into D_central's ``.grad`` this owner's share of D_central's loss.

    ``fake`` (C, B, D) is detached here: D_central is trained on fakes only and no
    gradient flows back into G_i. ``weights`` (C,): this owner's row of
    :func:`~privshare.training.losses.central_class_weights` (None: every
    owner holds every class). Returns the share (detached).
    """
    return _central_shares(network, [(owner, fake, weights)], owners=owners, precision=precision)[0]


def central_gradient_shares(
    network: CentralDiscriminator,
    fakes: list[torch.Tensor],
    *,
    owners: int,
    precision: str = "fp32",
    weights: torch.Tensor | None = None,
) -> list[torch.Tensor]:
    """:func:`central_gradient_share` of every owner of one process.

    The forward passes share one autocast context, so D_central's weights are
    cast to bf16 once instead of once per owner; each share is then
    back-propagated on its own, in owner order, as the one-by-one calls do
    (its gradient reaches D_central's fp32 ``.grad`` the same way).
    ``weights`` (N, C) or None. Returns the shares (detached).
    """
    return _central_shares(network, [(j, f, None if weights is None else weights[j])
                                     for j, f in enumerate(fakes)], owners=owners,
                           precision=precision)


def _central_shares(network: CentralDiscriminator,
                    parts: list[tuple[int, torch.Tensor, torch.Tensor | None]], *, owners: int,
                    precision: str) -> list[torch.Tensor]:
    """(owner j, its rows (C, B, D), its class weights) -> j's share, back-propagated into
    D_central's ``.grad``: every forward in one autocast context, then each backward in order."""
    with autocast(parts[0][1].device, precision):
        shares = [central_loss_share(network(x.detach()), owner=j, total_rows=owners * x.shape[1],
                                     mask=w)  # logits (C, B, N)
                  for j, x, w in parts]
    for share in shares:
        share.backward()
    return [share.detach() for share in shares]


def _privgan_generator_loss(
    owner: OwnerState,
    fake: torch.Tensor,
    *,
    network: CentralDiscriminator,
    owners: int,
    privacy_weight: float | torch.Tensor,
    holds: torch.Tensor | None,
) -> torch.Tensor:
    """G_i's loss on ``fake``, BCE(D_i(fake), 1) + lambda * CE(D_central(fake), y'); call it
    inside the step's autocast context."""
    targets = owner.other_owners(owners=owners, batch=fake.shape[1], holds=holds)
    mask = owner.class_mask
    loss = generator_adversarial_loss(owner.discriminator(owner.d_view(fake)), mask=mask)
    # D_central judges the plain fake, never an augmented view
    if torch.is_tensor(privacy_weight):
        weights = privacy_weight if mask is None else privacy_weight * mask
        loss = loss + owner_cross_entropy(network(fake), targets, mask=weights)
    elif privacy_weight:
        loss = loss + privacy_weight * owner_cross_entropy(network(fake), targets, mask=mask)
    return loss


def privgan_generator_step(
    owner: OwnerState,
    fake: torch.Tensor,
    *,
    network: CentralDiscriminator,
    owners: int,
    privacy_weight: float | torch.Tensor,
    precision: str = "fp32",
    holds: torch.Tensor | None = None,
) -> torch.Tensor:
    """One G_i step: BCE(D_i(fake), 1) + lambda * CE(D_central(fake), y'), y' != i.

    ``fake`` (C, B, D) must still hold G_i's graph. Only G_i's parameters
    receive gradients; D_i and D_central are used frozen. ``holds`` (N, C) bool:
    which owner holds which class (None: all of them); y' is then drawn among
    the other holders of each class. ``privacy_weight``: lambda, or a (C,)
    tensor of one lambda per model (packed cells, :mod:`privshare.training.packing`).
    """
    return privgan_generator_steps([owner], [fake], network=network, owners=owners,
                                   privacy_weights=[privacy_weight], precision=precision,
                                   holds=holds)[0]


def privgan_generator_steps(
    party: list[OwnerState],
    fakes: list[torch.Tensor],
    *,
    network: CentralDiscriminator,
    owners: int,
    privacy_weights: list[float | torch.Tensor],
    precision: str = "fp32",
    holds: torch.Tensor | None = None,
) -> list[torch.Tensor]:
    """:func:`privgan_generator_step` for several owners of one process at once
    (``privacy_weights``: each owner's lambda, in ``party`` order).

    Every owner's loss is computed in ONE autocast context, so D_central's
    weights are cast to bf16 once for all of them instead of once per owner;
    then each G_i takes its step. The same numbers as the owners' steps one
    after the other: G_i's loss depends on G_i, D_i and D_central only, none
    of which another owner's step changes, and each draws from its own stream.
    """
    with autocast(fakes[0].device, precision):  # a fresh context: D_i and D_central as updated
        losses = [_privgan_generator_loss(o, f, network=network, owners=owners,
                                          privacy_weight=w, holds=holds)
                  for o, f, w in zip(party, fakes, privacy_weights, strict=True)]
    for owner, loss in zip(party, losses):
        _update(owner.opt_g, loss, inputs=list(owner.generator.parameters()))
        owner.update_ema()
    return [loss.detach() for loss in losses]


def gan_generator_step(owner: OwnerState, *, batch: int, precision: str = "fp32") -> torch.Tensor:
    """Plain-GAN generator step on FRESH noise with target 1."""
    z = owner.noise(batch)
    with autocast(owner.device, precision):
        loss = generator_adversarial_loss(owner.discriminator(owner.d_view(owner.generator(z))),
                                          mask=owner.class_mask)
    _update(owner.opt_g, loss, inputs=list(owner.generator.parameters()))
    owner.update_ema()
    return loss.detach()


def central_pretrain_step(
    network: CentralDiscriminator,
    optimizer: torch.optim.Optimizer,
    batches: list[torch.Tensor],
    *,
    precision: str = "fp32",
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """One D_central step on REAL rows labelled by owner (original privGAN only).

    ``batches[j]`` (C, B, D) are owner j's real rows. The paper implemented
    here never calls this: it is off unless ``train.central_pretrain_epochs > 0``.
    ``weights`` (N, C): :func:`~privshare.training.losses.central_class_weights`
    (None: every owner holds every class).
    """
    optimizer.zero_grad(set_to_none=True)
    shares = central_gradient_shares(network, batches, owners=len(batches), precision=precision,
                                     weights=weights)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return torch.stack(shares).sum()
