"""Batched ("ensemble") fully connected networks.

An ensemble holds M independent networks of identical shape, one per class,
with every weight stacked along a leading model dimension. A forward pass over
all M networks is one batched matmul per layer (``torch.baddbmm``), so a run of
ten digits costs one set of kernel launches per layer, not ten.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class EnsembleLinear(nn.Module):
    """M independent affine maps: ``(M, B, in) -> (M, B, out)``.

    Parameters
    ----------
    models : int
        Number of stacked networks M.
    in_features, out_features : int
        Layer sizes.
    """

    def __init__(self, models: int, in_features: int, out_features: int) -> None:
        super().__init__()
        self.models = models
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(torch.empty(models, in_features, out_features))  # (M, in, out)
        self.bias = nn.Parameter(torch.zeros(models, 1, out_features))  # (M, 1, out)
        self.glorot_uniform_()

    def glorot_uniform_(self, generator: torch.Generator | None = None) -> None:
        """Keras' default: U(-a, a) with a = sqrt(6 / (in + out)); zero bias."""
        bound = math.sqrt(6.0 / (self.in_features + self.out_features))
        with torch.no_grad():
            self.weight.uniform_(-bound, bound, generator=generator)
            self.bias.zero_()

    def normal_(self, std: float, generator: torch.Generator | None = None) -> None:
        """N(0, std) weights and zero bias (the reference's first layers)."""
        with torch.no_grad():
            self.weight.normal_(0.0, std, generator=generator)
            self.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: (M, B, in) -> (M, B, out)."""
        return torch.baddbmm(self.bias, x, self.weight)


class SpectralEnsembleLinear(EnsembleLinear):
    """:class:`EnsembleLinear` whose weight is divided by its spectral norm, per model.

    Miyato et al. (SNGAN, ICLR 2018): one power iteration per training
    forward pass estimates each model's largest singular value sigma_m; the
    layer uses W_m / sigma_m, so each model's map is about 1-Lipschitz. The
    power-iteration vector ``u`` (M, out) is a buffer (saved and restored);
    in eval mode it is not updated, so scoring is deterministic.
    """

    def __init__(self, models: int, in_features: int, out_features: int) -> None:
        super().__init__(models, in_features, out_features)
        u = torch.nn.functional.normalize(torch.ones(models, out_features), dim=1)
        self.register_buffer("u", u)

    def sigma(self) -> torch.Tensor:
        """(M,) estimated spectral norms (one power step in training mode)."""
        w = self.weight  # (M, in, out)
        u = self.u
        if self.training:
            with torch.no_grad():
                v = torch.nn.functional.normalize(torch.bmm(w, u[:, :, None])[..., 0], dim=1)
                u = torch.nn.functional.normalize(torch.bmm(w.transpose(1, 2), v[:, :, None])[..., 0],
                                                  dim=1, eps=1e-12)
                self.u.copy_(u)
        v = torch.nn.functional.normalize(torch.bmm(w, u[:, :, None])[..., 0], dim=1).detach()
        return torch.einsum("mi,mio,mo->m", v, w, u)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight / self.sigma()[:, None, None]
        return torch.baddbmm(self.bias, x, w)


class EnsembleMLP(nn.Module):
    """M stacked MLPs with LeakyReLU between layers and raw logits out.

    The output non-linearity (tanh, sigmoid, softmax) is applied by the
    callers, so losses can use the numerically stable logit forms.

    Parameters
    ----------
    models : int
        Number of stacked networks M (one per class).
    sizes : sequence of int
        ``[in, hidden..., out]``.
    leaky_slope : float
        Negative slope of LeakyReLU.
    first_layer_std : float
        Std of the N(0, std) init of the first layer; later layers use
        Glorot-uniform, as in the reference.
    generator : torch.Generator, optional
        Random stream for the initialisation.
    spectral_norm : bool
        Spectral normalisation of every layer (:class:`SpectralEnsembleLinear`).
    dropout : float
        Dropout rate after each hidden activation, in training mode only. The
        masks come from :attr:`dropout_rng` when one is set (the owner's own
        stream, so a resumed run redraws the same masks), else from torch's
        global stream.
    """

    def __init__(
        self,
        *,
        models: int,
        sizes: list[int] | tuple[int, ...],
        leaky_slope: float = 0.2,
        first_layer_std: float = 0.02,
        generator: torch.Generator | None = None,
        spectral_norm: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout={dropout}: a rate in [0, 1)")
        self.dropout = float(dropout)
        self.dropout_rng: torch.Generator | None = None
        if len(sizes) < 2:
            raise ValueError(f"sizes={list(sizes)}: need at least [in, out]")
        self.models = models
        self.sizes = tuple(int(s) for s in sizes)
        self.leaky_slope = leaky_slope
        layer = SpectralEnsembleLinear if spectral_norm else EnsembleLinear
        self.layers = nn.ModuleList(
            layer(models, a, b) for a, b in zip(self.sizes[:-1], self.sizes[1:])
        )
        self.reset_parameters(first_layer_std=first_layer_std, generator=generator)

    def reset_parameters(
        self, *, first_layer_std: float, generator: torch.Generator | None = None
    ) -> None:
        """Reference init: first layer N(0, std), the rest Glorot-uniform."""
        for i, layer in enumerate(self.layers):
            if i == 0:
                layer.normal_(first_layer_std, generator=generator)
            else:
                layer.glorot_uniform_(generator=generator)

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: (M, B, in) -> activations of the last hidden layer (M, B, width)."""
        for layer in self.layers[:-1]:
            x = self._drop(nn.functional.leaky_relu(layer(x), self.leaky_slope))
        return x

    def _drop(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.dropout and self.training):
            return x
        if self.dropout_rng is None:
            return nn.functional.dropout(x, self.dropout, training=True)
        keep = torch.rand(x.shape, generator=self.dropout_rng, device=x.device) >= self.dropout
        return x * keep.to(x.dtype) / (1.0 - self.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: (M, B, in) -> logits (M, B, out)."""
        return self.layers[-1](self.hidden(x))
