"""DP-SGD for batched per-class discriminators: Poisson batches, per-row clipping, noise.

Pure tensor functions; :mod:`privshare.training.dpgan` puts them into a step.
The mechanism is DP-SGD (Abadi et al. 2016, Alg. 1) applied to each class
model m of an ensemble on its own rows:

- every real row of class m enters the step independently with probability
  q_m (Poisson sampling, which the RDP and PRV accountants assume), held as a
  fixed-width padded batch with a mask (:func:`poisson_batch`);
- the gradient of each (class, row) loss over all of class m's parameters is
  clipped to L2 norm C, the clipped gradients are summed
  (:func:`clipped_gradient_sum`), N(0, (sigma C)^2) is added to every entry
  of class m's sum and the result is divided by the expected batch q_m * n_m
  (:func:`add_private_gradient`).

Per-row gradients come from ``torch.func`` (``vmap(grad(functional_call))``
over the row index, with the loss summed over the class dimension, so one
vmap gives every (class, row) gradient: :func:`per_sample_gradients`). For
networks made only of :class:`~privshare.models.EnsembleLinear` layers (the
MLPs) the same clipped sum is computed without materialising one gradient
per row: a linear layer's gradient for row p is the outer product of its
input a_p and its output gradient g_p, so its norm is |a_p| |g_p| and the
clipped sum is sum_p c_p a_p^T g_p (Goodfellow 2015; exact, tested against
the vmap path). That is what makes DP-SGD affordable on a CPU: the vmap path
writes one full gradient per row (for the ``quick`` networks, 10 classes and
about 100 rows each, it took about 100 times a plain D step on 2 busy CPU
cores, the linear path about as long as one).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from privshare.models import EnsembleLinear
from privshare.models.ensemble import SpectralEnsembleLinear
from privshare.training.runtime import autocast
from privshare.training.state import RealRows

RowLoss = Callable[[torch.Tensor], torch.Tensor]  # logits (M, P) -> per-row losses (M, P)
CLIP_EPS = 1e-6  # Opacus' guard in C / (norm + eps)
PER_SAMPLE_BYTES = 256 * 2**20  # bound on the per-row gradients the vmap path holds at once


def _wide(t: torch.Tensor) -> torch.Tensor:
    """``t`` in at least fp32 (bf16 activations of autocast), fp64 kept as it is."""
    return t.to(torch.promote_types(t.dtype, torch.float32))


def expected_batch(rows: RealRows, rates: torch.Tensor) -> torch.Tensor:
    """q_m * n_m, the expected number of rows of each class in a Poisson batch: (C,)."""
    return rates * rows.counts.to(rates.dtype)


def batch_width(rows: RealRows, rates: torch.Tensor, *, spread: float = 4.0) -> int:
    """Padded width of a Poisson batch: the largest class's mean + ``spread`` sd, at most n_max.

    A draw past it is still taken whole (the batch is widened for that step),
    so the width only sets the usual shape, never which rows enter.
    """
    mean = expected_batch(rows, rates)
    sd = torch.sqrt(mean * (1 - rates))
    width = int(torch.ceil(mean + spread * sd).max().item()) + 1
    return max(1, min(width, rows.x.shape[1]))


def poisson_batch(
    rows: RealRows, *, rates: torch.Tensor, width: int, rng: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row of class m enters with probability ``rates[m]``, independently.

    Returns
    -------
    x : (C, P, D)
        The drawn rows first, then other rows of the class as padding;
        P = max(``width``, the largest class's draw).
    mask : (C, P) bool
        True where ``x`` holds a drawn row.
    """
    c, n_max, _ = rows.x.shape
    u = torch.rand((c, n_max), generator=rng, device=rows.x.device)
    index = torch.arange(n_max, device=rows.x.device)
    drawn = (u < rates[:, None]) & (index[None, :] < rows.counts[:, None])  # (C, n_max)
    taken = drawn.sum(dim=1)  # (C,)
    width = max(width, int(taken.max().item()))
    order = torch.argsort((~drawn).to(torch.int8), dim=1, stable=True)[:, :width]  # drawn first
    x = rows.x[torch.arange(c, device=rows.x.device)[:, None], order]
    return x, index[None, :width] < taken[:, None]


def per_sample_gradients(
    network: nn.Module, x: torch.Tensor, *, loss: RowLoss, precision: str = "fp32"
) -> dict[str, torch.Tensor]:
    """Every (row, class) gradient of ``loss`` through ``network``: name -> (P, M, *shape[1:]).

    ``x`` (M, P, D): row p of every class goes through the ensemble as a
    batch of one, and the loss is summed over the class dimension; since
    class m's parameters only see class m's row, the gradient of that sum
    holds each class's own gradient in its slice of the model dimension.
    """
    params = {k: v.detach() for k, v in network.named_parameters()}
    buffers = {k: v.detach() for k, v in network.named_buffers()}

    def row_loss(p: dict, row: torch.Tensor) -> torch.Tensor:  # row (M, D)
        with autocast(row.device, precision):
            logits = functional_call(network, (p, buffers), (row.unsqueeze(1),))  # (M, 1)
        return loss(_wide(logits)).sum()

    return vmap(grad(row_loss), in_dims=(None, 1))(params, x)


def _norms(grads: dict[str, torch.Tensor]) -> torch.Tensor:
    """(P, M) L2 norms of per-row gradients (P, M, ...) over all of a class model's parameters."""
    return torch.sqrt(sum(_wide(g).flatten(2).pow(2).sum(-1) for g in grads.values()))


def clip_factors(norms: torch.Tensor, *, max_grad_norm: float) -> torch.Tensor:
    """min(1, C / (norm + 1e-6)), Opacus' rule: a clipped gradient's norm is at most C."""
    return (max_grad_norm / (norms + CLIP_EPS)).clamp(max=1.0)


def _linear_only(network: nn.Module) -> list[EnsembleLinear] | None:
    """The network's EnsembleLinear layers if they hold all its parameters, else None."""
    layers = [m for m in network.modules() if isinstance(m, EnsembleLinear)]
    if any(isinstance(m, SpectralEnsembleLinear) for m in layers):
        return None
    owned = {id(p) for m in layers for p in m.parameters(recurse=False)}
    return layers if owned == {id(p) for p in network.parameters()} else None


def _vmap_clipped_sum(network, x, *, mask, loss, max_grad_norm, precision):
    """:func:`clipped_gradient_sum` from :func:`per_sample_gradients`, a chunk of rows at a time."""
    sums = {k: torch.zeros_like(v) for k, v in network.named_parameters()}
    per_row = sum(p.numel() * p.element_size() for p in network.parameters())  # every class's
    chunk = max(1, PER_SAMPLE_BYTES // max(1, per_row))
    norms = []
    for start in range(0, x.shape[1], chunk):
        grads = per_sample_gradients(network, x[:, start:start + chunk], loss=loss,
                                     precision=precision)  # name -> (p, M, ...)
        n = _norms(grads)  # (p, M)
        weight = clip_factors(n, max_grad_norm=max_grad_norm) * mask[:, start:start + chunk].T
        for k, g in grads.items():
            sums[k] += torch.einsum("pm,pm...->m...", weight.to(g.dtype), g)
        norms.append(n.T)
    return sums, torch.cat(norms, dim=1)


def _linear_clipped_sum(network, x, *, layers, mask, loss, max_grad_norm, precision):
    """:func:`clipped_gradient_sum` from each EnsembleLinear's inputs and output gradients."""
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []  # (input (M, P, in), output (M, P, out))
    hooks = [layer.register_forward_hook(lambda _, args, out: seen.append((args[0], out)))
             for layer in layers]
    try:
        with autocast(x.device, precision):
            logits = network(x)  # (M, P)
    finally:
        for h in hooks:
            h.remove()
    assert len(seen) == len(layers), "every EnsembleLinear must run once per forward"
    outputs = torch.autograd.grad(loss(_wide(logits)).sum(), [out for _, out in seen])
    acts = [_wide(a.detach()) for a, _ in seen]
    outs = [_wide(g) for g in outputs]
    # row p's gradient of a layer: weight a_p^T g_p (norm |a_p| |g_p|), bias g_p
    sq = sum((a.pow(2).sum(-1) + 1.0) * g.pow(2).sum(-1) for a, g in zip(acts, outs))  # (M, P)
    norms = torch.sqrt(sq)
    weight = clip_factors(norms, max_grad_norm=max_grad_norm) * mask
    sums = {}
    names = {id(p): k for k, p in network.named_parameters()}
    for layer, a, g in zip(layers, acts, outs):
        wg = g * weight[..., None]  # (M, P, out)
        sums[names[id(layer.weight)]] = torch.einsum("mpi,mpo->mio", a, wg).to(layer.weight.dtype)
        sums[names[id(layer.bias)]] = wg.sum(dim=1, keepdim=True).to(layer.bias.dtype)
    return sums, norms


def clipped_gradient_sum(
    network: nn.Module,
    x: torch.Tensor,
    *,
    mask: torch.Tensor,
    loss: RowLoss,
    max_grad_norm: float,
    precision: str = "fp32",
    method: str = "auto",
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Sum over the masked rows of each row's gradient clipped to norm C, per class model.

    Parameters
    ----------
    x : (M, P, D)
        Rows of every class, as ``network`` sees them.
    mask : (M, P) bool
        Rows that count (a Poisson batch's drawn rows); the others add nothing.
    loss : callable
        Logits (M, P) -> per-row losses (M, P); a row's loss may depend on its
        own logit only.
    method : ``auto`` | ``vmap`` | ``linear``
        ``linear`` (MLPs only) computes the same sum from each layer's inputs
        and output gradients; ``auto`` picks it where it applies.

    Returns
    -------
    sums : dict
        Parameter name -> (M, ...) clipped sum, shaped like the parameter.
    norms : (M, P)
        Each row's unclipped gradient norm (padding included).
    """
    layers = _linear_only(network)
    if method not in ("auto", "vmap", "linear"):
        raise ValueError(f"method={method!r}: auto, vmap or linear")
    if method == "linear" and layers is None:
        raise ValueError("method='linear' needs a network made of EnsembleLinear layers only")
    mask = mask.to(_wide(x).dtype)
    if method == "vmap" or layers is None:
        return _vmap_clipped_sum(network, x, mask=mask, loss=loss, max_grad_norm=max_grad_norm,
                                 precision=precision)
    return _linear_clipped_sum(network, x, layers=layers, mask=mask, loss=loss,
                               max_grad_norm=max_grad_norm, precision=precision)


def add_private_gradient(
    network: nn.Module,
    sums: dict[str, torch.Tensor],
    *,
    noise_multiplier: float,
    max_grad_norm: float,
    scale: torch.Tensor,
    rng: torch.Generator,
) -> None:
    """``.grad += scale_m * (clipped sum + N(0, (sigma C)^2))`` for every parameter.

    ``scale`` (M,) is each class model's factor, e.g. 1 / (q_m n_m), the
    expected batch (0 leaves a class model's gradient as it is). The noise is
    drawn for every entry of every class model from ``rng``.
    """
    std = noise_multiplier * max_grad_norm
    for name, p in network.named_parameters():
        total = sums[name]
        if std > 0:
            noise = torch.randn(p.shape, generator=rng, device=p.device, dtype=p.dtype)
            total = total + noise * std
        update = total * scale.to(p.dtype).reshape((p.shape[0],) + (1,) * (p.dim() - 1))
        p.grad = update if p.grad is None else p.grad + update
