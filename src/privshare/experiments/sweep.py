"""Resumable sweeps over owner fractions (and any axes): plan cells, run them, store results.

The sweep folder ``out_dir / spec.name`` is laid out as
:class:`~privshare.artifacts.layout.SweepLayout` says: the result store
(:mod:`privshare.experiments.store`) and its snapshot of small files, rewritten
after each stored cell (:mod:`privshare.experiments.snapshot`; a folder with
only the snapshot, a fresh clone of a repository that commits it, resumes from
it), one run folder per trained cell, and the lock held while a sweep process
works on the folder.

Each cell trains with :func:`~privshare.experiments.run.run_experiment` on a
derived config and is evaluated with ``evaluate_run``; its rows, a few
synthetic samples and the raw attack scores go into the store in one
transaction. Starting the same sweep again skips done cells, retries the
rest (a ``running`` cell left by a killed process included; training resumes
from the run's checkpoints) and, by default, the failed ones.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import importlib
import io
import json
import logging
import platform
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

import privshare
from privshare.artifacts.layout import RunLayout, SweepLayout
from privshare.artifacts.lock import exclusive
from privshare.artifacts.scores import first_seed_scores, metrics_without_rows
from privshare.config import ConfigError, RunConfig, config_from_dict, config_to_dict, validate
from privshare.experiments import axes, snapshot
from privshare.experiments.engines import EngineSettings, open_engine
from privshare.experiments.grids import EVALUATOR, SweepSpec
from privshare.experiments.store import Cell, ResultStore
from privshare.faults import kill_point
from privshare.seeding import derive_seed

log = logging.getLogger(__name__)

STAGE_SWEEP = 5  # seeding stage of per-cell run seeds (after STAGE_EVALUATION = 4)
METHOD_INDEX = {"privgan": 0, "gan": 1, "dpgan": 2}
SAMPLES_PER_CLASS = 10  # synthetic images per class and owner kept in the store for the figures

# progress(cell, event, detail): event is "start" | "done" | "failed"
SweepProgress = Callable[[Cell, str, str], None]


class SweepError(RuntimeError):
    """The sweep folder is busy or inconsistent."""


@dataclass(frozen=True)
class SweepResult:
    """What one call of :func:`run_sweep` did."""

    root: Path  # the sweep folder
    store: Path  # its SQLite file
    cells: int  # cells in the grid (mirrored ones included)
    already_done: int  # cells that were done before this call (not recomputed)
    ran: int  # cells trained and evaluated by this call
    failed: dict[str, str]  # key -> error of cells that failed in this call
    elapsed_s: float


def cell_key(method: str, fractions: Sequence[float], *, seed: int,
             values: dict[str, Any] | None = None) -> str:
    """``privgan-f0.02-f0.2-s0`` (one ``-f`` per owner: ``privgan-f0.02-f0.1-f0.2-s0``),
    then one ``-key=value`` per axis (sorted by key)."""
    return (f"{method}-" + "-".join(f"f{f:g}" for f in fractions) + f"-s{seed}"
            + axes.suffix(values or {}))


def _bp(f: float) -> int:
    return int(round(f * 10_000))  # fraction in basis points, an integer seed key


def cell_config(base: RunConfig, *, method: str, fractions: Sequence[float], seed: int,
                root: Path, values: dict[str, Any] | None = None) -> RunConfig:
    """The run config of one cell: every owner's fraction, method, derived seed, folder.

    The run seed's spawn key holds each owner's fraction in basis points, so
    a two-owner cell keeps the seed it had before cells could hold more owners.

    ``base`` already holds the cell's axis ``values``; they only name the cell
    here. The run seed does not depend on them (see :mod:`privshare.experiments.axes`).
    A base with ``data.class_shares`` is refused: the table fixes every share,
    so the cells' fractions would change nothing but their names.
    """
    if base.data.class_shares:
        raise ConfigError(
            "data.class_shares fixes every owner's share of every class, so a sweep over "
            "fractions would train one split under many names; drop it from the sweep's settings "
            "(data.dirichlet draws around each cell's fractions) or run the table alone")
    fractions = tuple(float(f) for f in fractions)
    return replace(
        base,
        name=cell_key(method, fractions, seed=seed, values=values),
        out_dir=str(SweepLayout(root).cells),
        seed=derive_seed(seed, STAGE_SWEEP, METHOD_INDEX[method], *map(_bp, fractions)),
        data=replace(base.data, fractions=fractions),
        train=replace(base.train, methods=(method,)),
    )


def plan_cells(spec: SweepSpec, *, root: Path) -> list[Cell]:
    """Every cell of the grid: privGAN over (fractions x columns) or the explicit cells
    (two or more owners each), one two-owner GAN per fraction, each once per combination
    of axis values (the innermost loop)."""
    base = spec.base_config()
    combos = [(values, axes.apply(base, values, where=spec.name))
              for values in axes.combinations(spec.axes)]
    cells = []

    def add(method: str, fractions: tuple[float, ...], seed: int, mirror: bool = False) -> None:
        for values, combo in combos:
            cfg = cell_config(combo, method=method, fractions=fractions, seed=seed, root=root,
                              values=values)
            if values:
                validate(cfg)  # e.g. a key too long for a folder name, before anything is written
            mirrored = cell_key(method, fractions[::-1], seed=seed, values=values)
            cells.append(Cell(
                key=cfg.name, method=method, fractions=fractions, seed=seed, run_seed=cfg.seed,
                run_dir=SweepLayout.run_dir(cfg.name), config=config_to_dict(cfg),
                mirror_of=mirrored if mirror else None, axes=values))

    every = sorted(set(spec.fractions) | set(spec.columns))
    for seed in spec.seeds:
        if "privgan" in spec.methods:
            for fractions in spec.privgan_cells():
                if not spec.fits(fractions):  # only the cross gets here (explicit cells fit)
                    log.warning("cell %s skipped: no rows left as attack non-members",
                                list(fractions))
                    continue
                add("privgan", fractions, seed,
                    mirror=spec.symmetric and fractions[0] > fractions[1])
        for local in [m for m in ("gan", "dpgan") if m in spec.methods]:
            for f in every:  # owner 0's GAN serves every cell where an owner has f
                partner = f if spec.fits((f, f)) else every[0]
                add(local, (f, partner), seed)  # owner 1: a second replicate (at f when it fits)
    return cells


def _lock(root: Path):
    """One sweep process per folder (the kernel drops the lock if the process dies)."""
    return exclusive(SweepLayout(root).lock, lambda: SweepError(
        f"another sweep process is working on {str(root)!r}; wait for it or stop it first"))


def _npz_bytes(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def _artifacts(run: Any, run_dir: Path) -> dict[str, bytes]:
    """A few synthetic images per class and owner, the raw attack scores of the first
    evaluation seed (:func:`~privshare.artifacts.scores.first_seed_scores`) and the
    evaluation's settings and counts (metrics.json without the rows the results table
    holds: :func:`~privshare.artifacts.scores.metrics_without_rows`)."""
    out = {}
    for method in run.methods:
        for j in range(run.owners):
            with np.load(run.layout.synthetic(method, j)) as data:
                x, y = data["x"], data["y"]
            keep = np.concatenate([np.flatnonzero(y == c)[:SAMPLES_PER_CLASS] for c in run.classes])
            out[f"samples_{method}_owner{j}.npz"] = _npz_bytes(x=x[keep], y=y[keep])
    if (run_dir / RunLayout.SCORES).is_file():
        out[RunLayout.SCORES] = first_seed_scores((run_dir / RunLayout.SCORES).read_bytes())
    if (run_dir / RunLayout.METRICS_JSON).is_file():
        out[RunLayout.METRICS_JSON] = metrics_without_rows(
            (run_dir / RunLayout.METRICS_JSON).read_bytes())
    return out


def _resolve(evaluator: str) -> Callable[..., Any]:
    module, _, name = evaluator.partition(":")
    return getattr(importlib.import_module(module), name)


def execute_cell(config_json: str, *, eval_seeds: tuple[int, ...], threads: int | None = None,
                 evaluator: str = EVALUATOR, eval_settings: tuple[str, ...] = ()) -> dict[str, Any]:
    """Train and evaluate one cell; returns rows, artifacts and the time taken.

    Runs in a Ray worker process with the ray engine or ``--workers`` > 1.
    ``evaluator`` is ``"module:function"``, called as ``f(run, seeds=...)``,
    plus ``config=`` the evaluation settings built from ``eval_settings``
    (``key=value`` strings) when there are any.
    """
    import torch

    from privshare.experiments.run import run_experiment

    if threads is not None:
        torch.set_num_threads(threads)
    start = time.perf_counter()
    config = config_from_dict(json.loads(config_json))
    run = run_experiment(config)
    extra = {}
    if eval_settings:
        from privshare.evaluation.config import load_eval_config

        extra["config"] = load_eval_config(overrides=eval_settings)
    evaluation = _resolve(evaluator)(run, seeds=eval_seeds, **extra)
    rows = [_store_row(r) for r in evaluation_rows(evaluation)]
    return {"rows": rows, "artifacts": _artifacts(run, run.root),
            "elapsed_s": time.perf_counter() - start}


def evaluation_rows(evaluation: Any) -> list[dict[str, Any]]:
    """The long-format rows of an ``evaluate_run`` result."""
    rows = getattr(evaluation, "rows", evaluation)
    return [r if isinstance(r, dict) else dataclasses.asdict(r) for r in rows]


def _store_row(row: dict[str, Any]) -> dict[str, Any]:
    return {"source": row.get("source", row.get("method")), "owner": row["owner"],
            "eval_seed": row["seed"], "metric": row["metric"], "class": row["class"],
            "value": row["value"], "n": row.get("n")}


def _guarded(config_json: str, spec: SweepSpec, threads: int | None) -> dict:
    """:func:`execute_cell` with any error turned into a picklable traceback string."""
    try:
        return {"ok": execute_cell(config_json, eval_seeds=spec.eval_seeds, threads=threads,
                                   evaluator=spec.evaluator, eval_settings=spec.evaluation)}
    except Exception:  # a failed cell must not stop the others
        return {"error": traceback.format_exc(limit=8)}


def _cell_json(cell: Cell, root: Path) -> str:
    """The stored config of ``cell`` with its folder placed under this sweep's root."""
    return json.dumps({**cell.config, "out_dir": str(SweepLayout(root).cells.resolve())})


def _record(store: ResultStore, cell: Cell, outcome: dict, failed: dict[str, str],
            progress: SweepProgress | None, drop_under: Path | None = None) -> None:
    if "ok" in outcome:
        out = outcome["ok"]
        store.finish(cell.id, rows=out["rows"], artifacts=out["artifacts"],
                     elapsed_s=out["elapsed_s"])
        kill_point("sweep:cell-stored")
        if drop_under is not None:  # only after the commit: the store has what reports need
            for model in (drop_under / cell.run_dir).rglob("*.pt"):
                model.unlink()
        log.info("cell %s done in %.1f s", cell.key, out["elapsed_s"])
        if progress:
            progress(cell, "done", f"{out['elapsed_s']:.1f} s")
    else:
        store.mark_failed(cell.id, outcome["error"])
        failed[cell.key] = outcome["error"].strip().splitlines()[-1]
        log.warning("cell %s failed: %s", cell.key, failed[cell.key])
        if progress:
            progress(cell, "failed", failed[cell.key])


def _train_packs(cells: Sequence[Cell], *, root: Path, size: int, threads: int | None) -> None:
    """Train the privGANs of ``cells`` in packs of up to ``size`` runs that may share one;
    a pack that fails leaves its cells to train one by one."""
    import torch

    from privshare.experiments.packed import train_privgan_packed
    from privshare.training.packing import pack_signature

    if threads is not None:
        torch.set_num_threads(threads)
    groups: dict[str, list[RunConfig]] = {}
    for cell in cells:
        if cell.method == "privgan":
            config = config_from_dict(json.loads(_cell_json(cell, root)))
            groups.setdefault(pack_signature(config), []).append(config)
    for members in groups.values():
        for i in range(0, len(members), size):
            chunk = members[i:i + size]
            if len(chunk) < 2:
                continue
            try:
                train_privgan_packed(chunk, checkpoints=SweepLayout(root).packs)
            except Exception as err:  # noqa: BLE001 - the cells then train alone
                log.warning("packed privGAN of %s failed, they train one by one: %s",
                            ", ".join(c.name for c in chunk), err)


def _cell_filter(patterns: Sequence[str], keys: Sequence[str]) -> Callable[[str], bool]:
    """A predicate over cell keys: true for all when ``patterns`` is empty."""
    if not patterns:
        return lambda key: True
    for pattern in patterns:
        if not fnmatch.filter(keys, pattern):
            shown = ", ".join(keys[:4]) + (", ..." if len(keys) > 4 else "")
            raise SweepError(f"--only {pattern!r} matches no cell of this grid; "
                             f"its cell keys look like: {shown}")
    return lambda key: any(fnmatch.fnmatchcase(key, p) for p in patterns)


def run_sweep(
    spec: SweepSpec,
    *,
    out_dir: str | Path,
    workers: int = 1,
    threads: int | None = None,
    retry_failed: bool = True,
    drop_models: bool = False,
    progress: SweepProgress | None = None,
    engine: EngineSettings | None = None,
    only: Sequence[str] = (),
    pack: int = 0,
) -> SweepResult:
    """Run (or resume) every unfinished cell of ``spec`` under ``out_dir / spec.name``.

    ``engine`` says where cells run (:mod:`privshare.experiments.engines`):
    in this process (``local``, the default, with ``threads`` torch threads;
    None keeps torch's default) or as Ray tasks. ``workers`` > 1 with the
    local engine runs that many cells at once as tasks of a Ray instance
    started on this machine, one CPU and one thread each (small networks
    run fastest on one thread). Whatever the engine, this process alone
    writes the store. A cell that raises is marked failed; the others go on.
    ``drop_models`` deletes a cell's model files once its results are stored
    (reports never need them; the paper grid's models take tens of GB).
    ``only``: shell-style patterns over cell keys (``gan-*``, ``privgan-f0.1-*``);
    when given, just the unfinished cells matching one of them run now, the
    rest stay pending. Each pattern must match a cell of the grid.
    ``pack`` >= 2: before the cells run, train the privGANs of up to ``pack``
    unfinished cells at a time as one ensemble (:mod:`privshare.experiments.packed`;
    cells that differ only in seed, fractions and privacy weight, with equal
    steps per epoch), in this process; each cell then finds its privGAN
    trained. For GPUs, where one cell's step is launch-bound; on a CPU it
    gains little (README, "Cell packing").
    """
    if workers < 1:
        raise ValueError(f"workers={workers}: use 1 (in this process) or more")
    if pack < 0:
        raise ValueError(f"pack={pack}: use 0 or 1 (no packing) or the number of cells a pack "
                         "may hold, e.g. 8")
    if pack > 1 and ((engine is not None and engine.engine != "local") or workers > 1):
        raise SweepError(f"--pack {pack} trains the packs in this process: use it with the "
                         "local engine and one worker (no --engine ray, no --workers)")
    root = Path(out_dir) / spec.name
    planned = plan_cells(spec, root=root)
    wanted_key = _cell_filter(only, [c.key for c in planned])
    settings = engine or EngineSettings()
    if settings.engine == "local" and workers > 1:
        settings = replace(settings, engine="ray", local_cpus=workers, cpus=1.0)
    if settings.engine == "ray" and threads is None:
        threads = max(1, int(settings.cpus))
    start = time.perf_counter()
    layout = SweepLayout(root)
    with open_engine(settings) as runner, _lock(root):
        if not layout.store.exists() and (layout.snapshot / snapshot.INDEX).is_file():
            restored = snapshot.restore(layout.snapshot, layout.store)
            log.info("restored %s from its snapshot (%d cells)", layout.store, restored)
        with ResultStore(layout.store, create=True) as store:
            snapshot.check_not_behind(store, layout.snapshot)
            return _run_cells(store, spec=spec, planned=planned, wanted_key=wanted_key,
                              runner=runner, root=root, workers=workers, threads=threads,
                              retry_failed=retry_failed, drop_models=drop_models,
                              progress=progress, pack=pack, start=start)


def _run_cells(store: ResultStore, *, spec: SweepSpec, planned: list[Cell],
               wanted_key: Callable[[str], bool], runner: Any, root: Path, workers: int,
               threads: int | None, retry_failed: bool, drop_models: bool,
               progress: SweepProgress | None, pack: int, start: float) -> SweepResult:
    """The body of :func:`run_sweep`, with the folder locked and the store open: record the
    plan, run the unfinished cells, keep the snapshot up to date after each stored cell."""
    info = {"privshare": privshare.__version__, "python": platform.python_version(),
            "numpy": np.__version__, "workers": workers}
    store.initialise(spec=spec.to_dict(), cells=planned, info=info)
    snapshot_to = SweepLayout(root).snapshot
    snapshot.write_snapshot(store, snapshot_to)
    already = len(store.cells(status="done"))
    wanted = ("pending", "running", "failed") if retry_failed else ("pending", "running")
    todo = [c for c in store.cells(status=wanted)
            if c.mirror_of is None and wanted_key(c.key)]
    failed: dict[str, str] = {}
    drop = root if drop_models else None

    def started(cell: Cell) -> None:
        store.mark_running(cell.id)
        kill_point("sweep:cell-running")
        if progress:
            progress(cell, "start", "")

    def finished(cell: Cell, outcome: dict) -> None:
        _record(store, cell, outcome, failed, progress, drop)
        snapshot.write_snapshot(store, snapshot_to)

    if pack > 1:
        _train_packs(todo, root=root, size=pack, threads=threads)
    jobs = [(c, (_cell_json(c, root), spec, threads)) for c in todo]
    runner.run(_guarded, jobs, started=started, finished=finished)
    total = len(store.cells())
    return SweepResult(root=root, store=SweepLayout(root).store, cells=total, already_done=already,
                       ran=len(todo), failed=failed, elapsed_s=time.perf_counter() - start)
