"""All owners on one machine: ``privshare federated simulate``.

Each owner's rows are cut out of the configured dataset into
``RUN/private/owner_<j>_rows.npz`` (standing in for the owner's own disk);
then either the in-process harness or a real SuperLink with one SuperNode
per owner on localhost runs the rounds. Every party writes into the same
run folder, so the result has the layout of a one-process run.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np

from privshare.artifacts.layout import RunLayout
from privshare.config import ConfigError, RunConfig
from privshare.federated.data import write_owner_files
from privshare.federated.harness import run_in_process, simulation_owners
from privshare.federated.server import FederatedResult
from privshare.federated.settings import FederatedSettings, check_federable
from privshare.training import steps_per_epoch

log = logging.getLogger(__name__)
ENGINES = ("inprocess", "local")


def simulate(
    config: RunConfig, *, engine: str = "local", local_steps: int = 1, round_timeout: float = 300.0
) -> FederatedResult:
    """Run a federated privGAN with every owner on this machine; return its summary.

    Every setting is checked (:func:`check_simulation`) before partition.npz
    or any owner's private rows are written.
    """
    check_simulation(config, engine=engine, local_steps=local_steps, round_timeout=round_timeout)
    root = Path(config.out_dir) / config.name
    layout = RunLayout(root)
    files = write_owner_files(config, folder=root / "private", partition_path=layout.partition)
    owners = simulation_owners(root, owner_files=files)
    settings = FederatedSettings(local_steps=local_steps, round_timeout=round_timeout,
                                 connect_timeout=max(round_timeout, 120.0), run_dir=str(root))
    if engine == "inprocess":  # each owner's session stays in memory, as in a deployment
        return run_in_process(config, settings=settings, owners=owners, warm=True)
    from privshare.federated.deploy import LocalFederation, write_app

    with LocalFederation(home=root / "flower") as federation:
        federation.start_all(owners)
        app = write_app(root / "flower" / "app", config=config, settings=settings)
        info = federation.run_app(app, timeout=_run_timeout(config, settings, files))
    manifest = json.loads(layout.manifest.read_text())
    log.info("flower reports %s bytes in total", info.get("network-traffic", {}).get("total-bytes"))
    return FederatedResult.from_manifest(manifest, run_dir=str(root))


def check_simulation(config: RunConfig, *, engine: str, local_steps: int,
                     round_timeout: float) -> None:
    """Every check a simulation would meet later, before anything is written."""
    from privshare.training import resolve_device

    if engine not in ENGINES:
        raise ConfigError(f"--engine {engine!r}: choose {' or '.join(ENGINES)}")
    FederatedSettings(local_steps=local_steps, round_timeout=round_timeout)  # ranges
    check_federable(config)
    resolve_device(config.train.device)


def _run_timeout(config: RunConfig, settings: FederatedSettings, files: list[Path]) -> float:
    """A bound on the whole run: every round (and setup, finish) may use all its attempts."""
    counts = []
    for path in files:
        with np.load(path) as f:
            counts += np.unique(f["y"], return_counts=True)[1].tolist()
    t = config.train
    spe = steps_per_epoch(t.steps_per_epoch, counts=counts, batch=t.batch_size)
    rounds = math.ceil(t.epochs_privgan * spe / settings.local_steps)
    return settings.connect_timeout + (rounds + 2) * settings.round_timeout * (settings.retries + 1)
