"""Stored results, read back for figures: a sweep's result store or one run folder.

A sweep is read through :class:`privshare.experiments.store.ResultStore`
(opened read-only; standard-library SQLite) or, where only that is at hand,
from its snapshot of small files (:mod:`privshare.experiments.snapshot`); a
run folder with ``csv``, ``json`` and numpy. Building a report never imports
torch, never loads a model and never trains anything. Where the files lie is
:mod:`privshare.artifacts.layout`.

Every row carries its cell's grid position (``f0``, ``f1``: owner 0's and
owner 1's fraction; ``owners``: how many owners the cell has; a cell's
:attr:`~privshare.experiments.store.Cell.fractions` lists them all, so "owner
j's fraction" is ``fractions[j]``), and, in a sweep with axes, its cell's
value of every axis key (a column named by the key, e.g.
``train.privacy_weight``). A store
written before axes existed has no ``cell_axes`` table and reads as a sweep
without axes; one without a ``cell_fractions`` table (two-owner cells only,
those written before cells could hold more owners included) reads each
cell's owners as ``(f0, f1)``. A run folder reads as a sweep of one cell.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from privshare.artifacts.layout import RunLayout, SweepLayout, open_text, stored
from privshare.artifacts.scores import read_scores
from privshare.config.renamed import RENAMED_ATTACKS
from privshare.experiments.snapshot import INDEX, Snapshot, from_store, read_snapshot
from privshare.experiments.store import Cell, ResultStore, StoreError


class ResultsError(ValueError):
    """The path holds neither a sweep store nor an evaluated run folder."""


def fractions_text(cell: Cell) -> str:
    """A cell's owners' fractions in words: ``2 % / 10 % / 20 %``."""
    return " / ".join(f"{100 * f:g} %" for f in cell.fractions)


def setting_text(cell: Cell) -> str:
    """A cell's axis values in words (``train.privacy_weight = 0.1``); "" without axes."""
    return ", ".join(f"{k} = {value_text(v)}" for k, v in sorted(cell.axes.items()))


def _position(cell: Cell, owner: int | str) -> dict[str, float | None]:
    """The columns a row of ``owner`` gets from its cell: its and its partner's fraction."""
    return {"owner_fraction": cell.fraction(owner), "partner_fraction": cell.partner(owner)}


def value_text(value: Any) -> str:
    """An axis value as the report writes it: ``0.1``, ``true``, ``translation, cutout``."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return ", ".join(value_text(v) for v in value) or "(none)"
    return str(value)


@dataclass(frozen=True)
class ScoreSet:
    """Raw scores of one scorer on one owner's attack pool for one class."""

    kind: str  # gan | privgan_max | privgan_mean (attacks) | privgan_d (owner's own D_i)
    owner: str  # the owner whose members are attacked ("0", "1")
    cls: str  # class label
    groups: dict[str, np.ndarray]  # members, nonmembers (and other: the other owner's members)


def parse_scores(data: dict[str, np.ndarray]) -> list[ScoreSet]:
    """``scores.npz`` arrays named ``kind/owner/class/group`` -> :class:`ScoreSet` list."""
    sets: dict[tuple[str, str, str], dict[str, np.ndarray]] = {}
    for name, arr in data.items():
        parts = name.split("/")
        if len(parts) != 4:
            continue
        kind, owner, cls, group = parts
        sets.setdefault((kind, owner, cls), {})[group] = np.asarray(arr, dtype=np.float64)
    return [ScoreSet(kind=k, owner=o, cls=c, groups=g) for (k, o, c), g in sorted(sets.items())
            if "members" in g and "nonmembers" in g]


@dataclass
class Results:
    """Cells, long result rows and stored artifacts."""

    path: Path  # the store file or run folder read
    kind: str  # "sweep" | "run"
    meta: dict[str, Any]
    cells: list[Cell]
    rows: list[dict[str, Any]]
    artifacts: dict[tuple[int, str], bytes] = field(repr=False)
    _scores: dict[int, list[ScoreSet]] = field(default_factory=dict, repr=False)

    def cell(self, cell_id: int) -> Cell:
        return next(c for c in self.cells if c.id == cell_id)

    def artifact(self, cell_id: int, name: str) -> bytes | None:
        return self.artifacts.get((cell_id, name))

    def npz(self, cell_id: int, name: str) -> dict[str, np.ndarray] | None:
        data = self.artifact(cell_id, name)
        if data is None:
            return None
        with np.load(io.BytesIO(data), allow_pickle=False) as f:
            return {k: f[k] for k in f.files}

    def score_sets(self, cell_id: int) -> list[ScoreSet]:
        if cell_id not in self._scores:
            data = self.npz(cell_id, RunLayout.SCORES)
            self._scores[cell_id] = [] if data is None else parse_scores(read_scores(data))
        return self._scores[cell_id]

    def select(self, **where: Any) -> list[dict[str, Any]]:
        """Rows whose columns equal ``where`` (a tuple/set value means "any of")."""
        def ok(row: dict[str, Any]) -> bool:
            for k, v in where.items():
                if isinstance(v, (tuple, set, frozenset, list)):
                    if row.get(k) not in v:
                        return False
                elif row.get(k) != v:
                    return False
            return True
        return [r for r in self.rows if ok(r)]

    @property
    def axes(self) -> dict[str, list[Any]]:
        """Axis key -> its values in grid order ({} for a sweep without axes)."""
        found: dict[str, list[Any]] = {}
        for c in self.cells:
            for key, value in c.axes.items():
                if value not in found.setdefault(key, []):
                    found[key].append(value)
        return dict(sorted(found.items()))

    def restricted(self, values: dict[str, Any]) -> Results:
        """The cells (and their rows) whose axis values include ``values``."""
        ids = {c.id for c in self.cells if all(c.axes.get(k) == v for k, v in values.items())}
        return self._only(ids)

    def two_owner(self) -> Results:
        """The cells of two owners (and their rows): what the figures over the
        (owner 0, owner 1) grid are drawn from."""
        return self._only({c.id for c in self.cells if c.owners == 2})

    def _only(self, ids: set[int]) -> Results:
        return replace(self, cells=[c for c in self.cells if c.id in ids],
                       rows=[r for r in self.rows if r["cell_id"] in ids], _scores={})

    @property
    def fractions(self) -> list[float]:
        return sorted({f for c in self.cells for f in c.fractions})

    @property
    def classes(self) -> list[str]:
        found = {r["class"] for r in self.rows if r["class"] != "all"}

        def order(c: str) -> tuple[bool, int, str]:  # numeric labels first, in number order
            numeric = c.lstrip("-").isdigit()
            return (not numeric, int(c) if numeric else 0, c)

        return sorted(found, key=order)


def summarise(values: Iterable[float]) -> tuple[float, float, int]:
    """Mean, standard deviation (0 for one value) and count; NaN mean if empty."""
    vals = [float(v) for v in values if v is not None and np.isfinite(v)]
    if not vals:
        return float("nan"), float("nan"), 0
    return statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0, len(vals)


def load_results(path: str | Path) -> Results:
    """Read a sweep folder, its result store or its snapshot, or an evaluated run folder.

    A sweep folder is read from its live store when it has one, else from its snapshot
    (a fresh clone of a repository that commits only the snapshot)."""
    path = Path(path)
    if path.is_dir() and SweepLayout(path).store.is_file():
        path = SweepLayout(path).store
    elif path.is_dir() and (SweepLayout(path).snapshot / INDEX).is_file():
        path = SweepLayout(path).snapshot
    if path.is_dir() and (path / INDEX).is_file():
        return _refuse_old_names(_from_snapshot(path), folder=path.parent)
    if path.is_file():
        return _refuse_old_names(_from_store(path), folder=path.parent)
    if path.is_dir() and RunLayout(path).manifest.is_file():
        return _refuse_old_names(_from_run(path), folder=path)
    raise ResultsError(f"{str(path)!r} is neither a sweep folder, a {SweepLayout.STORE} store, "
                       "a sweep's snapshot nor a run folder; pass what `privshare sweep` or "
                       "`privshare run` wrote")


def _refuse_old_names(res: Results, *, folder: Path) -> Results:
    """``res``, unless it was stored under a name since renamed (:mod:`privshare.config.renamed`)."""
    old = sorted({r["source"] for r in res.rows} & set(RENAMED_ATTACKS))
    if old:
        raise ResultsError(
            f"{str(folder)!r} stores rows of {old[0]!r}, which is now named "
            f"{RENAMED_ATTACKS[old[0]]!r}; rewrite its stored names once with "
            f"`python -m benchmarks.migrate_central_names {folder}`, then report again")
    return res


def _from_store(path: Path) -> Results:
    try:
        with ResultStore(path, read_only=True) as store:
            content = from_store(store)
    except StoreError as err:
        raise ResultsError(str(err)) from err
    return _sweep_results(path, content)


def _from_snapshot(folder: Path) -> Results:
    try:
        content = read_snapshot(folder)
    except StoreError as err:
        raise ResultsError(str(err)) from err
    return _sweep_results(folder, content)


def _sweep_results(path: Path, content: Snapshot) -> Results:
    """A sweep's stored content as a result set: each row joined with its cell."""
    by_id = {c.id: c for c in content.cells}
    rows = content.rows
    for r in rows:
        c = by_id[r["cell_id"]]
        r.update(cell=c.key, cell_method=c.method, f0=c.f0, f1=c.f1, owners=c.owners,
                 seed=c.seed, **_position(c, r["owner"]), **c.axes)
    return Results(path=path, kind="sweep", meta=content.meta, cells=content.cells, rows=rows,
                   artifacts=content.artifacts)


def _from_run(root: Path) -> Results:
    """One evaluated run folder as a one-cell result set (``metrics.csv`` + files)."""
    layout = RunLayout(root)
    metrics = layout.metrics_csv
    if stored(metrics) is None:
        raise ResultsError(f"run {str(root)!r} has no {metrics.name}; evaluate it first "
                           "(privshare evaluate RUN_DIR)")
    config = tomllib.loads(layout.config.read_text())
    manifest = json.loads(layout.manifest.read_text())
    fractions = tuple(float(f) for f in config["data"]["fractions"])
    cell = Cell(key=root.name, method="run", fractions=fractions, seed=config["seed"],
                run_seed=config["seed"], run_dir=".", config=config, id=0,
                status=manifest.get("status", "done"))
    with open_text(metrics) as fh:
        rows = [normalise_row(r) for r in csv.DictReader(fh)]
    for r in rows:
        r.update(cell_id=0, cell=cell.key, cell_method="run", f0=cell.f0, f1=cell.f1,
                 owners=cell.owners, seed=cell.seed, mirrored=0, **_position(cell, r["owner"]))
    artifacts: dict[tuple[int, str], bytes] = {}
    if layout.scores.is_file():
        artifacts[(0, RunLayout.SCORES)] = layout.scores.read_bytes()
    if layout.evaluated:
        with open_text(layout.metrics_json) as fh:
            artifacts[(0, RunLayout.METRICS_JSON)] = fh.read().encode()
    for npz in root.glob("owner_*/synthetic_*.npz"):
        owner = npz.parent.name.removeprefix("owner_")
        method = npz.stem.removeprefix("synthetic_")
        artifacts[(0, f"samples_{method}_owner{owner}.npz")] = npz.read_bytes()
    meta = {"spec": {"name": root.name, "run": True}, "info": manifest.get("versions", {}),
            "created": manifest.get("finished", "")}
    return Results(path=root, kind="run", meta=meta, cells=[cell], rows=rows, artifacts=artifacts)


def normalise_row(row: dict[str, Any]) -> dict[str, Any]:
    """A CSV row of the evaluation's long format, typed like a store row."""
    def num(v: Any, kind: type) -> Any:
        return None if v in (None, "", "nan", "None") else kind(float(v))
    return {"source": row.get("source") or row.get("method"), "owner": str(row["owner"]),
            "eval_seed": num(row.get("seed", row.get("eval_seed")), int),
            "metric": row["metric"], "class": str(row["class"]),
            "value": num(row["value"], float), "n": num(row.get("n"), int)}
