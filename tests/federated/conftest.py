"""Tiny federated runs: sklearn digits (classes 0-2), two owners, seconds on a CPU."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from privshare.config import load_config
from privshare.experiments.run import owner_rows, prepare_data
from privshare.federated import FederatedSettings, write_owner_files
from privshare.federated.harness import Wire, run_in_process, simulation_owners
from privshare.training import PrivGANTrainer

CPU = torch.device("cpu")


def tiny(tmp: Path, *overrides: str):
    return load_config(preset="tiny", overrides=[f'out_dir="{tmp}"', 'name="fed"', *overrides])


@dataclass
class Reference:
    """The one-process privGAN of the same config, trained for ``epochs`` epochs."""

    trainer: PrivGANTrainer
    steps: int


def one_process(config) -> Reference:
    dataset, partition = prepare_data(config)
    rows = [owner_rows(dataset, partition, owner=j, device=CPU, dtype=torch.float32)
            for j in range(len(config.data.fractions))]
    trainer = PrivGANTrainer(config=config, rows=rows, device=CPU)
    steps = trainer.steps_per_epoch()
    for _ in range(config.train.epochs_privgan):
        for _ in range(steps):
            trainer.train_step()
        trainer.epoch += 1
    return Reference(trainer=trainer, steps=steps * config.train.epochs_privgan)


def federated(config, folder: Path, *, settings: FederatedSettings | None = None,
              wire: Wire | None = None, deliver=None, files: list[Path] | None = None,
              on_grid=None):
    """Run the in-process federation writing into ``folder`` (one shared run folder)."""
    files = files or write_owner_files(config, folder=folder / "private",
                                       partition_path=folder / "partition.npz")
    settings = settings or FederatedSettings()
    settings = FederatedSettings(**{**settings.__dict__, "run_dir": str(folder)})
    owners = simulation_owners(folder, owner_files=files)
    return run_in_process(config, settings=settings, owners=owners, wire=wire, deliver=deliver,
                          on_grid=on_grid)


@pytest.fixture(scope="module")
def short_config(tmp_path_factory):
    """One epoch of 4 steps: enough rounds for fault tests."""
    return tiny(tmp_path_factory.mktemp("cfg"), "train.epochs_privgan=1")


@pytest.fixture(scope="module")
def short_reference(short_config) -> Reference:
    return one_process(short_config)
