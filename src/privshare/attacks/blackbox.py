"""Black-box scorers: the attacker sees only generated samples.

``monte_carlo`` is the Monte-Carlo attack of Hilprecht et al. (2019) as the
privGAN paper uses it (privGAN code ``MC_eps_attack``), with that code's
slips fixed (each candidate is compared with its own row, not a row picked by
another group's index; every candidate gets a score instead of one pass/fail
vote per repetition):

- map candidates and generated samples of the candidate's class into a fixed
  feature space (PCA fitted on held-out real rows, or raw pixels);
- ``statistic="eps_ball"``: score = fraction of generated samples within
  distance eps of the candidate, eps = the median over candidates of the
  distance to the nearest sample (the median heuristic);
- ``statistic="nearest"``: score = minus the distance to the nearest sample
  (the full black-box attack of Chen et al. 2020, GAN-Leaks).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from sklearn.decomposition import PCA

from privshare.artifacts import Run
from privshare.attacks.registry import register_attack
from privshare.seeding import derive_seed

STATISTICS = ("eps_ball", "nearest")
Embedding = Callable[[np.ndarray], np.ndarray]
_CHUNK = 256  # candidates per distance block
_GENERATE = 2000  # generated rows per class and call (bounds memory)


def pixel_embedding(x: np.ndarray) -> np.ndarray:
    """uint8 images (n, H, W) -> flat float64 in [0, 1], (n, H*W)."""
    return x.reshape(len(x), -1).astype(np.float64) / 255.0


def make_embedding(space: str, *, reference: np.ndarray, components: int = 40) -> Embedding:
    """``pixels`` or ``pca``: PCA with ``components`` dimensions fitted on ``reference``.

    ``reference``: real uint8 images (m, H, W) that are in no attack pool
    (the test split); the privGAN code fits its PCA on such a hold-out set.
    """
    if space == "pixels":
        return pixel_embedding
    if space != "pca":
        raise ValueError(f"space={space!r}: choose pca or pixels")
    flat = pixel_embedding(reference)
    k = min(components, flat.shape[0], flat.shape[1])
    pca = PCA(n_components=k, svd_solver="full").fit(flat)
    return lambda x: pca.transform(pixel_embedding(x))


def _distances(cand: np.ndarray, samples: np.ndarray) -> Iterator[tuple[slice, np.ndarray]]:
    """Euclidean distances, candidate block by block: (block, len(samples))."""
    s2 = np.einsum("ij,ij->i", samples, samples)
    for start in range(0, len(cand), _CHUNK):
        block = cand[start : start + _CHUNK]
        d2 = np.einsum("ij,ij->i", block, block)[:, None] + s2[None, :] - 2.0 * block @ samples.T
        yield slice(start, start + len(block)), np.sqrt(np.maximum(d2, 0.0))


def _class_scores(cand: np.ndarray, samples: np.ndarray, statistic: str) -> np.ndarray:
    nearest = np.empty(len(cand))
    for rows, d in _distances(cand, samples):
        nearest[rows] = d.min(axis=1)
    if statistic == "nearest":
        return -nearest
    eps = float(np.median(nearest))
    inside = np.empty(len(cand))
    for rows, d in _distances(cand, samples):
        inside[rows] = (d <= eps).sum(axis=1)
    return inside / len(samples)


def generate_many(run: Run, method: str, owner: int, *, n_per_class: int, seed: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """``run.generate`` in slices of at most 2000 rows per class (bounded memory)."""
    xs, ys = [], []
    for i, start in enumerate(range(0, n_per_class, _GENERATE)):
        n = min(_GENERATE, n_per_class - start)
        x, y = run.generate(method, owner, n_per_class=n, seed=derive_seed(seed, i))
        xs.append(x)
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)


@register_attack("monte_carlo")
def monte_carlo_scores(
    run: Run, *, owner: int, x: np.ndarray, y: np.ndarray, method: str = "privgan",
    statistic: str = "eps_ball", samples_per_class: int = 10000, seed: int = 0,
    embed: Embedding | None = None, cache: dict | None = None,
) -> np.ndarray:
    """Score candidates ``x`` (labels ``y``) against owner's generator of ``method``; (n,).

    eps is set per class from the candidates passed in, so pass the attack
    pool (members and non-members) in one call. ``cache``: a dict shared by
    the calls of one evaluation seed; the embedded samples of one generator,
    count, seed and embedding are drawn once and reused (both statistics of
    one generator then score against the same samples, as without it).
    """
    if statistic not in STATISTICS:
        raise ValueError(f"statistic={statistic!r}: choose one of {', '.join(STATISTICS)}")
    if method not in run.methods:
        raise ValueError(f"method {method!r} was not trained in {run.root}; it has {run.methods}")
    embed = embed or pixel_embedding
    key = (method, owner, samples_per_class, seed, id(embed))
    features = None if cache is None else cache.get(key)
    if features is None:
        gen_x, gen_y = generate_many(run, method, owner, n_per_class=samples_per_class, seed=seed)
        features = {int(c): embed(gen_x[gen_y == c]) for c in np.unique(gen_y)}
        if cache is not None:
            cache[key] = features
    out = np.zeros(len(x))
    for c in np.unique(y):
        rows = y == c
        out[rows] = _class_scores(embed(x[rows]), features[int(c)], statistic)
    return out
