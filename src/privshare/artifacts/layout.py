"""Where everything of a run lives on disk.

::

    RUN/
      config.toml                 resolved configuration
      run.json                    manifest: versions, seeds, status, sizes, timings, DP-GAN privacy budget
      partition.npz               owners' row indices and the non-member pool
      data.npz                    the rows themselves, for runs fitted on arrays (Python API)
      history.json                per-epoch losses of every trainer
      central/privgan_central.pt  central discriminator D_central (the only shared model)
      owner_<j>/privgan_model.pt  G_j and D_j of privGAN (stay with owner j)
      owner_<j>/gan_model.pt      owner j's local GAN
      owner_<j>/dpgan_model.pt    owner j's local GAN with a DP-SGD discriminator
      owner_<j>/synthetic_<method>.npz   labelled synthetic rows (x uint8, y int64)
      owner_<j>/grid_<method>.png        one row of samples per class
      checkpoints/*.pt            resumable training state
      .run.lock                   held while a process trains or evaluates the run
      metrics.json, metrics.csv   what ``privshare evaluate`` measured (rows, settings, summary);
                                  a run folder committed to a repository may keep them gzipped
                                  (metrics.json.gz, metrics.csv.gz): every reader takes either
      scores.npz                  raw attack scores of the first evaluation seed
      report/                     what ``privshare report RUN`` writes by default

A sweep folder (:class:`SweepLayout`) holds the result store and one run
folder per trained cell::

    SWEEP/ (= out_dir / sweep name)
      results.sqlite              the result store (:mod:`privshare.experiments.store`), the
                                  live copy the sweep writes (not for committing: tens of MB)
      snapshot/                   the same content as small files, rewritten after each stored
                                  cell: the copy to commit; a sweep or report finding only it
                                  works from it (:mod:`privshare.experiments.snapshot`)
      cells/<key>/                one run folder per trained cell (a RUN/ as above)
      report/                     what ``privshare report SWEEP`` writes by default
      .sweep.lock                 held (flock) while a sweep process works on the folder
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, ClassVar

METHODS = ("privgan", "gan", "dpgan")
REPORT = "report"  # folder a report is written to, inside a run or sweep folder
GZ = ".gz"  # suffix of a file kept gzipped


def stored(path: Path) -> Path | None:
    """``path`` if it is a file, else its gzipped copy ``path.gz`` if that is, else None."""
    for candidate in (path, path.with_name(path.name + GZ)):
        if candidate.is_file():
            return candidate
    return None


def open_text(path: Path) -> IO[str]:
    """Open ``path`` (or its gzipped copy, see :func:`stored`) for reading text."""
    found = stored(path)
    if found is None:
        raise FileNotFoundError(f"{str(path)!r} (nor {path.name + GZ!r}) does not exist")
    if found.name.endswith(GZ):
        return gzip.open(found, "rt", encoding="utf-8", newline="")
    return found.open(encoding="utf-8", newline="")


@dataclass(frozen=True)
class RunLayout:
    """Paths inside one run folder."""

    # the evaluation's files; the sweep store keeps METRICS_JSON and SCORES under these names
    METRICS_JSON: ClassVar[str] = "metrics.json"
    METRICS_CSV: ClassVar[str] = "metrics.csv"
    SCORES: ClassVar[str] = "scores.npz"

    root: Path

    @property
    def metrics_json(self) -> Path:
        return self.root / self.METRICS_JSON

    @property
    def metrics_csv(self) -> Path:
        return self.root / self.METRICS_CSV

    @property
    def scores(self) -> Path:
        return self.root / self.SCORES

    @property
    def evaluated(self) -> bool:
        """Whether the run has its metrics.json (plain or gzipped)."""
        return stored(self.metrics_json) is not None

    def read_metrics(self) -> dict[str, Any]:
        """The run's metrics.json document, read plain or gzipped."""
        with open_text(self.metrics_json) as fh:
            return json.load(fh)

    @property
    def config(self) -> Path:
        return self.root / "config.toml"

    @property
    def manifest(self) -> Path:
        return self.root / "run.json"

    @property
    def lock(self) -> Path:
        return self.root / ".run.lock"

    @property
    def report(self) -> Path:
        return self.root / REPORT

    @property
    def partition(self) -> Path:
        return self.root / "partition.npz"

    @property
    def data(self) -> Path:
        return self.root / "data.npz"

    @property
    def history(self) -> Path:
        return self.root / "history.json"

    @property
    def central_model(self) -> Path:
        return self.root / "central" / "privgan_central.pt"

    def owner_dir(self, owner: int) -> Path:
        return self.root / f"owner_{owner}"

    def model(self, method: str, owner: int) -> Path:
        return self.owner_dir(owner) / f"{_check(method)}_model.pt"

    def synthetic(self, method: str, owner: int) -> Path:
        return self.owner_dir(owner) / f"synthetic_{_check(method)}.npz"

    def grid(self, method: str, owner: int) -> Path:
        return self.owner_dir(owner) / f"grid_{_check(method)}.png"

    def checkpoint(self, method: str, owner: int | None = None) -> Path:
        suffix = "" if owner is None else f"_owner_{owner}"
        return self.root / "checkpoints" / f"{_check(method)}{suffix}.pt"


@dataclass(frozen=True)
class SweepLayout:
    """Paths inside one sweep folder."""

    STORE: ClassVar[str] = "results.sqlite"  # the result store's file name
    SNAPSHOT: ClassVar[str] = "snapshot"  # the store as small files (the copy to commit)
    CELLS: ClassVar[str] = "cells"  # folder of the cells' run folders

    root: Path

    @property
    def store(self) -> Path:
        return self.root / self.STORE

    @property
    def snapshot(self) -> Path:
        """The store as a folder of small files (:mod:`privshare.experiments.snapshot`)."""
        return self.root / self.SNAPSHOT

    @property
    def cells(self) -> Path:
        return self.root / self.CELLS

    @property
    def lock(self) -> Path:
        return self.root / ".sweep.lock"

    @property
    def packs(self) -> Path:
        """Checkpoints of packed privGAN trainings (``--pack``) while they run."""
        return self.root / "packs"

    @property
    def report(self) -> Path:
        return self.root / REPORT

    @classmethod
    def run_dir(cls, key: str) -> str:
        """Cell ``key``'s run folder relative to the sweep folder, as the store records it
        (``cells/<key>``)."""
        return str(Path(cls.CELLS) / key)


def _check(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"method {method!r} is not one of {', '.join(METHODS)}")
    return method
