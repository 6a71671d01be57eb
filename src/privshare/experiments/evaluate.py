"""Evaluate a saved run: utility, image quality and membership attacks, then write them.

Everything is computed from the run folder (models, saved partition, config)
and the run's dataset, read again from its configured source::

    RUN/metrics.json   settings, seeds, pool and training-set sizes, every row, mean/sd summary
    RUN/metrics.csv    the rows, long format: source, owner, seed, metric, class, value, n
    RUN/scores.npz     raw attack scores "<source>/<owner>/<class>/<group>" of the first seed
                       (later seeds under "seed<k>/<source>/<owner>/<class>/<group>")

Each file is written through a temporary file and a rename; metrics.json last.
The classifiers and each seed's attacks are independent jobs; with
``workers`` > 1 they run in that many processes at once
(:mod:`privshare.evaluation.parallel`). The same run, settings and seeds give
identical files whatever the number of workers (up to the last bits of floats
where torch's thread count changes the order of sums). A seed's
``timings_s`` in metrics.json are the seconds of its classifiers and of its
attacks, which overlap when several workers run.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from privshare.artifacts import Run, RunLayout, load_run
from privshare.artifacts.atomic import atomic_file, write_json_atomic
from privshare.artifacts.lock import run_folder_lock
from privshare.artifacts.scores import SEED_PREFIX
from privshare.attacks import privacy_evaluation
from privshare.data import Dataset
from privshare.data.arrays import load_arrays
from privshare.evaluation import EvalConfig, EvaluationError, eval_config_to_dict
from privshare.evaluation.parallel import Job, resolve_workers, run_jobs
from privshare.evaluation.utility import (
    fit_logger,
    log_fit,
    plan_utility,
    utility_jobs,
    utility_rows,
)
from privshare.evaluation.config import validate_eval_config
from privshare.evaluation.classifier import resolve_device
from privshare.evaluation.summary import summarise_rows
from privshare.experiments.run import prepare_data
from privshare.hardware import keep_freed_memory, resolve_precision

log = logging.getLogger(__name__)


METRICS_VERSION = 1
CSV_COLUMNS = ("source", "owner", "seed", "metric", "class", "value", "n")


@dataclass
class Evaluation:
    """Everything :func:`evaluate_run` measured (see the module docstring for the files)."""

    root: Path  # the run folder
    config: EvalConfig
    seeds: tuple[int, ...]
    rows: list[dict[str, Any]]  # long rows: source, owner, seed, metric, class, value, n
    counts: dict[str, Any]  # per seed: attack pool sizes and training-set sizes
    elapsed_s: float
    files: dict[str, Path] = field(default_factory=dict)  # written files ({} if not written)

    def summary(self) -> list[dict[str, Any]]:
        """Mean and standard deviation over seeds of every (source, owner, metric, class)."""
        return summarise_rows(self.rows)


def _write_bytes(path: Path, data: bytes) -> None:
    with atomic_file(path) as tmp:
        tmp.write_bytes(data)


def write_evaluation(ev: Evaluation, scores: dict[str, np.ndarray]) -> dict[str, Path]:
    """Write scores.npz, metrics.csv, then metrics.json next to the run; return their paths."""
    layout = RunLayout(ev.root)
    paths = {"metrics_json": layout.metrics_json, "metrics_csv": layout.metrics_csv,
             "scores": layout.scores}
    buf = io.BytesIO()
    np.savez_compressed(buf, **scores)
    _write_bytes(paths["scores"], buf.getvalue())
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: ("" if r[k] is None else r[k]) for k in CSV_COLUMNS} for r in ev.rows)
    _write_bytes(paths["metrics_csv"], text.getvalue().encode())
    doc = {"version": METRICS_VERSION, "run": str(ev.root), "seeds": list(ev.seeds),
           "config": eval_config_to_dict(ev.config), "counts": ev.counts,
           "elapsed_s": round(ev.elapsed_s, 3), "rows": ev.rows, "summary": ev.summary(),
           "precision": resolve_precision(resolve_device(ev.config.device), ev.config.precision)}
    _write_bytes(paths["metrics_json"], json.dumps(doc, indent=1, sort_keys=True).encode())
    manifest = layout.manifest  # evaluation time beside the training times
    if manifest.is_file():
        data = json.loads(manifest.read_text())
        data.setdefault("timings_s", {})["evaluation"] = round(ev.elapsed_s, 3)
        data["evaluation_precision"] = doc["precision"]  # what the classifiers ran in
        write_json_atomic(manifest, data)
    return paths


def _settings(config: EvalConfig | None, samples: int | None, epochs: int | None,
              seeds: Iterable[int] | None) -> EvalConfig:
    config = config or EvalConfig()
    if samples is not None:
        config = replace(config, samples=samples)
    if epochs is not None:
        config = replace(config, epochs=epochs)
    if seeds is not None:
        config = replace(config, seeds=tuple(int(s) for s in seeds))
    return validate_eval_config(config)


def _data(run: Run, dataset: Dataset | None = None):
    """The run's dataset: ``dataset`` if given, else the arrays kept in the run folder
    (a run fitted on arrays), else its configured source, loaded again."""
    if dataset is None and run.layout.data.is_file():
        dataset = load_arrays(run.layout.data)
        if not len(dataset.x_test):
            raise EvaluationError(
                f"{run.root} was fitted on arrays without test rows, so it has no real rows to "
                "test classifiers on; evaluate it from Python with "
                "privshare.evaluate(run_folder, test=(x_test, y_test))")
    if dataset is None:
        dataset, _ = prepare_data(run.config)
    partition = run.partition()
    if not np.array_equal(partition.labels, dataset.y_train):
        raise EvaluationError(
            f"the saved partition of {run.root} does not match the labels of dataset "
            f"{run.config.data.name!r} as loaded now; evaluate with the data the run was trained on")
    return dataset, partition


def _privacy(**kwargs: Any) -> tuple[Any, float]:
    """:func:`privacy_evaluation` and its seconds (a job of :func:`run_jobs`)."""
    start = time.perf_counter()
    return privacy_evaluation(**kwargs), time.perf_counter() - start


def _nonmembers_from_test(config: EvalConfig, partition, dataset: Dataset, *, root) -> EvalConfig:
    """A partition without non-member train rows (a run fitted on arrays) draws its attack
    non-members from the test split, at most half of each class's test rows, so the
    black-box attacker keeps reference rows of its own."""
    if config.nonmembers_from != "train" or len(partition.nonmember_indices):
        return config
    per_class = [int(np.sum(dataset.y_test == c)) for c in partition.classes]
    cap = max(1, min(per_class, default=2) // 2)
    log.info("%s has no non-member train rows; attack non-members come from the test split "
             "(nonmembers_from='test', nonmembers=%d)", root, min(config.nonmembers, cap))
    return replace(config, nonmembers_from="test", nonmembers=min(config.nonmembers, cap))


def _keyed_jobs(plan) -> list[tuple[tuple, Job]]:
    """``utility_jobs(plan)`` with the key each result is known by across calls."""
    keys = [(plan.seed, "features")] + [(plan.seed, *key) for key, _ in plan.fits]
    return list(zip(keys, utility_jobs(plan)))


@dataclass
class Ahead:
    """Classifiers trained before :func:`evaluate_run` (:func:`evaluate_ahead`), by job key."""

    config: EvalConfig  # the settings they were trained under
    results: dict[tuple, Any] = field(default_factory=dict)


def evaluate_ahead(run: Run, *, config: EvalConfig, done: threading.Event) -> Ahead:
    """The classifiers that need only the models ``run`` holds so far, trained in this thread.

    Called while privGAN still trains (``run_experiment``'s ``while_waiting``):
    the real-row sources, the local GANs' sources and each seed's feature
    network, smallest training set first. It stops between two classifiers
    once ``done`` is set. Every job
    seeds itself, so :func:`evaluate_run` given these results (``ahead``)
    writes the numbers it would compute itself.
    """
    out = Ahead(config=validate_eval_config(config))
    dataset, partition = _data(run)
    plans = [plan_utility(run, dataset=dataset, partition=partition, config=config, seed=seed)
             for seed in config.seeds]
    jobs = [(plan, i, key, job) for plan in plans
            for i, (key, job) in enumerate(_keyed_jobs(plan))]
    # smallest first: when privGAN ends, the job in hand (which it waits for) is a short one
    for plan, i, key, job in sorted(jobs, key=lambda j: j[3].cost):
        if done.is_set():
            break
        out.results[key] = job.fn(**job.kwargs)
        fit_logger(plan)(i, out.results[key])
    return out


def evaluate_run(
    run_or_path: Run | str | Path,
    *,
    seeds: Iterable[int] | None = None,
    samples: int | None = None,
    epochs: int | None = None,
    config: EvalConfig | None = None,
    write: bool = True,
    dataset: Dataset | None = None,
    ahead: Ahead | None = None,
) -> Evaluation:
    """Utility, image quality and attacks of a run, repeated over ``seeds``.

    ``seeds`` / ``samples`` / ``epochs`` override those fields of ``config``
    (default :class:`EvalConfig`); every setting is checked by
    ``validate_eval_config``. Each seed redraws the synthetic training sets,
    retrains the classifiers and redraws the attack pools. ``write`` puts
    metrics.json, metrics.csv and scores.npz in the run folder. ``dataset``
    replaces the run's data (the owners' rows as trained on, with another test
    split). A run whose partition has no non-member train rows (fitted on
    arrays) draws its attack non-members from the test split (see
    :func:`_nonmembers_from_test`). ``ahead``: what :func:`evaluate_ahead`
    trained, used only if it ran under these same settings.
    """
    run = run_or_path if isinstance(run_or_path, Run) else load_run(run_or_path)
    config = _settings(config, samples, epochs, seeds)
    if not write:
        return _evaluate(run, config, write=False, dataset=dataset, ahead=ahead)
    with run_folder_lock(RunLayout(run.root).lock, EvaluationError):
        return _evaluate(run, config, write=True, dataset=dataset, ahead=ahead)


def _evaluate(run: Run, config: EvalConfig, *, write: bool, dataset: Dataset | None = None,
              ahead: Ahead | None = None) -> Evaluation:
    """:func:`evaluate_run` after its settings are checked (and its lock taken when writing)."""
    seeds = config.seeds
    if not run.methods:
        raise EvaluationError(f"{run.root} has no trained models; train it first (privshare train)")
    start = time.perf_counter()
    ready = ahead.results if ahead is not None and ahead.config == config else {}
    dataset, partition = _data(run, dataset)
    config = _nonmembers_from_test(config, partition, dataset, root=run.root)
    threads = torch.get_num_threads()
    if config.threads:
        torch.set_num_threads(config.threads)
    rows, counts, scores = [], {}, {}
    keep_freed_memory()  # as training does: the classifiers' steps page-fault less
    try:
        workers = resolve_workers(config.workers)
        # every seed's training sets first: a source that cannot be fitted is refused before
        # any classifier trains
        plans = [plan_utility(run, dataset=dataset, partition=partition, config=config, seed=s)
                 for s in seeds]
        keyed = [kj for plan in plans for kj in _keyed_jobs(plan)]
        keyed += [((s, "attacks"), Job(_privacy, dict(
            run=run, x_train=dataset.x_train, partition=partition, reference=dataset.x_test,
            config=config, seed=s, reference_labels=dataset.y_test), cost=float("inf")))
            for s in seeds]
        todo = [(key, job) for key, job in keyed if key not in ready]
        plan_of = {plan.seed: plan for plan in plans}

        def done(index: int, result: Any) -> None:
            (seed, kind, *rest), _ = todo[index]
            if kind == "attacks":
                log.info("attacks of seed %d done, %.0f s", seed, result[1])
            elif kind != "features":
                plan = plan_of[seed]
                log_fit(plan, [k for k, _ in plan.fits].index((kind, *rest)), result)

        log.info("evaluating %s: seeds %s, %d jobs on %d worker%s (%d done ahead)", run.root,
                 list(seeds), len(todo), workers, "s" * (workers > 1), len(keyed) - len(todo))
        found = dict(zip([k for k, _ in todo], run_jobs([j for _, j in todo], workers=workers,
                                                       on_done=done)))
        result = {key: ready[key] if key in ready else found[key] for key, _ in keyed}
        for i, (seed, plan) in enumerate(zip(seeds, plans)):
            fits = [result[(seed, *key)] for key, _ in plan.fits]
            utility = utility_rows(run, plan, features=result[(seed, "features")], fits=fits,
                                   config=config)
            privacy, privacy_s = result[(seed, "attacks")]
            rows += utility.rows + privacy.rows
            counts[str(seed)] = {
                "training_rows": utility.sizes, "attack_pools": privacy.counts,
                "timings_s": {"utility": round(sum(f.seconds for f in fits), 3),  # classifiers
                              "privacy": round(privacy_s, 3)},
            }
            prefix = "" if i == 0 else f"{SEED_PREFIX}{seed}/"
            scores.update({prefix + k: v for k, v in privacy.scores.items()})
    finally:
        torch.set_num_threads(threads)
    ev = Evaluation(root=run.root, config=config, seeds=seeds, rows=rows, counts=counts,
                    elapsed_s=time.perf_counter() - start)
    if write:
        ev.files = write_evaluation(ev, scores)
    return ev
