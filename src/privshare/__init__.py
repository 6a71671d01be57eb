"""privshare: synthetic data shared between data owners through privGAN.

The Python API (:class:`PrivGAN`, :class:`LocalGAN`, :func:`evaluate`,
:class:`EvaluationResult`, :class:`NotFittedError`) is imported on first use,
so ``import privshare`` (and the CLI) stays free of torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from privshare.lazy import lazy_exports

__version__ = "0.1.0"

__all__ = ["EvaluationResult", "LocalGAN", "NotFittedError", "PrivGAN", "evaluate"]

if TYPE_CHECKING:
    from privshare.api import EvaluationResult, LocalGAN, NotFittedError, PrivGAN, evaluate


__getattr__ = lazy_exports(__name__, dict.fromkeys(__all__, "api"))


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
