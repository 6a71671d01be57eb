"""Run one configured experiment: data, partition, privGAN, local GANs, DP-GANs, export.

The run folder (see :mod:`privshare.artifacts.layout`) is created only after
the data and the partition have been validated, so bad input leaves nothing
behind. A killed run restarts from its checkpoints when started again with
the same configuration.
"""

from __future__ import annotations

import json
import logging
import platform
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

import privshare
from privshare.artifacts import (
    Run,
    RunLayout,
    export_owner,
    load_run,
    save_model_file,
    save_owner_model,
)
from privshare.artifacts.atomic import write_json_atomic
from privshare.artifacts.lock import run_folder_lock
from privshare.config import (
    RunConfig,
    config_mismatch,
    config_to_dict,
    read_run_config,
    save_config,
)
from privshare.data import Dataset, Partition, save_partition
from privshare.data.arrays import save_arrays
from privshare.data.prepare import prepare_data
from privshare.faults import kill_point
from privshare.training import (
    DPGANTrainer,
    GANTrainer,
    PrivGANTrainer,
    RealRows,
    TrainingDiverged,
    fit,
    master_dtype,
    resolve_device,
)
from privshare.training.accounting import noise_multipliers, privacy_spent
from privshare.training.runtime import resolve_precision
from privshare.training.loop import ProgressFn

log = logging.getLogger(__name__)


class RunExistsError(ValueError):
    """The run folder exists and holds a run with a different configuration."""


def owner_rows(
    dataset: Dataset, partition: Partition, *, owner: int, device: torch.device, dtype: torch.dtype
) -> RealRows:
    """Owner ``owner``'s real rows, per class in ``partition.classes`` order."""
    per_class = [
        dataset.x_train[partition.owner_class_indices(owner, c)] for c in partition.classes
    ]
    return RealRows.from_arrays(per_class, device=device, dtype=dtype)


def _open_folder(config: RunConfig, layout: RunLayout) -> None:
    """Create the run folder, or check that an existing one is this run's."""
    if layout.config.is_file():  # read alone: a run killed before run.json existed resumes
        saved = read_run_config(layout.config)
        mismatch = config_mismatch(saved, config)
        if mismatch:
            raise RunExistsError(
                f"{str(layout.root)!r} holds a run with another configuration{mismatch}; "
                "pick another run.name / --name, or delete the folder to start over"
            )
        return
    layout.root.mkdir(parents=True, exist_ok=True)
    save_config(config, layout.config)


def refuse_foreign(layout: RunLayout) -> None:
    """A folder that exists, holds files and no run config is not ours to write into."""
    if (layout.root.exists() and not layout.config.is_file()
            and any(p != layout.lock for p in layout.root.iterdir())):
        raise RunExistsError(
            f"{str(layout.root)!r} exists and is not a privshare run; choose another name")


def _manifest(config: RunConfig, dataset: Dataset, partition: Partition, device) -> dict:
    counts = partition.counts()
    return {
        "status": "running",
        "dataset": dataset.name,
        "classes": list(partition.classes),
        "image_shape": list(dataset.x_train.shape[1:]),
        "rows_per_class": counts,
        "seed": config.seed,
        "device": str(device),
        "precision": resolve_precision(device, config.train.precision),  # what ran (auto resolved)
        "versions": {
            "privshare": privshare.__version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "methods_done": [],
        "timings_s": {},
        "steps_per_epoch": {},
    }


class Trained(NamedTuple):
    """What training one method adds to the run's history and manifest."""

    histories: dict[str, list]
    steps_per_epoch: dict[str, int]
    dpsgd: dict | None  # the privacy budget each owner spent (``dpgan`` only)


def save_privgan(trainer: PrivGANTrainer, *, layout: RunLayout, manifest: dict) -> Trained:
    """Save a trained privGAN's models into the run folder; what it adds to the records."""
    classes, shape = tuple(manifest["classes"]), tuple(manifest["image_shape"])
    for o in trainer.owners:
        save_owner_model(layout, method="privgan", owner=o.index, state=o,
                         classes=classes, image_shape=shape)
    save_model_file(
        layout.central_model, kind="privgan_central", classes=classes, image_shape=shape,
        networks={"central": trainer.central.network.state_dict()}, owners=len(trainer.owners),
    )
    return Trained({"privgan": trainer.history}, {"privgan": trainer.steps_per_epoch()}, None)


def _train_method(
    method: str,
    *,
    config: RunConfig,
    rows: list[RealRows],
    layout: RunLayout,
    manifest: dict,
    device: torch.device,
    progress: ProgressFn | None,
    sigmas: list[float] | None = None,
) -> Trained:
    """Train one method for every owner and save its models (``manifest`` is only read).

    ``sigmas``: each owner's DP-SGD noise multiplier (``dpgan`` only).
    """
    t = config.train
    cfg = config_to_dict(config)
    classes = tuple(manifest["classes"])
    shape = tuple(manifest["image_shape"])
    histories: dict[str, list] = {}
    steps: dict[str, int] = {}
    if method == "privgan":
        trainer = PrivGANTrainer(config=config, rows=rows, device=device)
        fit(trainer, epochs=t.epochs_privgan, checkpoint_path=layout.checkpoint("privgan"),
            checkpoint_every=t.checkpoint_every, config=cfg, progress=progress, label="privGAN")
        return save_privgan(trainer, layout=layout, manifest=manifest)
    dp_steps = []
    for j, r in enumerate(rows):
        if method == "dpgan":
            trainer = DPGANTrainer(config=config, rows=r, owner=j, device=device,
                                   noise_multiplier=sigmas[j])
        else:
            trainer = GANTrainer(config=config, rows=r, owner=j, device=device)
        steps[f"{method}_owner_{j}"] = trainer.steps_per_epoch()
        histories[f"{method}_owner_{j}"] = fit(
            trainer, epochs=t.epochs_gan, checkpoint_path=layout.checkpoint(method, j),
            checkpoint_every=t.checkpoint_every, config=cfg, progress=progress,
            label=f"{'DP-GAN' if method == 'dpgan' else 'GAN'} owner {j}",
        )
        save_owner_model(layout, method=method, owner=j, state=trainer.owner,
                         classes=classes, image_shape=shape)
        if method == "dpgan":
            dp_steps.append(trainer.dp_steps)
    if method != "dpgan":
        return Trained(histories, steps, None)
    counts = [list(r.counts.tolist()) for r in rows]
    budget = privacy_spent(config, counts=counts, labels=classes, sigmas=sigmas, steps=dp_steps)
    log.info("%s", budget.summary())
    return Trained(histories, steps, budget.to_dict())


WaitFn = Callable[[Run, threading.Event], None]


class _Stopped(RuntimeError):
    """Another method's training failed; this one stops at its next epoch."""


def _stoppable(progress: ProgressFn | None, stop: threading.Event) -> ProgressFn:
    """``progress``, raising :class:`_Stopped` once ``stop`` is set (called every epoch)."""
    def report(label: str, done: int, total: int, record: dict | None) -> None:
        if stop.is_set():
            raise _Stopped(f"{label} stopped: another method's training failed")
        if progress:
            progress(label, done, total, record)
    return report


def _lanes(methods: list[str], *, concurrent: bool) -> list[list[str]]:
    """Methods in the order they train: one lane, or (concurrent) privGAN beside the others."""
    if not concurrent or "privgan" not in methods or len(methods) < 2:
        return [methods]
    return [["privgan"], [m for m in methods if m != "privgan"]]


def _run_lanes(lanes: list[list[str]], train, stop: threading.Event,
               idle: Callable[[threading.Event], None] | None = None) -> None:
    """Each lane in its own thread with one torch thread; the first failure is raised.

    The trainers draw every random number from their own generators, so a
    method trained beside another gets the numbers it gets alone. A lane that
    finishes while another still trains calls ``idle(done)``; ``done`` is set
    when no lane trains any more.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    training, lock, done = [len(lanes)], threading.Lock(), threading.Event()

    def lane(methods: list[str]) -> None:
        torch.set_num_threads(1)  # OpenMP keeps the count per thread: set it in the lane too
        try:
            for method in methods:
                train(method)
        except BaseException:
            stop.set()
            raise
        finally:
            with lock:
                training[0] -= 1
                last = training[0] == 0
            if last:
                done.set()
        if idle is not None and not done.is_set() and not stop.is_set():
            try:
                idle(done)
            except Exception as err:  # work done ahead is optional: it is done again later
                log.warning("work ahead of the evaluation stopped: %s", err)

    pool = ThreadPoolExecutor(max_workers=len(lanes))
    try:
        futures = [pool.submit(lane, methods) for methods in lanes]
        try:
            wait(futures)
        except BaseException:  # Ctrl-C here: the lanes stop at their next epoch
            stop.set()
            raise
        finally:
            pool.shutdown(wait=True)
        errors = [f.exception() for f in futures if f.exception() is not None]
        first = next((e for e in errors if not isinstance(e, _Stopped)), None) or \
            next(iter(errors), None)
        if first is not None:
            raise first
    finally:
        torch.set_num_threads(threads)


def export_synthetic(run: Run) -> list[Path]:
    """Write each owner's labelled synthetic .npz and PNG grid for every method."""
    written, methods = [], run.methods
    for method in methods:
        for j in range(run.owners):
            written += export_owner(run.layout, config=run.config, method=method, owner=j,
                                    methods=methods, holds=run.holds(j))
    return written


def run_experiment(
    config: RunConfig,
    *,
    progress: ProgressFn | None = None,
    data: tuple[Dataset, Partition] | None = None,
    while_waiting: WaitFn | None = None,
) -> Run:
    """Train every configured method for every owner and export synthetic data.

    ``data``: an already checked dataset and explicit partition (the owners'
    own arrays, see :func:`privshare.data.arrays.owners_dataset`) instead of
    the configured source; it is kept in the run folder as ``data.npz`` so the
    run can be evaluated from its folder. ``while_waiting(run, done)``: with
    ``train.concurrent_methods``, called in the thread of the methods that
    finish first while the others still train (``run`` holds the models saved
    so far; ``done`` is set once every method has finished, and the call
    should return soon after). Returns the finished :class:`~privshare.artifacts.Run`.
    """
    device = resolve_device(config.train.device)
    # raises before anything is written
    dataset, partition = prepare_data(config) if data is None else data
    sigmas = None
    if "dpgan" in config.train.methods:  # an unreachable privacy budget raises here too
        counts = partition.counts()
        sigmas = noise_multipliers(config, labels=tuple(partition.classes),
                                   counts=[counts[f"owner_{j}"] for j in range(partition.owners)])
    layout = RunLayout(Path(config.out_dir) / config.name)
    refuse_foreign(layout)
    with run_folder_lock(layout.lock, RunExistsError):
        return _run_in(config, layout, dataset, partition, device, progress,
                       keep_data=data is not None, sigmas=sigmas, while_waiting=while_waiting)


def start_run_folder(config: RunConfig, layout: RunLayout, dataset: Dataset, partition: Partition,
                     device: torch.device, *, keep_data: bool = False
                     ) -> tuple[dict, list[RealRows], dict]:
    """Open (or reopen) the run folder with its lock held: its config, partition and manifest
    written; returns the manifest (what a restarted run already finished kept), the owners'
    real rows and the histories recorded so far."""
    kill_point("run:locked")
    _open_folder(config, layout)
    kill_point("run:config-saved")
    if keep_data and not layout.data.is_file():
        save_arrays(dataset, layout.data)
    if not layout.partition.is_file():
        save_partition(partition, layout.partition)
    kill_point("run:partition-saved")
    manifest = _manifest(config, dataset, partition, device)
    if layout.manifest.is_file():  # a restarted run keeps what it already finished
        previous = json.loads(layout.manifest.read_text())
        for key in ("methods_done", "timings_s", "steps_per_epoch", "packed_with"):
            if key in previous:
                manifest[key] = previous[key]
        if "dpsgd" in previous:
            manifest["dpsgd"] = previous["dpsgd"]
    write_json_atomic(layout.manifest, manifest)
    kill_point("run:manifest-written")
    dtype = master_dtype(config.train.precision)
    rows = [
        owner_rows(dataset, partition, owner=j, device=device, dtype=dtype)
        for j in range(len(config.data.fractions))
    ]
    torch.manual_seed(config.seed)  # nothing should use the global stream; pin it anyway
    histories = json.loads(layout.history.read_text()) if layout.history.is_file() else {}
    return manifest, rows, histories


def record_method(method: str, trained: Trained, *, config: RunConfig, layout: RunLayout,
                  manifest: dict, histories: dict, seconds: float) -> None:
    """Write a trained method into the run's history and manifest, then drop its checkpoints."""
    histories.update(trained.histories)
    manifest["steps_per_epoch"].update(trained.steps_per_epoch)
    if trained.dpsgd is not None:
        manifest["dpsgd"] = trained.dpsgd
    manifest["timings_s"][method] = round(seconds, 3)
    manifest["methods_done"].append(method)
    write_json_atomic(layout.history, histories)
    write_json_atomic(layout.manifest, manifest)
    kill_point("run:method-recorded")
    if not config.train.keep_checkpoints:
        for ck in layout.checkpoint(method, None).parent.glob(f"{method}*.pt"):
            ck.unlink()


def _run_in(config: RunConfig, layout: RunLayout, dataset: Dataset, partition: Partition,
            device: torch.device, progress: ProgressFn | None, *, keep_data: bool = False,
            sigmas: list[float] | None = None, while_waiting: WaitFn | None = None) -> Run:
    """:func:`run_experiment`'s work, with the run folder's lock held."""
    manifest, rows, histories = start_run_folder(config, layout, dataset, partition, device,
                                                 keep_data=keep_data)
    for method in manifest["methods_done"]:
        log.info("%s already trained in %s; skipping", method, layout.root)
    pending = [m for m in config.train.methods if m not in manifest["methods_done"]]
    record = threading.Lock()  # one lane at a time updates the manifest and history files
    stop = threading.Event()  # set when a lane fails: the other stops at its next epoch

    def train(method: str) -> None:
        start = time.perf_counter()
        try:
            trained = _train_method(method, config=config, rows=rows, layout=layout,
                                    manifest=manifest, device=device, sigmas=sigmas,
                                    progress=_stoppable(progress, stop))
        except TrainingDiverged as err:  # no model file or export of this method exists
            with record:
                manifest.update(status="diverged", error=str(err))
                write_json_atomic(layout.manifest, manifest)
            raise
        kill_point("run:models-saved")
        with record:
            record_method(method, trained, config=config, layout=layout, manifest=manifest,
                          histories=histories, seconds=time.perf_counter() - start)

    lanes = _lanes(pending, concurrent=config.train.concurrent_methods)
    if len(lanes) == 1:
        for method in lanes[0]:
            train(method)
    else:
        idle = None if while_waiting is None else (
            lambda done: while_waiting(load_run(layout.root), done))
        _run_lanes(lanes, train, stop, idle=idle)
    start = time.perf_counter()
    export_synthetic(load_run(layout.root))
    kill_point("run:exported")
    manifest["timings_s"]["export"] = round(time.perf_counter() - start, 3)
    manifest["status"] = "done"
    write_json_atomic(layout.manifest, manifest)
    return load_run(layout.root)
