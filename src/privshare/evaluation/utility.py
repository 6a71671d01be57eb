"""Utility: what an owner gains, measured by training on a source and testing on real rows.

For each owner j the sources are (Rajotte & Ng 2020, Sec. IV-A):

- ``real_own``: j's own real rows (what j has alone);
- ``real_pooled``: every owner's real rows together (ideal, not shareable);
- ``gan``: samples of j's local GAN;
- ``privgan``: samples of j's privGAN generator G_j;
- ``privgan_pooled``: samples of every G_i, an equal share from each.

A synthetic source has ``samples`` rows, spread evenly over the classes. Each
source trains a fresh :class:`~privshare.evaluation.classifier.ReferenceCNN`
whose accuracy on the real test split is reported overall and per class.
The same rows are compared with the test rows on the features of a CNN
trained on real train rows (Frechet distance, precision, recall). That
feature CNN is seeded by the evaluation seed alone, so runs of one dataset
share it and their distances are comparable.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from privshare.artifacts import Run
from privshare.data import Dataset, Partition
from privshare.evaluation import rows as R
from privshare.evaluation.classifier import embed, predict, resolve_device, train_classifier
from privshare.evaluation.config import UTILITY_SOURCES, EvalConfig
from privshare.evaluation.quality import frechet_distance, precision_recall
from privshare.seeding import CENTRAL

log = logging.getLogger(__name__)
METHOD = {"gan": "gan", "privgan": "privgan", "privgan_pooled": "privgan"}


@dataclass
class UtilityResult:
    """Rows of one evaluation seed and the size of every training set."""

    rows: list[dict] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)  # "<source>/<owner>" -> rows


def _subset(n: int, cap: int, *, seed: int) -> np.ndarray:
    """All of ``range(n)``, or ``cap`` of them drawn without replacement (sorted)."""
    if cap == 0 or n <= cap:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=cap, replace=False))


def training_sets(
    run: Run, *, dataset: Dataset, partition: Partition, config: EvalConfig, seed: int
) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    """(source, owner) -> (uint8 images (n, H, W), labels (n,)) for ``config.utility_sources``.

    Sources whose generator the run lacks are left out.
    """
    root, c, n_owners = run.config.seed, len(run.classes), run.owners
    wanted = [s for s in UTILITY_SOURCES if s in config.utility_sources
              and (s not in METHOD or METHOD[s] in run.methods)]
    out = {}
    for source in wanted:
        k = UTILITY_SOURCES.index(source)
        owners = [R.ALL] if source.endswith("_pooled") else [str(j) for j in range(n_owners)]
        for owner in owners:
            key = CENTRAL if owner == R.ALL else int(owner)
            if source.startswith("real"):
                rows = (np.concatenate(partition.owner_indices) if owner == R.ALL
                        else partition.owner_indices[int(owner)])
                rows = np.sort(rows)[_subset(len(rows), config.real_rows,
                                             seed=R.stream_seed(root, seed, R.SAMPLES, k, key))]
                out[(source, owner)] = dataset.x_train[rows], dataset.y_train[rows]
                continue
            gens = range(n_owners) if owner == R.ALL else [int(owner)]
            per = max(1, config.samples // (c * len(gens)))
            parts = [run.generate(METHOD[source], j, n_per_class=per,
                                  seed=R.stream_seed(root, seed, R.SAMPLES, k, key, j)) for j in gens]
            out[(source, owner)] = (np.concatenate([p[0] for p in parts]),
                                    np.concatenate([p[1] for p in parts]))
    return out


def _accuracy_rows(pred: np.ndarray, truth: np.ndarray, *, classes: tuple[int, ...], source: str,
                   owner: str, seed: int) -> list[dict]:
    rows = [R.metric_row(source=source, owner=owner, seed=seed, metric=R.ACCURACY, cls=R.ALL,
                         value=float((pred == truth).mean()), n=len(truth))]
    for k, c in enumerate(classes):
        here = truth == k
        if here.any():
            rows.append(R.metric_row(source=source, owner=owner, seed=seed, metric=R.ACCURACY,
                                     cls=c, value=float((pred[here] == k).mean()), n=int(here.sum())))
    return rows


def _feature_network(run: Run, *, dataset: Dataset, config: EvalConfig, seed: int, device):
    """Reference CNN trained on real train rows; seeded by the evaluation seed only."""
    keep = np.flatnonzero(np.isin(dataset.y_train, run.classes))
    keep = keep[_subset(len(keep), config.feature_rows, seed=R.stream_seed(0, seed, R.FEATURES))]
    return train_classifier(
        dataset.x_train[keep], run.class_index(dataset.y_train[keep]), classes=len(run.classes),
        epochs=config.feature_epochs, batch_size=config.batch_size, optimizer=config.optimizer,
        lr=config.lr, seed=R.stream_seed(0, seed, R.FEATURES, 1), device=device)


def _quality_rows(real: np.ndarray, fake: np.ndarray, *, config: EvalConfig, source: str,
                  owner: str, seed: int, sample_seed: int) -> list[dict]:
    """Frechet distance on all rows; precision / recall on equal-size samples."""
    n = min(len(real), len(fake))
    if n <= config.neighbours or len(fake) < 2:
        log.warning("%s owner %s: %d rows are too few for image-quality metrics", source, owner, n)
        return []
    rng = np.random.default_rng(sample_seed)
    r, f = (x[np.sort(rng.choice(len(x), size=n, replace=False))] for x in (real, fake))
    precision, recall = precision_recall(r, f, k=config.neighbours)
    row = dict(source=source, owner=owner, seed=seed, cls=R.ALL)
    return [R.metric_row(**row, metric=R.FRECHET, value=frechet_distance(fake, real), n=len(fake)),
            R.metric_row(**row, metric=R.PRECISION, value=precision, n=n),
            R.metric_row(**row, metric=R.RECALL, value=recall, n=n)]


def utility_evaluation(
    run: Run, *, dataset: Dataset, partition: Partition, config: EvalConfig, seed: int
) -> UtilityResult:
    """Accuracy (overall and per class) and image quality of every source, one seed."""
    device = resolve_device(config.device)
    root = run.config.seed
    test = np.isin(dataset.y_test, run.classes)
    x_test, y_test = dataset.x_test[test], run.class_index(dataset.y_test[test])
    features = _feature_network(run, dataset=dataset, config=config, seed=seed, device=device)
    steps = config.epochs * -(-config.samples // config.batch_size) if config.equal_steps else None
    real_features = embed(features, x_test)
    out = UtilityResult()
    sets = training_sets(run, dataset=dataset, partition=partition, config=config, seed=seed)
    for (source, owner), (x, y) in sets.items():
        k, key = UTILITY_SOURCES.index(source), CENTRAL if owner == R.ALL else int(owner)
        log.info("utility: %s owner %s, %d rows (seed %d)", source, owner, len(x), seed)
        out.sizes[f"{source}/{owner}"] = len(x)
        model = train_classifier(
            x, run.class_index(y), classes=len(run.classes), epochs=config.epochs, steps=steps,
            batch_size=config.batch_size, optimizer=config.optimizer, lr=config.lr,
            seed=R.stream_seed(root, seed, R.UTILITY, k, key), device=device)
        out.rows += _accuracy_rows(predict(model, x_test), y_test, classes=run.classes,
                                   source=source, owner=owner, seed=seed)
        out.rows += _quality_rows(real_features, embed(features, x), config=config, source=source,
                                  owner=owner, seed=seed,
                                  sample_seed=R.stream_seed(root, seed, R.FEATURES, k, key))
    return out
