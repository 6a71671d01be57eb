"""Rewrite stored results under the central discriminator's names (``dp`` became ``central``).

    python -m benchmarks.migrate_central_names FOLDER [FOLDER ...] [--dry-run]

Finds every run folder (``config.toml`` beside ``run.json``) and every sweep
store (``results.sqlite``) under each FOLDER and renames, with the one table
of :mod:`privshare.config.renamed` (``train.dp_delay`` -> ``train.central_delay``,
``train.dp_pretrain_epochs`` -> ``train.central_pretrain_epochs``, source
``privgan_dp`` -> ``privgan_central``, scorer ``dp_attribution`` ->
``central_attribution``) and the loss and file names below:

run folder (each file replaced whole, through a temporary file and a rename)
    config.toml           the two ``[train]`` keys
    history.json          privGAN's per-epoch loss ``dp`` -> ``central``
    metrics.json          ``source`` of ``rows`` and ``summary``, ``config.attacks``
    metrics.csv           the ``source`` column
    scores.npz            arrays ``privgan_dp/<owner>/<class>/<group>``
    central/privgan_dp.pt renamed ``central/privgan_central.pt`` (contents unchanged)
    checkpoints/*.pt      ``config``, ``history`` and, in a federated owner's
                          checkpoint, its saved reply's ``dp_steps`` / ``dp_share``
sweep store (one transaction, then the WAL folded into the file)
    meta 'spec'           the ``set`` and ``evaluate`` override strings
    cells.config          each cell's run config (JSON)
    results.source        ``privgan_dp`` rows
    artifacts             each cell's ``metrics.json`` and ``scores.npz``, as above

Nothing else is touched: not the DP-SGD baseline's names (``dpgan``,
``[dpsgd]``), not logs, not reports (build them again). A store whose sweep
has an axis on a renamed key is refused (its cell keys and folders carry the
old key). Each folder is locked as ``privshare`` locks it, so a sweep or run
still working there is refused. Running it again changes nothing.
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import re
import sqlite3
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w

from privshare.artifacts.layout import RunLayout, SweepLayout
from privshare.artifacts.lock import exclusive
from privshare.atomic import atomic_path, write_json_atomic, write_text_atomic
from privshare.config.renamed import RENAMED_ATTACKS, RENAMED_SETTINGS
from privshare.experiments.store import packed, stored_name, unpacked

LOSS = {"dp": "central"}  # history.json: privGAN's loss of the central discriminator
REPLY_METRICS = {"dp_steps": "central_steps", "dp_share": "central_share"}  # federated owner
OLD_MODEL = "central/privgan_dp.pt"
# the words of a renamed name as override strings spell them (train.dp_delay=1, attacks = [...])
_WORDS = {**{k.split(".")[-1]: v.split(".")[-1] for k, v in RENAMED_SETTINGS.items()},
          **RENAMED_ATTACKS}
_WORD = re.compile(r"(?<![A-Za-z0-9_])(" + "|".join(map(re.escape, _WORDS)) + r")(?![A-Za-z0-9_])")


class MigrationError(RuntimeError):
    """A folder cannot be rewritten as it is; the message says why."""


def renamed_keys(table: dict[str, Any], names: dict[str, str], *, where: str) -> dict[str, Any]:
    """``table`` with keys renamed by ``names``, in place of the old ones (order kept)."""
    out = {names.get(k, k): v for k, v in table.items()}
    if len(out) != len(table):
        raise MigrationError(f"{where} holds both an old and a new name among {sorted(table)}")
    return out


def run_config(config: dict[str, Any], *, where: str) -> dict[str, Any]:
    """A run config (nested dict) with its renamed ``section.key`` settings."""
    out = dict(config)
    for old, new in RENAMED_SETTINGS.items():
        section = old.split(".")[0]
        if isinstance(out.get(section), dict):
            names = {old.split(".")[1]: new.split(".")[1]}
            out[section] = renamed_keys(out[section], names, where=f"{where} [{section}]")
    return out


def history(doc: dict[str, Any], *, where: str) -> dict[str, Any]:
    return {method: [renamed_keys(e, LOSS, where=where) if method == "privgan" else e
                     for e in epochs] for method, epochs in doc.items()}


def metrics_doc(doc: dict[str, Any]) -> dict[str, Any]:
    """An evaluation's metrics.json: sources of its rows and summary, its attack settings."""
    doc = copy.deepcopy(doc)
    for row in doc.get("rows", []) + doc.get("summary", []):
        row["source"] = RENAMED_ATTACKS.get(row.get("source"), row.get("source"))
    settings = doc.get("config", {})
    if "attacks" in settings:
        settings["attacks"] = [RENAMED_ATTACKS.get(a, a) for a in settings["attacks"]]
    return doc


def metrics_json(data: bytes, *, where: str) -> bytes | None:
    """New bytes of a metrics.json (written as the evaluation writes it), None if unchanged."""
    doc = json.loads(data)
    new = metrics_doc(doc)
    return None if new == doc else json.dumps(new, indent=1, sort_keys=True).encode()


def scores_npz(data: bytes, *, where: str) -> bytes | None:
    """New bytes of a scores.npz (``kind/owner/class/group`` arrays), None if unchanged."""
    with np.load(io.BytesIO(data), allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}

    def name(key: str) -> str:
        kind, sep, rest = key.partition("/")
        return RENAMED_ATTACKS.get(kind, kind) + sep + rest

    if all(name(k) == k for k in arrays):
        return None
    renamed = renamed_keys(arrays, {k: name(k) for k in arrays}, where=where)
    buf = io.BytesIO()
    np.savez_compressed(buf, **renamed)
    return buf.getvalue()


def metrics_csv(text: str) -> str | None:
    """The long rows with the first column (``source``) renamed; None if unchanged."""
    lines = []
    for line in text.splitlines(keepends=True):
        source, sep, rest = line.partition(",")
        lines.append(RENAMED_ATTACKS.get(source, source) + sep + rest)
    new = "".join(lines)
    return None if new == text else new


def checkpoint(payload: dict[str, Any], *, where: str) -> dict[str, Any] | None:
    """A training checkpoint with its names renamed; None if it holds none."""
    config = run_config(payload["config"], where=where)
    epochs = [renamed_keys(e, LOSS, where=where) for e in payload["history"]]
    state = payload.get("state") or {}
    reply = state.get("last_reply")  # a federated owner's saved answer to its last round
    metrics = reply.get("metrics") if isinstance(reply, dict) else None
    renamed = renamed_keys(metrics, REPLY_METRICS, where=where) if metrics else metrics
    if config == payload["config"] and epochs == payload["history"] and renamed == metrics:
        return None
    out = dict(payload, config=config, history=epochs)
    if renamed != metrics:
        out["state"] = dict(state, last_reply=dict(reply, metrics=renamed))
    return out


def migrate_run(root: Path, *, write: bool) -> list[str]:
    """Rewrite one run folder; return what changed (or would, without ``write``)."""
    layout, changed = RunLayout(root), []

    def update(path: Path, new: Any, save: Callable[[Path, Any], None]) -> None:
        if new is not None:
            changed.append(str(path.relative_to(root)))
            if write:
                save(path, new)

    config = tomllib.loads(layout.config.read_text())
    new = run_config(config, where=str(layout.config))
    update(layout.config, None if new == config else tomli_w.dumps(new), write_text_atomic)
    if layout.history.is_file():
        doc = json.loads(layout.history.read_text())
        new = history(doc, where=str(layout.history))
        update(layout.history, None if new == doc else new, write_json_atomic)
    if layout.metrics_json.is_file():
        update(layout.metrics_json, metrics_json(layout.metrics_json.read_bytes(),
                                                 where=str(layout.metrics_json)), _write_bytes)
    if layout.metrics_csv.is_file():
        update(layout.metrics_csv, metrics_csv(layout.metrics_csv.read_text()), write_text_atomic)
    if layout.scores.is_file():
        update(layout.scores, scores_npz(layout.scores.read_bytes(), where=str(layout.scores)),
               _write_bytes)
    checkpoints = sorted((root / "checkpoints").glob("*.pt"))
    if checkpoints:  # torch is imported only where there are checkpoints to rewrite
        from privshare.training.checkpoint import save_checkpoint
    for path in checkpoints:
        update(path, _checkpoint_file(path), save_checkpoint)
    old = root / OLD_MODEL
    if old.is_file():
        if layout.central_model.exists():
            raise MigrationError(f"{str(root)!r} holds both {OLD_MODEL} and "
                                 f"{layout.central_model.relative_to(root)}; keep one")
        changed.append(f"{OLD_MODEL} -> {layout.central_model.relative_to(root)}")
        if write:
            old.replace(layout.central_model)
    return changed


def migrate_store(path: Path, *, write: bool) -> list[str]:
    """Rewrite one sweep store in one transaction; return what changed (or would)."""
    con = sqlite3.connect(path, isolation_level=None, timeout=60.0)
    try:
        con.execute("PRAGMA synchronous=FULL")
        con.execute("BEGIN IMMEDIATE")  # waits for (then refuses) a writer that holds the store
        try:
            changed = _store_changes(con, where=str(path))
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT" if write else "ROLLBACK")
        if write and changed:  # fold the WAL into the file, which is what a copy or git keeps
            busy, _, _ = con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if busy:
                changed.append("(the WAL could not be folded in: a reader held it; the changes "
                               "are committed in results.sqlite-wal)")
    finally:
        con.close()
    return changed


def _store_changes(con: sqlite3.Connection, *, where: str) -> list[str]:
    changed = []
    spec = json.loads(con.execute("SELECT value FROM meta WHERE key = 'spec'").fetchone()[0])
    stale = [k for k in spec.get("axes", {}) if k in RENAMED_SETTINGS]
    if stale:
        raise MigrationError(f"{where}: the sweep has an axis on {stale[0]!r}, so its cell keys "
                             "and cell folders carry the old name; run the sweep again with "
                             f"{RENAMED_SETTINGS[stale[0]]!r} instead")
    new = dict(spec, **{k: [_WORD.sub(lambda m: _WORDS[m.group(1)], s) for s in spec[k]]
                        for k in ("set", "evaluate") if k in spec})
    if new != spec:
        con.execute("UPDATE meta SET value = ? WHERE key = 'spec'", (json.dumps(new),))
        changed.append("meta spec")
    cells = 0
    for cell_id, text in con.execute("SELECT id, config FROM cells").fetchall():
        config = json.loads(text)
        new = run_config(config, where=f"{where} cell {cell_id}")
        if new != config:
            con.execute("UPDATE cells SET config = ? WHERE id = ?", (json.dumps(new), cell_id))
            cells += 1
    rows = sum(con.execute("UPDATE results SET source = ? WHERE source = ?", (new, old)).rowcount
               for old, new in RENAMED_ATTACKS.items())
    artifacts = 0
    for name, rewrite in ((RunLayout.METRICS_JSON, metrics_json), (RunLayout.SCORES, scores_npz)):
        stored = [name, stored_name(name)]  # as written, or gzipped (ResultStore.finish)
        for cell_id, as_stored, data in con.execute(
                "SELECT cell_id, name, data FROM artifacts WHERE name IN (?, ?)",
                stored).fetchall():
            new = rewrite(unpacked(as_stored, bytes(data))[1], where=f"{where} cell {cell_id} {name}")
            if new is not None:
                con.execute("UPDATE artifacts SET data = ? WHERE cell_id = ? AND name = ?",
                            (packed(name, new)[1], cell_id, as_stored))
                artifacts += 1
    changed += [f"{n} {what}" for n, what in ((cells, "cell configs"), (rows, "result rows"),
                                             (artifacts, "artifacts")) if n]
    return changed


def _write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def _checkpoint_file(path: Path) -> dict[str, Any] | None:
    import torch

    return checkpoint(torch.load(path, map_location="cpu", weights_only=True), where=str(path))


def _locked(lock: Path, work: Callable[[], list[str]]) -> list[str]:
    """``work()`` holding ``lock`` as privshare holds it; a lock file made here is removed."""
    made = not lock.exists()
    try:
        with exclusive(lock, lambda: MigrationError(
                f"another privshare process works in {str(lock.parent)!r}; stop it first")):
            return work()
    finally:
        if made:
            lock.unlink(missing_ok=True)


def migrate(folder: Path, *, write: bool = True) -> dict[str, list[str]]:
    """Every store and run folder under ``folder`` -> what changed in it (or would)."""
    out = {}
    for store in sorted(folder.rglob(SweepLayout.STORE)):
        out[str(store)] = _locked(SweepLayout(store.parent).lock,
                                  lambda: migrate_store(store, write=write))
    for config in sorted(folder.rglob("config.toml")):
        root = config.parent
        if RunLayout(root).manifest.is_file():
            out[str(root)] = _locked(RunLayout(root).lock, lambda: migrate_run(root, write=write))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--dry-run", action="store_true", help="say what would change; write nothing")
    args = parser.parse_args(argv)
    for folder in args.folders:
        if not folder.is_dir():
            parser.error(f"{str(folder)!r} is not a folder")
    try:
        for folder in args.folders:
            for where, changed in migrate(folder, write=not args.dry_run).items():
                print(f"{where}: {', '.join(changed) if changed else 'nothing to rename'}")
    except MigrationError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
