"""Utility: what an owner gains, measured by training on a source and testing on real rows.

For each owner j the sources are (the first five after Rajotte & Ng 2020,
Sec. IV-A; the last three are the choices an owner really has):

- ``real_own``: j's own real rows (what j has alone);
- ``real_pooled``: every owner's real rows together (ideal, not shareable);
- ``gan``: samples of j's local GAN;
- ``privgan``: samples of j's privGAN generator G_j;
- ``privgan_pooled``: samples of every G_i, an equal share from each;
- ``own+gan``, ``own+privgan``, ``own+privgan_pooled``: j's own real rows
  plus the same synthetic rows as ``gan`` / ``privgan`` / ``privgan_pooled``;
- ``dpgan``, ``own+dpgan``: samples of j's differentially private local GAN
  (its D trained by DP-SGD), alone or added to j's own rows;
- ``gan>own``, ``privgan>own``, ``privgan_pooled>own``, ``dpgan>own``: the
  classifier fitted on the synthetic source before ``>`` (the very same fit
  that source reports), then fine-tuned on j's own real rows until
  validation accuracy on those rows stops improving (the starting weights
  compete, so fine-tuning is kept only where it helps). Adding 3000 synthetic
  rows to an owner's 1200 real ones outvotes them; starting from the
  synthetic rows and finishing on the real ones does not.

A synthetic part has ``samples`` rows, spread evenly over the classes (and,
for ``privgan_pooled``, over the generators of the owners that hold each
class: an owner's generator gives no row of a class it has no rows of, so
its ``privgan`` part lacks that class, which shows as low accuracy on it in
the per-class rows); within
one evaluation seed a synthetic or real part is the same draw in every
source that uses it, so sources differ only in what they combine. Each
source trains a fresh classifier per protocol (``converged``: a small CNN
until validation accuracy on the source's own rows stops improving, see
:mod:`privshare.evaluation.fitting`; ``paper``: the reference CNN for a fixed
number of steps) whose accuracy on the real test split is reported overall
and per class. The synthetic rows are compared with the test rows on the
features of a CNN trained on real train rows (Frechet distance, precision,
recall). That feature CNN is seeded by the evaluation seed alone, so runs of
one dataset share it and their distances are comparable.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch import nn

from privshare.artifacts import Run
from privshare.data import Dataset, Partition
from privshare.evaluation import rows as R
from privshare.evaluation.classifier import embed, predict, resolve_device, train_classifier
from privshare.evaluation.config import POOLED_SOURCES as POOLED
from privshare.evaluation.config import UTILITY_SOURCES, EvalConfig, EvaluationError
from privshare.evaluation.fitting import SourceError, check_source, fit_converged
from privshare.evaluation.parallel import Job, run_jobs
from privshare.evaluation.quality import frechet_distance, precision_recall
from privshare.seeding import CENTRAL

log = logging.getLogger(__name__)
METHOD = {"gan": "gan", "privgan": "privgan", "privgan_pooled": "privgan", "dpgan": "dpgan"}
OWN = "own+"  # prefix of the sources that add synthetic rows to the owner's own real rows
TUNED = ">own"  # suffix of the sources fitted on synthetic rows, then fine-tuned on own rows


def parts(source: str) -> tuple[str | None, str | None]:
    """(real part, synthetic part) of a source name, e.g. ``own+gan`` -> (real_own, gan),
    ``gan>own`` -> (real_own, gan)."""
    if source.startswith("real"):
        return source, None
    if source.startswith(OWN):
        return "real_own", source.removeprefix(OWN)
    if source.endswith(TUNED):
        return "real_own", source.removesuffix(TUNED)
    return None, source


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


def _wanted(run: Run, config: EvalConfig) -> list[str]:
    """The configured sources this run can feed (a source needs its generator's method)."""
    asked = set(config.utility_sources)
    asked |= {parts(s)[1] for s in asked if s.endswith(TUNED)}  # a fine-tuned fit starts from it
    out = []
    for s in UTILITY_SOURCES:
        synthetic = parts(s)[1]
        if s in asked and (synthetic is None or METHOD[synthetic] in run.methods):
            out.append(s)
    return out


def _per_class(run: Run, gens, *, samples: int) -> int | list[int]:
    """Rows each generator of ``gens`` gives per class: ``samples`` split evenly over the
    classes and, within a class, over the generators whose owner holds it (an owner lacking a
    class gives none of it, :meth:`~privshare.artifacts.Run.generate`)."""
    c = len(run.classes)
    holders = [sum(run.holds(j)[k] for j in gens) for k in range(c)]
    if all(h == len(gens) for h in holders):  # every owner holds every class
        return max(1, samples // (c * len(gens)))
    return [max(1, samples // (c * max(h, 1))) for h in holders]


def training_sets(
    run: Run, *, dataset: Dataset, partition: Partition, config: EvalConfig, seed: int
) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    """(source, owner) -> (uint8 images (n, H, W), labels (n,)) for ``config.utility_sources``.

    Sources whose generator the run lacks are left out; a fine-tuned source
    (``gan>own``) holds the own rows it is fine-tuned on.
    """
    root, n_owners = run.config.seed, run.owners
    cache: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}

    def part(name: str, owner: str) -> tuple[np.ndarray, np.ndarray]:
        if (name, owner) in cache:
            return cache[(name, owner)]
        k, key = UTILITY_SOURCES.index(name), CENTRAL if owner == R.ALL else int(owner)
        if name.startswith("real"):
            rows = (np.concatenate(partition.owner_indices) if owner == R.ALL
                    else partition.owner_indices[int(owner)])
            rows = np.sort(rows)[_subset(len(rows), config.real_rows,
                                         seed=R.stream_seed(root, seed, R.SAMPLES, k, key))]
            out = dataset.x_train[rows], dataset.y_train[rows]
        else:
            gens = range(n_owners) if owner == R.ALL else [int(owner)]
            per = _per_class(run, gens, samples=config.samples)
            made = [run.generate(METHOD[name], j, n_per_class=per,
                                 seed=R.stream_seed(root, seed, R.SAMPLES, k, key, j)) for j in gens]
            out = (np.concatenate([p[0] for p in made]), np.concatenate([p[1] for p in made]))
        cache[(name, owner)] = out
        return out

    sets = {}
    for source in _wanted(run, config):
        for owner in [R.ALL] if source in POOLED else [str(j) for j in range(n_owners)]:
            real, synthetic = parts(source)
            if source.endswith(TUNED):  # fine-tuned on own rows; fitted first on `synthetic`'s set
                sets[(source, owner)] = part(real, owner)
                continue
            pieces = ([part(real, owner)] if real else []) + (
                [part(synthetic, R.ALL if synthetic in POOLED else owner)] if synthetic else [])
            sets[(source, owner)] = (np.concatenate([p[0] for p in pieces]),
                                     np.concatenate([p[1] for p in pieces]))
    return sets


def check_training_sets(sets: dict, *, run: Run, config: EvalConfig) -> None:
    """Refuse, before any classifier trains, a source the converged protocol cannot fit.

    A source that holds a single class because its owner holds only that
    one (owners that are not alike) is left out of ``sets`` with a warning
    instead: the other sources of the run still answer.
    """
    if "converged" not in config.protocols:
        return
    for (source, owner), (_, y) in list(sets.items()):
        try:
            check_source(run.class_index(y), name=f"{source} (owner {owner})",
                         val_fraction=config.val_fraction)
        except SourceError as err:
            lacking = owner != R.ALL and not all(run.holds(int(owner)))
            if lacking and len(np.unique(y)) < 2:
                log.warning("utility: %s left out: owner %s holds rows of one class only", source,
                            owner)
                del sets[(source, owner)]
                continue
            raise EvaluationError(f"{err}; drop it from utility_sources or train more classes")\
                from err


def _accuracy_rows(pred: np.ndarray, truth: np.ndarray, *, classes: tuple[int, ...], source: str,
                   owner: str, seed: int, metric: str = R.ACCURACY) -> list[dict]:
    rows = [R.metric_row(source=source, owner=owner, seed=seed, metric=metric, cls=R.ALL,
                         value=float((pred == truth).mean()), n=len(truth))]
    for k, c in enumerate(classes):
        here = truth == k
        if here.any():
            rows.append(R.metric_row(source=source, owner=owner, seed=seed, metric=metric,
                                     cls=c, value=float((pred[here] == k).mean()), n=int(here.sum())))
    return rows


def feature_network(x: np.ndarray, y: np.ndarray, *, classes: int, config: EvalConfig, seed: int,
                    device) -> nn.Module:
    """The converged protocol's CNN trained on real train rows ``x`` (class positions ``y``)."""
    return train_classifier(
        x, y, classes=classes, epochs=config.feature_epochs, batch_size=config.fit_batch_size,
        optimizer="adam", lr=config.fit_lr, network=config.network, seed=seed, device=device,
        precision=config.precision)


def _quality_rows(real: np.ndarray, fake: np.ndarray, *, config: EvalConfig, source: str,
                  owner: str, seed: int, sample_seed: int) -> list[dict]:
    """Frechet distance on all rows; precision / recall on equal-size samples.

    Precision and recall compare k-NN radii, which shrink as a set grows, so
    every source is measured on the same number of rows (``quality_rows``).
    """
    n = min(len(real), len(fake), config.quality_rows or len(fake))
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


def _fit(x: np.ndarray, y: np.ndarray, *, protocol: str, classes: int, config: EvalConfig,
         steps: int | None, seed: int, device, name: str, init: dict | None = None):
    """One classifier on one source (``init``: converged protocol, weights to fine-tune);
    returns (model, extra rows' values)."""
    if protocol == "paper":
        model = train_classifier(
            x, y, classes=classes, epochs=config.epochs, steps=steps,
            batch_size=config.batch_size, optimizer=config.optimizer, lr=config.lr, seed=seed,
            device=device, precision=config.precision)
        return model, {}
    model, rep = fit_converged(
        x, y, classes=classes, network=config.network, lr=config.fit_lr,
        batch_size=config.fit_batch_size, val_fraction=config.val_fraction,
        patience=config.patience, check_every=config.check_every, max_steps=config.max_steps,
        seed=seed, device=device, precision=config.precision, name=name, init=init)
    return model, {R.FIT_STEPS: (rep.steps, rep.train_rows), R.FIT_BEST_STEP: (rep.best_step, None),
                   R.FIT_VAL_ACCURACY: (rep.best_val_accuracy, rep.val_rows),
                   R.FIT_CAPPED: (float(rep.capped), None)}


@dataclass(frozen=True)
class FitOutcome:
    """What one classifier left: its test predictions, its fit rows' values and its time."""

    pred: np.ndarray  # class positions predicted for the test rows (m,)
    extra: dict[str, tuple[float, int | None]]  # fit metric -> (value, n)
    seconds: float
    tuned: dict[str, FitOutcome] = field(default_factory=dict)  # owner -> fine-tuned on its rows


def fit_source(x: np.ndarray, y: np.ndarray, *, x_test: np.ndarray, protocol: str, classes: int,
               config: EvalConfig, steps: int | None, seed: int, device, name: str,
               tune: tuple[dict[str, Any], ...] = ()) -> FitOutcome:
    """Train one classifier on a source (uint8 ``x``, class positions ``y``), predict ``x_test``;
    then, for each of ``tune`` (``owner``, ``x``, ``y``, ``seed``, ``name``), fine-tune a copy
    of it on those rows and predict ``x_test`` again (:attr:`FitOutcome.tuned`)."""
    start = time.perf_counter()
    model, extra = _fit(x, y, protocol=protocol, classes=classes, config=config, steps=steps,
                        seed=seed, device=device, name=name)
    pred = predict(model, x_test)  # fp32 whatever the training precision
    outcome = FitOutcome(pred=pred, extra=extra, seconds=time.perf_counter() - start)
    state = model.state_dict()
    for t in tune:
        begin = time.perf_counter()
        tuned, extra = _fit(t["x"], t["y"], protocol=protocol, classes=classes, config=config,
                            steps=steps, seed=t["seed"], device=device, name=t["name"], init=state)
        outcome.tuned[t["owner"]] = FitOutcome(pred=predict(tuned, x_test), extra=extra,
                                               seconds=time.perf_counter() - begin)
    return outcome


@dataclass
class UtilityPlan:
    """One evaluation seed's training sets and the classifiers to train on them."""

    seed: int
    sets: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]  # (source, owner) -> (x, labels)
    x_test: np.ndarray
    y_test: np.ndarray  # class positions
    features: dict[str, Any]  # feature_network's arguments
    fits: list[tuple[tuple[str, str, str, int], dict[str, Any]]]  # (source, owner, protocol, p)


def plan_utility(run: Run, *, dataset: Dataset, partition: Partition, config: EvalConfig,
                 seed: int) -> UtilityPlan:
    """Draw seed ``seed``'s training sets, refuse one that cannot be fitted, list the fits."""
    device = resolve_device(config.device)
    root, classes = run.config.seed, len(run.classes)
    sets = training_sets(run, dataset=dataset, partition=partition, config=config, seed=seed)
    check_training_sets(sets, run=run, config=config)
    test = np.isin(dataset.y_test, run.classes)
    x_test, y_test = dataset.x_test[test], run.class_index(dataset.y_test[test])
    keep = np.flatnonzero(np.isin(dataset.y_train, run.classes))
    keep = keep[_subset(len(keep), config.feature_rows, seed=R.stream_seed(0, seed, R.FEATURES))]
    features = dict(x=dataset.x_train[keep], y=run.class_index(dataset.y_train[keep]),
                    classes=classes, config=config, device=device,
                    seed=R.stream_seed(0, seed, R.FEATURES, 1))  # seeded by the evaluation seed only
    steps = config.epochs * -(-config.samples // config.batch_size) if config.equal_steps else None
    fits, tune = [], {}
    for (source, owner), (x, y) in sets.items():
        k, key = UTILITY_SOURCES.index(source), CENTRAL if owner == R.ALL else int(owner)
        for p, protocol in enumerate(config.protocols):
            if p > 0 and protocol == "paper" and source not in config.paper_sources:
                continue
            job = dict(x=x, y=run.class_index(y), name=f"{source} (owner {owner})",
                       seed=R.stream_seed(root, seed, R.UTILITY, k, key, p))
            if source.endswith(TUNED):  # rides on the job of the source it starts from
                if protocol == "converged":
                    start = parts(source)[1]
                    tune.setdefault((start, R.ALL if start in POOLED else owner, protocol, p),
                                    []).append({**job, "owner": owner})
                continue
            fits.append(((source, owner, protocol, p), dict(
                **job, x_test=x_test, protocol=protocol, classes=classes, config=config,
                steps=steps, device=device)))
    for key, kw in fits:
        kw["tune"] = tuple(tune.pop(key, ()))
    for (start, _, _, _), jobs in tune.items():  # its start was left out (one class only)
        for t in jobs:
            log.warning("utility: %s%s left out for owner %s: no %s classifier to start from",
                        start, TUNED, t["owner"], start)
            sets.pop((start + TUNED, t["owner"]), None)
    return UtilityPlan(seed=seed, sets=sets, x_test=x_test, y_test=y_test, features=features,
                       fits=fits)


def utility_jobs(plan: UtilityPlan) -> list[Job]:
    """The feature network, then one job per classifier (``cost``: its training rows)."""
    jobs = [Job(feature_network, plan.features, cost=len(plan.features["x"]))]
    return jobs + [Job(fit_source, kw, cost=len(kw["x"]) + sum(len(t["x"]) for t in kw["tune"]))
                   for _, kw in plan.fits]


def log_fit(plan: UtilityPlan, index: int, outcome: FitOutcome) -> None:
    """One progress line per finished classifier (``index`` into ``plan.fits``), and one per
    copy of it fine-tuned on an owner's rows."""
    (source, owner, protocol, _), kw = plan.fits[index]
    _log_fit(plan, outcome, source=source, owner=owner, protocol=protocol, rows=len(kw["x"]))
    for t in kw["tune"]:
        _log_fit(plan, outcome.tuned[t["owner"]], source=source + TUNED, owner=t["owner"],
                 protocol=protocol, rows=len(t["x"]))


def _log_fit(plan: UtilityPlan, outcome: FitOutcome, *, source: str, owner: str, protocol: str,
             rows: int) -> None:
    accuracy = float((outcome.pred == plan.y_test).mean())
    steps = outcome.extra.get(R.FIT_STEPS)
    detail = "" if steps is None else (
        f", best step {int(outcome.extra[R.FIT_BEST_STEP][0])} of {int(steps[0])}, validation "
        f"accuracy {outcome.extra[R.FIT_VAL_ACCURACY][0]:.3f}"
        + " (step cap reached)" * bool(outcome.extra[R.FIT_CAPPED][0]))
    log.info("utility: %s owner %s, %d rows, %s protocol (seed %d): test accuracy %.3f%s, %.0f s",
             source, owner, rows, protocol, plan.seed, accuracy, detail, outcome.seconds)


def fit_logger(plan: UtilityPlan):
    """``on_done`` for :func:`run_jobs` over ``utility_jobs(plan)``: a line per finished
    classifier (job 0 of the plan is the feature network)."""
    def done(index: int, result: Any) -> None:
        if index > 0:
            log_fit(plan, index - 1, result)
    return done


def utility_rows(run: Run, plan: UtilityPlan, *, features: nn.Module, fits: list[FitOutcome],
                 config: EvalConfig) -> UtilityResult:
    """Accuracy rows (overall and per class, per protocol) and image quality of every source."""
    root, seed = run.config.seed, plan.seed
    outcome = {key: f for (key, _), f in zip(plan.fits, fits)}
    for (start, _, protocol, p), f in list(outcome.items()):
        for owner, tuned in f.tuned.items():
            outcome[(start + TUNED, owner, protocol, p)] = tuned
    real_features = embed(features, plan.x_test, precision=config.precision)
    out = UtilityResult()
    for (source, owner), (x, _) in plan.sets.items():
        k, key = UTILITY_SOURCES.index(source), CENTRAL if owner == R.ALL else int(owner)
        out.sizes[f"{source}/{owner}"] = len(x)
        for p, protocol in enumerate(config.protocols):
            fit = outcome.get((source, owner, protocol, p))
            if fit is None:
                continue
            metric = R.ACCURACY if p == 0 else f"{R.ACCURACY}_{protocol}"
            out.rows += _accuracy_rows(fit.pred, plan.y_test, classes=run.classes, source=source,
                                       owner=owner, seed=seed, metric=metric)
            out.rows += [R.metric_row(source=source, owner=owner, seed=seed, metric=m, cls=R.ALL,
                                      value=v, n=n) for m, (v, n) in fit.extra.items()]
        if source.endswith(TUNED):  # its rows are the owner's own, measured as real_own
            continue
        out.rows += _quality_rows(real_features, embed(features, x, precision=config.precision),
                                  config=config, source=source, owner=owner, seed=seed,
                                  sample_seed=R.stream_seed(root, seed, R.FEATURES, k, key))
    return out


def utility_evaluation(
    run: Run, *, dataset: Dataset, partition: Partition, config: EvalConfig, seed: int
) -> UtilityResult:
    """Accuracy (overall and per class, per protocol) and image quality of every source, one seed,
    every classifier trained in this process."""
    plan = plan_utility(run, dataset=dataset, partition=partition, config=config, seed=seed)
    done = run_jobs(utility_jobs(plan), workers=1, on_done=fit_logger(plan))
    return utility_rows(run, plan, features=done[0], fits=done[1:], config=config)
