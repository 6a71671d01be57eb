"""``privshare sweep`` and ``privshare report``: a grid of experiments, and its report.

``sweep`` trains (through :mod:`privshare.experiments`); ``report`` draws only
from stored results (:mod:`privshare.reports`). Heavy modules are imported
inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from privshare.cli.common import console
from privshare.cli.errors import fail


def _errors() -> tuple[type[Exception], ...]:
    """What ``sweep`` refuses as bad input (exit 2)."""
    from privshare.config import ConfigError
    from privshare.experiments.engines import EngineError
    from privshare.experiments.store import StoreError
    from privshare.experiments.sweep import SweepError
    from privshare.reports.results import ResultsError

    return ConfigError, EngineError, StoreError, SweepError, ResultsError, ValueError


def _print_report(report) -> None:
    console.print(f"[green]report written to[/] {report.html}  ({len(report.figures)} figures, "
                  f"PNG + SVG, in {report.html.parent})")
    for name, why in report.skipped.items():
        console.print(f"  not drawn: {name}: {why}")


def sweep(
    spec_file: Annotated[Optional[Path], typer.Argument(help="Sweep TOML file (or use --grid).")] = None,
    grid: Annotated[Optional[str], typer.Option("--grid", "-g", help="quick | paper")] = None,
    out_dir: Annotated[Path, typer.Option(help="Parent folder of sweep folders.")] = Path("sweeps"),
    name: Annotated[Optional[str], typer.Option(help="Sweep folder name (default: the spec's).")] = None,
    workers: Annotated[int, typer.Option(
        help="Cells trained at once on this machine (> 1: tasks of a local Ray instance).")] = 1,
    threads: Annotated[Optional[int], typer.Option(help="Torch threads per cell (workers > 1: 1).")] = None,
    symmetric: Annotated[Optional[bool], typer.Option(
        "--symmetric/--both-orders", help="Train privGAN only for f0 <= f1 and mirror the rest.")] = None,
    retry_failed: Annotated[bool, typer.Option(help="Run failed cells again.")] = True,
    drop_models: Annotated[bool, typer.Option(
        help="Delete a cell's model files once its results are stored (saves tens of GB).")] = False,
    report: Annotated[bool, typer.Option(help="Build report.html when the sweep ends.")] = True,
    export: Annotated[Optional[str], typer.Option(help="Also export the rows: csv | parquet.")] = None,
    engine: Annotated[str, typer.Option(help="local (this process) | ray (one Ray task per cell).")] = "local",
    address: Annotated[Optional[str], typer.Option(
        help="Ray cluster to join (host:port or auto); default: start Ray on this machine.")] = None,
    cpus_per_cell: Annotated[Optional[float], typer.Option(
        help="CPUs each Ray task asks for (default: the grid's, 1).")] = None,
    gpus_per_cell: Annotated[Optional[float], typer.Option(
        help="GPUs each Ray task asks for, fractions allowed (default: the grid's, 0).")] = None,
    only: Annotated[Optional[list[str]], typer.Option(
        help="Run only the cells whose key matches this pattern (repeatable; "
             "e.g. 'gan-*'); the others stay pending.")] = None,
    pack: Annotated[int, typer.Option(
        min=0, help="Train the privGANs of up to this many cells at a time as one ensemble "
                    "(cells differing only in seed, fractions and privacy weight); for GPUs. "
                    "0: cell by cell.")] = 0,
) -> None:
    """Train and evaluate every unfinished cell of a grid; resumes after a kill."""
    from privshare.experiments.engines import EngineSettings
    from privshare.experiments.grids import load_spec
    from privshare.experiments.store import ResultStore
    from privshare.experiments.sweep import run_sweep

    def progress(cell, event: str, detail: str) -> None:
        if event != "start":
            console.print(f"  {cell.key}: {event} {detail}", soft_wrap=True)

    try:
        spec = load_spec(grid=grid, path=spec_file,
                         overrides={"symmetric": symmetric, "name": name})
        settings = EngineSettings(
            engine=engine, address=address,
            cpus=spec.cpus_per_cell if cpus_per_cell is None else cpus_per_cell,
            gpus=spec.gpus_per_cell if gpus_per_cell is None else gpus_per_cell)
        result = run_sweep(spec, out_dir=out_dir, workers=workers, threads=threads,
                           retry_failed=retry_failed, drop_models=drop_models, progress=progress,
                           engine=settings, only=tuple(only or ()), pack=pack)
    except _errors() as err:
        fail(err)
    console.print(f"sweep {result.root}: {result.cells} cells, {result.already_done} were done, "
                  f"{result.ran} run now, {len(result.failed)} failed, {result.elapsed_s:.0f} s")
    if export:
        with ResultStore(result.store) as store:
            path = store.export(result.root / f"results.{export}", fmt=export)
        console.print(f"rows exported to {path}")
    if report:
        from privshare.reports import build_report

        _print_report(build_report(result.root))
    if result.failed:
        for key, err in result.failed.items():
            console.print(f"[red]failed[/] {key}: {err}", soft_wrap=True)
        raise typer.Exit(code=1)


def report_command(
    path: Annotated[Path, typer.Argument(help="A sweep folder, its results.sqlite, or a run folder.")],
    out_dir: Annotated[Optional[Path], typer.Option(help="Where to write (default: PATH/report).")] = None,
    metric: Annotated[Optional[list[str]], typer.Option(
        help="A sweep with axes: draw this source:metric against each axis (repeatable; "
             "e.g. privgan_central:auc; default: utility and attack AUCs).")] = None,
) -> None:
    """Draw the figures and write a self-contained report.html from stored results only."""
    from privshare.reports import build_report
    from privshare.reports.axis_figures import METRICS
    from privshare.reports.results import ResultsError, load_results

    try:
        cells = load_results(path).cells
        if not any(c.status == "done" for c in cells):  # nothing to draw: refuse, write nothing
            states = ", ".join(f"{sum(c.status == s for c in cells)} {s}"
                               for s in sorted({c.status for c in cells})) or "no cells"
            raise ResultsError(f"{str(path)!r} holds no finished cell ({states}); run or resume "
                               "`privshare sweep` until a cell is done, then build the report")
        rep = build_report(path, out_dir=out_dir, axis_metrics=tuple(metric or METRICS))
    except (ResultsError, ValueError) as err:
        fail(err)
    _print_report(rep)
