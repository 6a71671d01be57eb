"""Image-quality distances between two sets of feature vectors.

No Inception weights exist offline here, so features come from the reference
CNN trained on real rows (see :mod:`privshare.evaluation.utility`):

- Frechet distance between Gaussians fitted to each set
  (Heusel et al. 2017, Eq. 6: |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^1/2));
- precision and recall of Kynkaanniemi et al. (2019): a sample is "covered"
  when it lies inside the k-NN ball of some sample of the other set.
"""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import NearestNeighbors

_CHUNK = 512


def _sqrt_psd(cov: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(cov)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_from_moments(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """Frechet distance between N(mu1, cov1) and N(mu2, cov2).

    Tr((S1 S2)^1/2) is computed as Tr((S1^1/2 S2 S1^1/2)^1/2), a symmetric
    PSD root (same eigenvalues), so no complex round-off appears.
    """
    diff = np.asarray(mu1, np.float64) - np.asarray(mu2, np.float64)
    half = _sqrt_psd(np.asarray(cov1, np.float64))
    inner = half @ np.asarray(cov2, np.float64) @ half
    trace_root = np.sqrt(np.clip(np.linalg.eigvalsh((inner + inner.T) / 2), 0.0, None)).sum()
    return float(max(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * trace_root, 0.0))


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance of feature sets ``a`` (n, d) and ``b`` (m, d), n, m >= 2."""
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"a Frechet distance needs >= 2 rows per set; got {len(a)} and {len(b)}")
    return frechet_from_moments(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))


def _radii(x: np.ndarray, k: int) -> np.ndarray:
    """Distance of each row to its k-th nearest other row."""
    dist, _ = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
    return dist[:, k]


def _covered(queries: np.ndarray, support: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """For each query: inside the ball (``radii``) of some ``support`` row?"""
    s2 = np.einsum("ij,ij->i", support, support)
    out = np.empty(len(queries), dtype=bool)
    for start in range(0, len(queries), _CHUNK):
        q = queries[start : start + _CHUNK]
        d2 = np.einsum("ij,ij->i", q, q)[:, None] + s2[None, :] - 2.0 * q @ support.T
        out[start : start + len(q)] = (np.sqrt(np.maximum(d2, 0.0)) <= radii[None, :]).any(axis=1)
    return out


def precision_recall(real: np.ndarray, fake: np.ndarray, *, k: int = 3) -> tuple[float, float]:
    """(precision, recall) of ``fake`` (m, d) against ``real`` (n, d); both need > k rows.

    Precision: fraction of fake rows inside the real manifold; recall:
    fraction of real rows inside the fake manifold. Pass sets of equal size
    (the radii shrink as a set grows).
    """
    if len(real) <= k or len(fake) <= k:
        raise ValueError(f"precision/recall with k={k} needs more than {k} rows per set; "
                         f"got {len(real)} real and {len(fake)} fake")
    precision = _covered(fake, real, _radii(real, k)).mean()
    recall = _covered(real, fake, _radii(fake, k)).mean()
    return float(precision), float(recall)
