"""The sweep's result store: one SQLite file (standard library), WAL journal.

Tables::

    meta(key, value)               sweep spec (JSON), creation date, versions
    cells(id, key, method, f0, f1, seed, run_seed, status, mirror_of, attempts,
          error, pid, started_at, finished_at, elapsed_s, run_dir, config)
    results(cell_id, source, owner, eval_seed, metric, class, value, n, mirrored)
    artifacts(cell_id, name, data)   small files the report needs (samples, scores); a
                                     text file is stored gzipped as <name>.gz and read
                                     back under its own name
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

Every read of a store goes through :class:`ResultStore` (reports open it with
``read_only=True``). A cell, planned or stored, is one :class:`Cell`; its
``mirror_of`` is the key of the cell it mirrors (the table holds that cell's id).
The store's file name and the sweep folder around it are
:class:`privshare.artifacts.layout.SweepLayout`.
"""

from __future__ import annotations

import csv
import errno
import gzip
import json
import logging
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from privshare.artifacts.layout import GZ  # suffix of an artifact stored gzipped

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
class Cell:
    """One cell of a sweep: planned (``id`` None, ``pending``) or read back from the store.

    ``f0`` and ``f1`` (owner 0's and owner 1's fraction, the grid position the
    ``cells`` table stores) are the first two of ``fractions``.
    """

    key: str  # unique in the sweep: privgan-f0.02-f0.2-s0, then -axis=value per axis
    method: str  # privgan | gan | dpgan (a run folder read as one cell: "run")
    fractions: tuple[float, ...]  # every owner's fraction, owner 0 first (two or more)
    seed: int  # the replicate's root seed
    run_seed: int  # the seed its run trains with, derived from seed and grid position
    run_dir: str  # its run folder, relative to the sweep folder (SweepLayout.run_dir)
    config: dict[str, Any]  # its resolved run config
    mirror_of: str | None = None  # key of the cell whose rows it copies, owners swapped
    axes: dict[str, Any] = field(default_factory=dict)  # axis key -> value ({} without axes)
    id: int | None = None  # its row in the store (None until stored)
    status: str = "pending"  # pending | running | done | failed
    attempts: int = 0  # times a sweep process started it
    error: str | None = None  # the last failure's traceback
    elapsed_s: float | None = None  # training and evaluation time of the stored result

    def __post_init__(self) -> None:
        object.__setattr__(self, "fractions", tuple(float(f) for f in self.fractions))
        if len(self.fractions) < 2:
            raise ValueError(f"cell {self.key!r}: fractions {list(self.fractions)} must list "
                             "two or more owners, owner 0 first")

    @property
    def f0(self) -> float:
        return self.fractions[0]

    @property
    def f1(self) -> float:
        return self.fractions[1]

    @property
    def owners(self) -> int:
        return len(self.fractions)

    def fraction(self, owner: int | str) -> float | None:
        """Fraction of owner ``owner`` in this cell (None for pooled rows)."""
        text = str(owner)
        return self.fractions[int(text)] if text.isdigit() and int(text) < self.owners else None

    def partner(self, owner: int | str) -> float | None:
        """Fraction of the other owner of a two-owner cell (None for pooled rows and for
        cells of more owners, where there is no one other owner)."""
        if self.owners != 2 or self.fraction(owner) is None:
            return None
        return self.fractions[1 - int(str(owner))]


def _read_fractions(con: sqlite3.Connection) -> dict[int, tuple[float, ...]]:
    """cell id -> every owner's fraction; {} for a store of two-owner cells only (or one
    older than cells of more owners): each cell's owners are then its ``(f0, f1)``."""
    if not _has_table(con, "cell_fractions"):
        return {}
    out: dict[int, list[float]] = {}
    for cell_id, _, fraction in con.execute("SELECT cell_id, owner, fraction FROM "
                                            "cell_fractions ORDER BY cell_id, owner"):
        out.setdefault(cell_id, []).append(fraction)
    return {k: tuple(v) for k, v in out.items()}


def _read_axes(con: sqlite3.Connection) -> dict[int, dict[str, Any]]:
    """cell id -> its axis values; {} for a store without axes (or older than them)."""
    if not _has_table(con, "cell_axes"):
        return {}
    out: dict[int, dict[str, Any]] = {}
    for cell_id, key, value in con.execute("SELECT cell_id, key, value FROM cell_axes"
                                           " ORDER BY key"):
        out.setdefault(cell_id, {})[key] = json.loads(value)
    return out


def _has_table(con: sqlite3.Connection, name: str) -> bool:
    return con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                       (name,)).fetchone() is not None


def _extra_fraction_columns(cells: Iterable[Cell]) -> list[str]:
    """``f2``, ``f3``, ... up to the largest cell's last owner ([] for two-owner cells)."""
    owners = max((c.owners for c in cells), default=2)
    return [f"f{j}" for j in range(2, owners)]


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
    """Read and write one sweep's SQLite file. Use as a context manager.

    ``read_only=True`` opens an existing store for reading only (what reports
    do, even while a sweep process writes it): the file is never changed and
    one that is not a result store is refused with a :class:`StoreError`.
    """

    def __init__(self, path: str | Path, *, create: bool = False, read_only: bool = False) -> None:
        self.path = Path(path)
        if create and read_only:
            raise ValueError("create=True and read_only=True: a store opened read-only "
                             "cannot be created; pass one of them")
        if not create and not self.path.is_file():
            raise StoreError(f"result store {str(self.path)!r} does not exist; run the sweep first")
        if read_only:
            self._con = sqlite3.connect(f"{self.path.absolute().as_uri()}?mode=ro", uri=True,
                                        timeout=60.0)
            self._con.row_factory = sqlite3.Row
            self._check_tables()
            return
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

    def _check_tables(self) -> None:
        """Refuse a file that is not a result store (closing it first)."""
        try:
            missing = [t for t in ("meta", "cells", "results", "artifacts")
                       if not _has_table(self._con, t)]
            problem = f"no such table: {', '.join(missing)}" if missing else None
        except sqlite3.DatabaseError as err:
            problem = str(err)
        if problem is not None:
            self._con.close()
            raise StoreError(f"{str(self.path)!r} is not a privshare result store: {problem}")

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
    def initialise(self, *, spec: dict[str, Any], cells: Sequence[Cell],
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
                    (c.key, c.method, c.f0, c.f1, c.seed, c.run_seed, mirror, c.run_dir,
                     json.dumps(c.config)))
                if added.rowcount and c.axes:
                    con.executemany("INSERT INTO cell_axes VALUES (?, ?, ?)",
                                    [(added.lastrowid, k, json.dumps(v))
                                     for k, v in c.axes.items()])
                if added.rowcount and many_owners:
                    con.executemany("INSERT INTO cell_fractions VALUES (?, ?, ?)",
                                    [(added.lastrowid, j, f) for j, f in enumerate(c.fractions)])
            return con.execute("SELECT COUNT(*) FROM cells").fetchone()[0] - before

    # -- reading ----------------------------------------------------------
    def meta(self) -> dict[str, Any]:
        """The sweep's ``spec``, its ``created`` date and ``info`` (versions)."""
        return {r["key"]: json.loads(r["value"]) for r in self._con.execute("SELECT * FROM meta")}

    def cells(self, *, status: str | Sequence[str] | None = None) -> list[Cell]:
        """The stored cells in the order they were planned (all, or those of ``status``)."""
        sql, args = ("SELECT c.*, m.key AS mirror_key FROM cells c "
                     "LEFT JOIN cells m ON m.id = c.mirror_of"), ()
        if status is not None:
            wanted = (status,) if isinstance(status, str) else tuple(status)
            sql += f" WHERE c.status IN ({','.join('?' * len(wanted))})"
            args = wanted
        rows = self._con.execute(sql + " ORDER BY c.id", args).fetchall()
        axes, fractions = _read_axes(self._con), _read_fractions(self._con)
        return [Cell(key=r["key"], method=r["method"],
                     fractions=fractions.get(r["id"], (r["f0"], r["f1"])), seed=r["seed"],
                     run_seed=r["run_seed"], run_dir=r["run_dir"], config=json.loads(r["config"]),
                     mirror_of=r["mirror_key"], axes=axes.get(r["id"], {}), id=r["id"],
                     status=r["status"], attempts=r["attempts"], error=r["error"],
                     elapsed_s=r["elapsed_s"]) for r in rows]

    def cell_times(self) -> dict[int, dict[str, str | None]]:
        """cell id -> when its last attempt started and finished (ISO dates, or None)."""
        return {r["id"]: {"started_at": r["started_at"], "finished_at": r["finished_at"]}
                for r in self._con.execute("SELECT id, started_at, finished_at FROM cells")}

    def axis_keys(self) -> list[str]:
        """The sweep's axis keys, sorted ([] without axes)."""
        return sorted({k for values in _read_axes(self._con).values() for k in values})

    def rows(self) -> list[dict[str, Any]]:
        """Every result row as stored (``cell_id``, ``source``, ``owner``, ``eval_seed``,
        ``metric``, ``class``, ``value``, ``n``, ``mirrored``), in the order written."""
        return [dict(r) for r in self._con.execute("SELECT * FROM results ORDER BY rowid")]

    def results(self) -> list[dict[str, Any]]:
        """Every result row joined with its cell's grid coordinates and axis values
        (one column per axis key, named by the key: ``train.privacy_weight``). In a
        sweep with cells of more than two owners, ``f2``, ``f3``, ... follow ``f0``
        and ``f1`` (None past a cell's last owner)."""
        cells = {c.id: c for c in self.cells()}
        extra = _extra_fraction_columns(cells.values())

        def joined(row: dict[str, Any]) -> dict[str, Any]:
            c = cells[row["cell_id"]]
            more = {name: c.fractions[j] if j < c.owners else None
                    for j, name in enumerate(extra, start=2)}
            return {"cell": c.key, "method": c.method, "f0": c.f0, "f1": c.f1, "seed": c.seed,
                    "run_seed": c.run_seed, **row, **more, **c.axes}

        return [joined(r) for r in self.rows()]

    def artifact(self, cell_id: int, name: str) -> bytes | None:
        """The bytes of a cell's artifact ``name`` (gzipped or not in the store), or None."""
        row = self._con.execute(
            "SELECT name, data FROM artifacts WHERE cell_id = ? AND name IN (?, ?)",
            (cell_id, name, name + GZ)).fetchone()
        return None if row is None else unpacked(row["name"], bytes(row["data"]))[1]

    def artifacts(self) -> dict[tuple[int, str], bytes]:
        """Every stored artifact: (cell id, name) -> its bytes."""
        return {(r["cell_id"], name): data for r in self._con.execute("SELECT * FROM artifacts")
                for name, data in [unpacked(r["name"], bytes(r["data"]))]}

    def rewrite_artifacts(self, name: str, rewrite: Callable[[bytes], bytes]) -> int:
        """Replace every cell's artifact ``name`` by ``rewrite(its bytes)``, all in one
        transaction (a rewrite that raises changes nothing); returns how many changed."""
        with self.transaction() as con:
            rows = con.execute("SELECT cell_id, name, data FROM artifacts WHERE name IN (?, ?)",
                               (name, name + GZ)).fetchall()
            changed = 0
            for r in rows:
                old = unpacked(r["name"], bytes(r["data"]))[1]
                new = rewrite(old)
                if new != old:
                    _replace_artifact(con, r["cell_id"], r["name"], *packed(name, new))
                    changed += 1
        return changed

    def compact(self) -> tuple[int, int]:
        """Gzip every text artifact stored plain (stores written before artifacts were packed),
        then VACUUM; returns the file's (bytes before, bytes after). The same bytes read back."""
        self._con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        before = self.path.stat().st_size
        with self.transaction() as con:
            plain = con.execute("SELECT cell_id, name, data FROM artifacts").fetchall()
            for r in plain:
                name, data = packed(r["name"], bytes(r["data"]))
                if name != r["name"]:
                    _replace_artifact(con, r["cell_id"], r["name"], name, data)
        self._con.execute("VACUUM")
        self._con.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # VACUUM went through the WAL
        return before, self.path.stat().st_size

    def load(self, *, meta: dict[str, Any], cells: Sequence[Cell],
             rows: Iterable[dict[str, Any]], artifacts: dict[tuple[int, str], bytes],
             times: dict[int, dict[str, str | None]]) -> None:
        """Fill an empty store with content read elsewhere (a snapshot,
        :mod:`privshare.experiments.snapshot`): cells keep their ids, statuses and attempts,
        rows and artifacts their cells. One transaction; a store with cells is refused."""
        with self.transaction() as con:
            if con.execute("SELECT COUNT(*) FROM cells").fetchone()[0]:
                raise StoreError(f"{str(self.path)!r} already holds cells; load into a new store")
            con.executemany("INSERT INTO meta VALUES (?, ?)",
                            [(k, json.dumps(v)) for k, v in meta.items()])
            ids = {c.key: c.id for c in cells}
            if any(c.axes for c in cells):
                con.execute(AXES_SCHEMA)
            many_owners = any(c.owners > 2 for c in cells)
            if many_owners:
                con.execute(FRACTIONS_SCHEMA)
            for c in sorted(cells, key=lambda c: c.mirror_of is not None):  # sources first
                when = times.get(c.id, {})
                con.execute(
                    "INSERT INTO cells (id, key, method, f0, f1, seed, run_seed, status,"
                    " mirror_of, attempts, error, started_at, finished_at, elapsed_s, run_dir,"
                    " config) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (c.id, c.key, c.method, c.f0, c.f1, c.seed, c.run_seed, c.status,
                     ids.get(c.mirror_of), c.attempts, c.error, when.get("started_at"),
                     when.get("finished_at"), c.elapsed_s, c.run_dir, json.dumps(c.config)))
                if c.axes:
                    con.executemany("INSERT INTO cell_axes VALUES (?, ?, ?)",
                                    [(c.id, k, json.dumps(v)) for k, v in c.axes.items()])
                if many_owners:
                    con.executemany("INSERT INTO cell_fractions VALUES (?, ?, ?)",
                                    [(c.id, j, f) for j, f in enumerate(c.fractions)])
            con.executemany("INSERT INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            [(r["cell_id"], r["source"], r["owner"], r["eval_seed"], r["metric"],
                              r["class"], r["value"], r["n"], r["mirrored"]) for r in rows])
            con.executemany("INSERT INTO artifacts VALUES (?, ?, ?)",
                            [(cell_id, *packed(name, data))
                             for (cell_id, name), data in artifacts.items()])

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
                                [(target, *packed(name, data)) for name, data in names.items()])
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
        extra = _extra_fraction_columns(self.cells())
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


PACKED = (".json", ".csv", ".txt")  # text artifacts: gzip makes them about 14 times smaller


def _replace_artifact(con: sqlite3.Connection, cell_id: int, old_name: str, name: str,
                      data: bytes) -> None:
    """Store ``data`` as cell ``cell_id``'s artifact ``name`` in place of ``old_name``."""
    con.execute("DELETE FROM artifacts WHERE cell_id = ? AND name = ?", (cell_id, old_name))
    con.execute("INSERT INTO artifacts VALUES (?, ?, ?)", (cell_id, name, data))


def stored_name(name: str) -> str:
    """The name artifact ``name`` is stored under: ``<name>.gz`` for a text file."""
    return name + GZ if name.endswith(PACKED) else name


def packed(name: str, data: bytes) -> tuple[str, bytes]:
    """How an artifact is stored: a text file gzipped under ``<name>.gz`` (mtime 0, so the same
    bytes pack the same), anything else (npz, already compressed) as it is."""
    stored = stored_name(name)
    return stored, gzip.compress(data, compresslevel=6, mtime=0) if stored != name else data


def unpacked(name: str, data: bytes) -> tuple[str, bytes]:
    """Inverse of :func:`packed`: (the name it was written under, its bytes)."""
    if name.endswith(GZ):
        return name.removesuffix(GZ), gzip.decompress(data)
    return name, data


def mirror_artifacts(artifacts: dict[str, bytes]) -> dict[str, bytes]:
    """Owner-named artifacts (``..._owner0...``) renamed for the mirrored cell."""
    out = {}
    for name, data in artifacts.items():
        if "_owner0" in name:
            out[name.replace("_owner0", "_owner1")] = data
        elif "_owner1" in name:
            out[name.replace("_owner1", "_owner0")] = data
    return out
