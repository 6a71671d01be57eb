"""Several runs' privGAN trained as one pack (:mod:`privshare.training.packing`).

:func:`train_privgan_packed` opens each run's folder as
:func:`~privshare.experiments.run.run_experiment` does, trains the privGANs
that are not trained yet as one ensemble, and saves into each folder the
models, history and manifest entry that training it alone writes. Running
the run afterwards (``run_experiment``) finds privGAN done, trains its other
methods and exports. The manifest records the runs it was packed with
(``packed_with``) and the pack's wall time as privGAN's; its history is the
pack's (losses averaged over every packed run's classes).

Runs that cannot be packed (:func:`~privshare.training.packing.pack_problem`,
or unequal steps per epoch) are left untrained: they train alone later.
"""

from __future__ import annotations

import hashlib
import logging
import time
from contextlib import ExitStack
from pathlib import Path

from privshare.artifacts import RunLayout
from privshare.artifacts.lock import run_folder_lock
from privshare.config import RunConfig
from privshare.data.prepare import prepare_data
from privshare.experiments.run import (
    RunExistsError,
    refuse_foreign,
    record_method,
    save_privgan,
    start_run_folder,
)
from privshare.training import PrivGANTrainer, fit, resolve_device
from privshare.training.loop import ProgressFn
from privshare.training.packing import PackedPrivGAN, pack_problem

log = logging.getLogger(__name__)


def pack_name(names: list[str]) -> str:
    """The checkpoint name of a pack of these runs (a pack of other runs never reuses it)."""
    return "pack-" + hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest()[:16]


def train_privgan_packed(configs: list[RunConfig], *, checkpoints: Path,
                         progress: ProgressFn | None = None) -> list[str]:
    """Train the privGAN of every run in ``configs`` not trained yet, packed by equal steps.

    ``checkpoints``: the folder of the packs' checkpoints (a killed pack
    resumes from there). Returns the names of the runs trained in a pack;
    the others (alone in their group, or not packable) are left as they were.
    """
    problem = pack_problem(configs)
    if problem:
        log.warning("not packed: %s", problem)
        return []
    device = resolve_device(configs[0].train.device)
    trained: list[str] = []
    with ExitStack() as stack:
        groups: dict[int, list[tuple]] = {}
        for config in configs:
            if "privgan" not in config.train.methods:
                continue
            dataset, partition = prepare_data(config)
            layout = RunLayout(Path(config.out_dir) / config.name)
            refuse_foreign(layout)
            stack.enter_context(run_folder_lock(layout.lock, RunExistsError))
            manifest, rows, histories = start_run_folder(config, layout, dataset, partition, device)
            if "privgan" in manifest["methods_done"]:
                continue
            trainer = PrivGANTrainer(config=config, rows=rows, device=device)
            groups.setdefault(trainer.steps_per_epoch(), []).append(
                (config, layout, manifest, histories, trainer))
        for steps, members in groups.items():
            if len(members) < 2:
                continue
            names = [m[0].name for m in members]
            pack = PackedPrivGAN([m[4] for m in members])
            checkpoints.mkdir(parents=True, exist_ok=True)
            path = checkpoints / f"{pack_name(names)}.pt"
            t = configs[0].train
            log.info("privGAN of %d runs packed (%d steps an epoch): %s", len(names), steps,
                     ", ".join(names))
            start = time.perf_counter()
            fit(pack, epochs=t.epochs_privgan, checkpoint_path=path,
                checkpoint_every=t.checkpoint_every, config={"packed": sorted(names)},
                progress=progress, label=f"privGAN x{len(names)}")
            pack.unpack()
            seconds = time.perf_counter() - start
            for config, layout, manifest, histories, trainer in members:
                done = save_privgan(trainer, layout=layout, manifest=manifest)
                manifest["packed_with"] = sorted(n for n in names if n != config.name)
                record_method("privgan", done, config=config, layout=layout, manifest=manifest,
                              histories=histories, seconds=seconds)
                trained.append(config.name)
            path.unlink(missing_ok=True)
    return trained
