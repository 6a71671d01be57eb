"""The sweep's result store: one SQLite file (standard library), WAL journal.

Tables::

    meta(key, value)               sweep spec (JSON), creation date, versions
    cells(id, key, method, f0, f1, seed, run_seed, status, mirror_of, attempts,
          error, pid, started_at, finished_at, elapsed_s, run_dir, config)
    results(cell_id, source, owner, eval_seed, metric, class, value, n, mirrored)
    artifacts(cell_id, name, data)   small files the report needs (samples, scores)
    cell_axes(cell_id, key, value)   a cell's axis values (value: JSON), one row per axis
    cell_fractions(cell_id, owner, fraction)   every owner's fraction, one row per owner

``cell_axes`` is made only for a sweep with axes (:mod:`privshare.experiments.axes`),
so a sweep without them writes the same tables as before axes existed, and
a store without the table (of either kind) reads as a sweep without axes.
Likewise ``cell_fractions`` is made only for a sweep with a cell of more than
two owners (it then holds every owner of every cell); ``f0`` and ``f1`` stay
owner 0's and owner 1's fractions, and a store without the table (every store
of two-owner cells, those written before cells could hold more owners
included) reads each cell's owners as ``(f0, f1)``.

``status`` is pending | running | done | failed. A cell's result rows, its
artifacts and its ``done`` status are written in ONE transaction
(:meth:`ResultStore.finish`), so a process killed at any moment leaves either
the whole cell or nothing; ``(cell_id, source, owner, eval_seed, metric,
class)`` is the primary key, so a row cannot be stored twice.
"""

from __future__ import annotations

import csv
import errno
import json
import logging
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

STATUSES = ("pending", "running", "done", "failed")
RESULT_COLUMNS = ("source", "owner", "eval_seed", "metric", "class", "value", "n")
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cells (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    method TEXT NOT NULL,
    f0 REAL NOT NULL,
    f1 REAL NOT NULL,
    seed INTEGER NOT NULL,
    run_seed INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'running', 'done', 'failed')),
    mirror_of INTEGER REFERENCES cells(id),
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    pid INTEGER,
    started_at TEXT,
    finished_at TEXT,
    elapsed_s REAL,
    run_dir TEXT NOT NULL,
    config TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
    cell_id INTEGER NOT NULL REFERENCES cells(id),
    source TEXT NOT NULL,
    owner TEXT NOT NULL,
    eval_seed INTEGER NOT NULL,
    metric TEXT NOT NULL,
    class TEXT NOT NULL,
    value REAL,
    n INTEGER,
    mirrored INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (cell_id, source, owner, eval_seed, metric, class)
);
CREATE TABLE IF NOT EXISTS artifacts (
    cell_id INTEGER NOT NULL REFERENCES cells(id),
    name TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (cell_id, name)
);
"""
AXES_SCHEMA = """
CREATE TABLE IF NOT EXISTS cell_axes (
    cell_id INTEGER NOT NULL REFERENCES cells(id),
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (cell_id, key)
)
"""
FRACTIONS_SCHEMA = """
CREATE TABLE IF NOT EXISTS cell_fractions (
    cell_id INTEGER NOT NULL REFERENCES cells(id),
    owner INTEGER NOT NULL,
    fraction REAL NOT NULL,
    PRIMARY KEY (cell_id, owner)
)
"""


class StoreError(ValueError):
    """The store file is missing, belongs to another sweep, or cannot be written."""


@dataclass(frozen=True)
class CellSpec:
    """A cell to create: ``mirror_of`` names the key of the cell it copies (or None)."""

    key: str
    method: str
    f0: float
    f1: float
    seed: int
    run_seed: int
    run_dir: str
    config: str  # the cell's resolved run config, JSON
    mirror_of: str | None = None
    axes: dict[str, Any] = field(default_factory=dict)  # axis key -> this cell's value
    fractions: tuple[float, ...] = ()  # every owner's fraction, owner 0 first (() = (f0, f1))

    def __post_init__(self) -> None:
        _complete_fractions(self)


def _complete_fractions(cell: CellSpec | Cell) -> None:
    """``fractions`` as given, or ``(f0, f1)`` when empty; it must start with ``f0, f1``."""
    if not cell.fractions:
        object.__setattr__(cell, "fractions", (cell.f0, cell.f1))
    object.__setattr__(cell, "fractions", tuple(float(f) for f in cell.fractions))
    if len(cell.fractions) < 2 or cell.fractions[:2] != (cell.f0, cell.f1):
        raise ValueError(f"cell {cell.key!r}: fractions {list(cell.fractions)} must list two or "
                         f"more owners and start with f0={cell.f0}, f1={cell.f1}")


@dataclass(frozen=True)
class Cell:
    """A cell as stored."""

    id: int
    key: str
    method: str
    f0: float
    f1: float
    seed: int
    run_seed: int
    status: str
    mirror_of: int | None
    attempts: int
    error: str | None
    run_dir: str
    elapsed_s: float | None
    axes: dict[str, Any] = field(default_factory=dict)  # axis key -> value ({} without axes)
    fractions: tuple[float, ...] = ()  # every owner's fraction, owner 0 first (() = (f0, f1))

    def __post_init__(self) -> None:
        _complete_fractions(self)


def read_fractions(con: sqlite3.Connection) -> dict[int, tuple[float, ...]]:
    """cell id -> every owner's fraction; {} for a store of two-owner cells only (or one
    older than cells of more owners): each cell's owners are then its ``(f0, f1)``."""
    if con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = "
                   "'cell_fractions'").fetchone() is None:
        return {}
    out: dict[int, list[float]] = {}
    for cell_id, _, fraction in con.execute("SELECT cell_id, owner, fraction FROM "
                                            "cell_fractions ORDER BY cell_id, owner"):
        out.setdefault(cell_id, []).append(fraction)
    return {k: tuple(v) for k, v in out.items()}


def extra_fraction_columns(fractions: dict[int, tuple[float, ...]]) -> list[str]:
    """``f2``, ``f3``, ... up to the largest cell's last owner ([] for two-owner cells)."""
    owners = max((len(f) for f in fractions.values()), default=2)
    return [f"f{j}" for j in range(2, owners)]


def read_axes(con: sqlite3.Connection) -> dict[int, dict[str, Any]]:
    """cell id -> its axis values; {} for a store without axes (or older than them)."""
    if con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'cell_axes'"
                   ).fetchone() is None:
        return {}
    out: dict[int, dict[str, Any]] = {}
    for cell_id, key, value in con.execute("SELECT cell_id, key, value FROM cell_axes"
                                           " ORDER BY key"):
        out.setdefault(cell_id, {})[key] = json.loads(value)
    return out


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def swap_owner(owner: str) -> str:
    """Owner label of a mirrored row: "0" <-> "1"; pooled labels stay."""
    return {"0": "1", "1": "0"}.get(owner, owner)


# SQLite's messages for faults of the machine rather than of the input, as errno codes,
# so that the command line reports them as every other filesystem fault (exit 3)
_SQLITE_OS_FAULTS = {
    "database or disk is full": errno.ENOSPC,
    "disk i/o error": errno.EIO,
    "attempt to write a readonly database": errno.EROFS,
    "unable to open database file": errno.EACCES,
}


def _as_os_error(err: sqlite3.OperationalError, path: Path) -> OSError | None:
    """The OSError a SQLite fault of the disk stands for, naming the store; None for other errors."""
    text = str(err).lower()
    for message, code in _SQLITE_OS_FAULTS.items():
        if message in text:
            return OSError(code, f"{os.strerror(code)} (SQLite: {err})", str(path))
    return None


class ResultStore:
    """Read and write one sweep's SQLite file. Use as a context manager."""

    def __init__(self, path: str | Path, *, create: bool = False) -> None:
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise StoreError(f"result store {str(self.path)!r} does not exist; run the sweep first")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = sqlite3.connect(self.path, isolation_level=None, timeout=60.0)
            self._con.row_factory = sqlite3.Row
            self._con.execute("PRAGMA journal_mode=WAL")
            self._con.execute("PRAGMA synchronous=FULL")
            self._con.execute("PRAGMA foreign_keys=ON")
            if create:
                self._con.executescript(SCHEMA)
        except sqlite3.OperationalError as err:
            fault = _as_os_error(err, self.path)
            if fault is None:
                raise
            raise fault from err

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``; any exception rolls everything back.

        A full disk, an I/O error or a read-only file is raised as an
        :class:`OSError` naming the store (nothing of the transaction is kept).
        """
        try:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                yield self._con
            except BaseException:
                if self._con.in_transaction:
                    self._con.execute("ROLLBACK")
                raise
            self._con.execute("COMMIT")
        except sqlite3.OperationalError as err:
            if self._con.in_transaction:
                self._con.execute("ROLLBACK")
            fault = _as_os_error(err, self.path)
            if fault is None:
                raise
            raise fault from err

    # -- setting up -------------------------------------------------------
    def meta(self) -> dict[str, Any]:
        return {r["key"]: json.loads(r["value"]) for r in self._con.execute("SELECT * FROM meta")}

    def initialise(self, *, spec: dict[str, Any], cells: Sequence[CellSpec],
                   info: dict[str, Any]) -> int:
        """Record the sweep and its cells; a second call checks the spec is unchanged.

        Returns the number of cells added.
        """
        with self.transaction() as con:
            row = con.execute("SELECT value FROM meta WHERE key = 'spec'").fetchone()
            if row is not None and json.loads(row["value"]) != spec:
                raise StoreError(
                    f"{str(self.path)!r} holds a sweep with another spec "
                    f"({json.loads(row['value'])}); use another --out-dir or sweep name")
            if row is None:
                con.execute("INSERT INTO meta VALUES ('spec', ?)", (json.dumps(spec),))
                con.execute("INSERT INTO meta VALUES ('created', ?)", (json.dumps(_now()),))
                con.execute("INSERT INTO meta VALUES ('info', ?)", (json.dumps(info),))
            before = con.execute("SELECT COUNT(*) FROM cells").fetchone()[0]
            if any(c.axes for c in cells):
                con.execute(AXES_SCHEMA)
            many_owners = any(len(c.fractions) > 2 for c in cells)
            if many_owners:  # every owner of every cell, or (as before) no table at all
                con.execute(FRACTIONS_SCHEMA)
            for c in sorted(cells, key=lambda c: c.mirror_of is not None):  # sources first
                mirror = None
                if c.mirror_of is not None:
                    mirror = con.execute("SELECT id FROM cells WHERE key = ?",
                                         (c.mirror_of,)).fetchone()["id"]
                added = con.execute(
                    "INSERT OR IGNORE INTO cells (key, method, f0, f1, seed, run_seed, mirror_of,"
                    " run_dir, config) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (c.key, c.method, c.f0, c.f1, c.seed, c.run_seed, mirror, c.run_dir, c.config))
                if added.rowcount and c.axes:
                    con.executemany("INSERT INTO cell_axes VALUES (?, ?, ?)",
                                    [(added.lastrowid, k, json.dumps(v))
                                     for k, v in c.axes.items()])
                if added.rowcount and many_owners:
                    con.executemany("INSERT INTO cell_fractions VALUES (?, ?, ?)",
                                    [(added.lastrowid, j, f) for j, f in enumerate(c.fractions)])
            return con.execute("SELECT COUNT(*) FROM cells").fetchone()[0] - before

    # -- reading ----------------------------------------------------------
    def cells(self, *, status: str | Sequence[str] | None = None) -> list[Cell]:
        sql, args = "SELECT * FROM cells", ()
        if status is not None:
            wanted = (status,) if isinstance(status, str) else tuple(status)
            sql += f" WHERE status IN ({','.join('?' * len(wanted))})"
            args = wanted
        rows = self._con.execute(sql + " ORDER BY id", args).fetchall()
        axes, fractions = read_axes(self._con), read_fractions(self._con)
        columns = [k for k in Cell.__dataclass_fields__ if k not in ("axes", "fractions")]
        return [Cell(**{k: r[k] for k in columns}, axes=axes.get(r["id"], {}),
                     fractions=fractions.get(r["id"], ())) for r in rows]

    def axis_keys(self) -> list[str]:
        """The sweep's axis keys, sorted ([] without axes)."""
        return sorted({k for values in read_axes(self._con).values() for k in values})

    def results(self) -> list[dict[str, Any]]:
        """Every result row joined with its cell's grid coordinates and axis values
        (one column per axis key, named by the key: ``train.privacy_weight``). In a
        sweep with cells of more than two owners, ``f2``, ``f3``, ... follow ``f0``
        and ``f1`` (None past a cell's last owner)."""
        sql = ("SELECT c.key AS cell, c.method, c.f0, c.f1, c.seed, c.run_seed, r.* "
               "FROM results r JOIN cells c ON c.id = r.cell_id ORDER BY r.rowid")
        axes, fractions = read_axes(self._con), read_fractions(self._con)
        extra = extra_fraction_columns(fractions)

        def more(cell_id: int) -> dict[str, float | None]:
            owners = fractions.get(cell_id, ())
            return {name: owners[j] if j < len(owners) else None
                    for j, name in enumerate(extra, start=2)}

        return [{**dict(r), **more(r["cell_id"]), **axes.get(r["cell_id"], {})}
                for r in self._con.execute(sql)]

    def cell_config(self, cell_id: int) -> dict[str, Any]:
        """The resolved run config of a cell, as a plain dict."""
        row = self._con.execute("SELECT config FROM cells WHERE id = ?", (cell_id,)).fetchone()
        if row is None:
            raise StoreError(f"no cell with id {cell_id} in {str(self.path)!r}")
        return json.loads(row["config"])

    def artifact(self, cell_id: int, name: str) -> bytes | None:
        row = self._con.execute("SELECT data FROM artifacts WHERE cell_id = ? AND name = ?",
                                (cell_id, name)).fetchone()
        return None if row is None else bytes(row["data"])

    # -- writing a cell's life ---------------------------------------------
    def mark_running(self, cell_id: int) -> None:
        with self.transaction() as con:
            con.execute("UPDATE cells SET status = 'running', attempts = attempts + 1, pid = ?,"
                        " started_at = ?, error = NULL WHERE id = ?", (os.getpid(), _now(), cell_id))

    def mark_failed(self, cell_id: int, error: str) -> None:
        with self.transaction() as con:
            con.execute("UPDATE cells SET status = 'failed', error = ?, finished_at = ? "
                        "WHERE id = ?", (error, _now(), cell_id))

    def finish(self, cell_id: int, *, rows: Sequence[dict[str, Any]],
               artifacts: dict[str, bytes], elapsed_s: float) -> None:
        """Write a cell's rows and artifacts and mark it done, all in one transaction.

        Cells that mirror this one (``mirror_of``) get the same rows with the
        owners swapped (``mirrored = 1``) and the owner-named artifacts, in the
        same transaction.
        """
        with self.transaction() as con:
            targets = [(cell_id, False)] + [
                (r["id"], True) for r in
                con.execute("SELECT id FROM cells WHERE mirror_of = ?", (cell_id,))]
            for target, mirrored in targets:
                con.execute("DELETE FROM results WHERE cell_id = ?", (target,))
                con.execute("DELETE FROM artifacts WHERE cell_id = ?", (target,))
                con.executemany(
                    "INSERT INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(target, r["source"], swap_owner(str(r["owner"])) if mirrored else str(r["owner"]),
                      int(r["eval_seed"]), r["metric"], str(r["class"]),
                      None if r["value"] is None else float(r["value"]),
                      None if r.get("n") is None else int(r["n"]), int(mirrored)) for r in rows])
                names = artifacts if not mirrored else mirror_artifacts(artifacts)
                con.executemany("INSERT INTO artifacts VALUES (?, ?, ?)",
                                [(target, name, data) for name, data in names.items()])
                con.execute("UPDATE cells SET status = 'done', error = NULL, finished_at = ?,"
                            " elapsed_s = ? WHERE id = ?", (_now(), elapsed_s, target))

    # -- export -------------------------------------------------------------
    def export(self, path: str | Path, *, fmt: str = "csv") -> Path:
        """Write :meth:`results` as CSV or Parquet (pyarrow, a dependency).

        Every owner's fraction is a column (``f0``, ``f1``, then ``f2``, ... in a sweep
        with cells of more owners; empty past a cell's last owner). Axis values follow
        as one column per axis key; a list value is written as JSON.
        """
        path, keys = Path(path), self.axis_keys()
        rows = [{**r, **{k: json.dumps(r[k]) for k in keys if isinstance(r.get(k), list)}}
                for r in self.results()]
        extra = extra_fraction_columns(read_fractions(self._con))
        columns = ["cell", "method", "f0", "f1", *extra, "seed", "run_seed", *RESULT_COLUMNS,
                   "mirrored", *keys]
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "csv":
            with path.open("w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
                writer.writeheader()
                writer.writerows(rows)
            return path
        if fmt == "parquet":
            try:
                import pyarrow as pa
                import pyarrow.parquet as pq
            except ImportError as err:
                raise StoreError("Parquet export needs pyarrow, which is not installed; "
                                 "pip install pyarrow, or export CSV") from err
            pq.write_table(pa.table({c: [r.get(c) for r in rows] for c in columns}), path)
            return path
        raise StoreError(f"export format {fmt!r}: choose csv or parquet")


def mirror_artifacts(artifacts: dict[str, bytes]) -> dict[str, bytes]:
    """Owner-named artifacts (``..._owner0...``) renamed for the mirrored cell."""
    out = {}
    for name, data in artifacts.items():
        if "_owner0" in name:
            out[name.replace("_owner0", "_owner1")] = data
        elif "_owner1" in name:
            out[name.replace("_owner1", "_owner0")] = data
    return out
