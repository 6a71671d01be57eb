"""A sweep's result store as plain files, small enough to commit, and back.

The SQLite store (:mod:`privshare.experiments.store`) is the live copy a
sweep writes; one file of tens of MB is a poor thing to keep in git. The
snapshot holds the same content as a folder of small files::

    snapshot/
      store.json                    format, the sweep's meta (spec, created, info)
                                    and every cell: key, method, fractions, seeds,
                                    status, attempts, run folder, config, axes, ...
      rows/<cell key>.csv.gz        the cell's result rows (done cells only)
      artifacts/<cell key>/<name>   its artifacts as the store keeps them (text
                                    files gzipped as <name>.gz, npz as they are)

Every file is written whole or not at all (:mod:`privshare.atomic`), only when
its bytes change, and always the same bytes for the same content (JSON in the
store's own key order, gzip without a time stamp, floats in their shortest exact
form), so a commit of a snapshot shows just the cells that changed. ``store.json``
is written last: a snapshot cut short by a kill lists only cells whose files are
complete.

:func:`read_snapshot` gives what a report needs (no SQLite involved);
:func:`restore` rebuilds the live store from it, cell ids and all, so a sweep
started on a machine that has only the snapshot resumes where it stopped. A
sweep writes its snapshot after each cell it stores
(:func:`privshare.experiments.sweep.run_sweep`), having first refused a store that
lacks done cells the snapshot holds (:func:`check_not_behind`).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from privshare.atomic import atomic_path
from privshare.experiments.store import Cell, ResultStore, StoreError, packed, unpacked

FORMAT = "privshare-sweep-snapshot-v1"
INDEX = "store.json"
ROWS = "rows"
ARTIFACTS = "artifacts"
ROW_FIELDS = ("source", "owner", "eval_seed", "metric", "class", "value", "n", "mirrored")
# the cells table's columns a snapshot keeps beside the Cell's own fields (pid is the
# writing process's, meaningless elsewhere)
TIMES = ("started_at", "finished_at")


@dataclass(frozen=True)
class Snapshot:
    """A store's content read from a snapshot folder (or a live store)."""

    meta: dict[str, Any]
    cells: list[Cell]  # in planned order, ids as in the store
    rows: list[dict[str, Any]]  # as ResultStore.rows() gives them
    artifacts: dict[tuple[int, str], bytes]  # (cell id, name) -> bytes, unpacked
    times: dict[int, dict[str, str | None]]  # cell id -> started_at / finished_at


def _write(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` unless it already holds exactly that; True if written."""
    if path.is_file() and path.read_bytes() == data:
        return False
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return True


def _gzip(text: str) -> bytes:
    return gzip.compress(text.encode(), compresslevel=9, mtime=0)


def _rows_csv(rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(ROW_FIELDS)
    for r in rows:
        writer.writerow(["" if r[k] is None else repr(r[k]) if k == "value" else r[k]
                         for k in ROW_FIELDS])
    return _gzip(out.getvalue())


def _cell_entry(cell: Cell, times: dict[str, str | None]) -> dict[str, Any]:
    return {"id": cell.id, "key": cell.key, "method": cell.method,
            "fractions": list(cell.fractions), "seed": cell.seed, "run_seed": cell.run_seed,
            "run_dir": cell.run_dir, "config": cell.config, "mirror_of": cell.mirror_of,
            "axes": cell.axes, "status": cell.status, "attempts": cell.attempts,
            "error": cell.error, "elapsed_s": cell.elapsed_s, **times}


def from_store(store: ResultStore) -> Snapshot:
    """The content of an open store, in the form a snapshot holds."""
    cells = store.cells()
    return Snapshot(meta=store.meta(), cells=cells, rows=store.rows(),
                    artifacts=store.artifacts(), times=store.cell_times())


def write_snapshot(store: ResultStore, folder: str | Path) -> int:
    """Write (or bring up to date) the snapshot of ``store`` in ``folder``; returns how many
    files were written (0 when it was already up to date). Files of cells the store no
    longer holds as done are removed."""
    folder, snap = Path(folder), from_store(store)
    by_cell: dict[int, list[dict[str, Any]]] = {}  # in the order the store wrote the cells
    for r in snap.rows:
        by_cell.setdefault(r["cell_id"], []).append(r)
    keys = {c.id: c.key for c in snap.cells}
    done = {c.id: c.key for c in snap.cells if c.status == "done"}
    files: dict[Path, bytes] = {folder / ROWS / f"{key}.csv.gz": _rows_csv(by_cell.get(i, []))
                                for i, key in done.items()}
    for (cell_id, name), data in snap.artifacts.items():
        if cell_id in done:
            stored, blob = packed(name, data)
            files[folder / ARTIFACTS / done[cell_id] / stored] = blob
    written = sum(_write(path, data) for path, data in sorted(files.items()))
    for old in [p for sub in (ROWS, ARTIFACTS) for p in (folder / sub).rglob("*")
                if p.is_file() and p not in files]:
        old.unlink()
        written += 1
    for empty in sorted((folder / ARTIFACTS).glob("*/"), reverse=True):
        if empty.is_dir() and not any(empty.iterdir()):
            empty.rmdir()
    index = {"format": FORMAT, "meta": snap.meta,
             "cells": [_cell_entry(c, snap.times.get(c.id, {})) for c in snap.cells],
             "row_order": [keys[cell_id] for cell_id in by_cell]}
    written += _write(folder / INDEX, (json.dumps(index, indent=1) + "\n").encode())
    return written


def check_not_behind(store: ResultStore, folder: str | Path) -> None:
    """Refuse to let ``store`` overwrite a snapshot that holds done cells it lacks (a snapshot
    pulled from a repository where more cells were run than this machine's store holds)."""
    folder = Path(folder)
    if not (folder / INDEX).is_file():
        return
    # store.json alone says which cells are done: no need to read their rows and artifacts
    ahead = sorted({e["key"] for e in _read_index(folder)["cells"] if e["status"] == "done"}
                   - {c.key for c in store.cells(status="done")})
    if ahead:
        raise StoreError(
            f"{str(folder)!r} holds {len(ahead)} done cell(s) that {str(store.path)!r} lacks "
            f"(first: {ahead[0]!r}); move {store.path.name} away so that the sweep rebuilds "
            "it from the snapshot, or delete the snapshot to keep the store's cells")


def _refuse(folder: Path, why: str) -> StoreError:
    return StoreError(f"{str(folder)!r} is not a privshare sweep snapshot: {why}; pass the "
                      "snapshot folder a sweep wrote (its store.json beside rows/ and artifacts/)")


def _typed_row(cell_id: int, row: dict[str, str]) -> dict[str, Any]:
    return {"cell_id": cell_id, "source": row["source"], "owner": row["owner"],
            "eval_seed": int(row["eval_seed"]), "metric": row["metric"], "class": row["class"],
            "value": None if row["value"] == "" else float(row["value"]),
            "n": None if row["n"] == "" else int(row["n"]), "mirrored": int(row["mirrored"])}


def _read_index(folder: Path) -> dict[str, Any]:
    """A snapshot's ``store.json``, checked to be one; refused in one line if not."""
    index_path = folder / INDEX
    if not index_path.is_file():
        raise _refuse(folder, f"it has no {INDEX}")
    try:
        index = json.loads(index_path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise _refuse(folder, f"{INDEX} is not JSON ({err})") from err
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        found = index.get("format") if isinstance(index, dict) else None
        raise _refuse(folder, f"{INDEX} has format {found!r}, expected {FORMAT!r}")
    return index


def read_snapshot(folder: str | Path) -> Snapshot:
    """Read a snapshot folder; a folder that is not one is refused in one line."""
    folder = Path(folder)
    index = _read_index(folder)
    cells, rows_of, artifacts, times = [], {}, {}, {}
    for entry in index["cells"]:
        cell = Cell(key=entry["key"], method=entry["method"], fractions=entry["fractions"],
                    seed=entry["seed"], run_seed=entry["run_seed"], run_dir=entry["run_dir"],
                    config=entry["config"], mirror_of=entry["mirror_of"], axes=entry["axes"],
                    id=entry["id"], status=entry["status"], attempts=entry["attempts"],
                    error=entry["error"], elapsed_s=entry["elapsed_s"])
        cells.append(cell)
        times[cell.id] = {k: entry.get(k) for k in TIMES}
        if cell.status != "done":
            continue
        rows_path = folder / ROWS / f"{cell.key}.csv.gz"
        if not rows_path.is_file():
            raise _refuse(folder, f"done cell {cell.key!r} has no {ROWS}/{rows_path.name}")
        with gzip.open(rows_path, "rt", newline="") as fh:
            rows_of[cell.key] = [_typed_row(cell.id, r) for r in csv.DictReader(fh)]
        for path in sorted((folder / ARTIFACTS / cell.key).glob("*")):
            name, data = unpacked(path.name, path.read_bytes())
            artifacts[(cell.id, name)] = data
    order = [k for k in index["row_order"] if k in rows_of]  # the store's order of writing
    rows = [r for key in order + sorted(set(rows_of) - set(order)) for r in rows_of[key]]
    return Snapshot(meta=index["meta"], cells=cells, rows=rows, artifacts=artifacts, times=times)


def restore(folder: str | Path, store_path: str | Path) -> int:
    """Rebuild the live store ``store_path`` (which must not exist) from the snapshot in
    ``folder``; returns the number of cells. Written whole or not at all."""
    store_path = Path(store_path)
    if store_path.exists():
        raise StoreError(f"{str(store_path)!r} exists; restore a snapshot only where there is "
                         "no store (move the store away first)")
    snap = read_snapshot(folder)
    with atomic_path(store_path) as tmp:
        with ResultStore(tmp, create=True) as store:
            store.load(meta=snap.meta, cells=snap.cells, rows=snap.rows,
                       artifacts=snap.artifacts, times=snap.times)
        # closing the last connection moved the WAL into the file and removed it
    return len(snap.cells)
