"""``privshare federated ...``: simulate on one machine, prepare or run a real deployment.

Mounted on the main CLI with ``app.add_typer(federated_app, name="federated")``.
Torch and Flower are imported inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

app = typer.Typer(
    help="Federated privGAN on Flower: one node per owner, only DP's updates cross.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)

ConfigArg = Annotated[Optional[Path], typer.Argument(help="TOML config file.")]
PresetOpt = Annotated[Optional[str], typer.Option("--preset", "-p", help="quick | conv | paper | tiny")]
SetOpt = Annotated[Optional[list[str]], typer.Option(
    "--set", "-s", help="Override a config key: section.key=value (repeatable).")]
NameOpt = Annotated[Optional[str], typer.Option(help="Run folder name.")]
OutOpt = Annotated[Optional[Path], typer.Option(help="Parent folder of runs.")]
KOpt = Annotated[int, typer.Option("--local-steps", "-k", help="K: privGAN steps per owner per round.")]
TimeoutOpt = Annotated[float, typer.Option(help="Seconds to wait for each round's replies.")]


def _errors() -> tuple[type[Exception], ...]:
    from privshare.config import ConfigError
    from privshare.data import DataError
    from privshare.federated.data import OwnerDataError
    from privshare.federated.settings import FederationError
    from privshare.training import CheckpointError

    return ConfigError, DataError, OwnerDataError, FederationError, CheckpointError


def _fail(err: Exception) -> None:
    from rich.markup import escape

    console.print(f"[bold red]error:[/] {escape(str(err))}", soft_wrap=True)
    raise typer.Exit(code=2)


def _config(preset, config_file, overrides, name, out_dir):
    from privshare.config import load_config

    extra = list(overrides or [])
    extra += [f'name="{name}"'] if name else []
    extra += [f'out_dir="{out_dir}"'] if out_dir else []
    return load_config(preset=preset, path=config_file, overrides=extra)


@app.command()
def simulate(
    config_file: ConfigArg = None,
    preset: PresetOpt = None,
    set_: SetOpt = None,
    name: NameOpt = None,
    out_dir: OutOpt = None,
    local_steps: KOpt = 1,
    engine: Annotated[str, typer.Option(
        help="inprocess: the apps in this process | local: a SuperLink and one SuperNode per "
             "owner on localhost")] = "local",
    round_timeout: TimeoutOpt = 300.0,
) -> None:
    """All owners on this machine; the run folder gets the one-process layout."""
    try:
        from privshare.federated.simulate import simulate as run

        config = _config(preset, config_file, set_, name, out_dir)
        result = run(config, engine=engine, local_steps=local_steps, round_timeout=round_timeout)
    except _errors() as err:
        _fail(err)
    console.print(f"[green]federated run written to[/] {result.run_dir}")
    console.print(f"  {result.rounds} rounds of K={result.local_steps} ({result.steps} steps), "
                  f"{result.seconds_per_round:.3f} s a round")
    for j, owner in enumerate(result.owners):
        console.print(f"  {owner}: {result.bytes_sent_per_round[j] / 1e3:.1f} kB in and "
                      f"{result.bytes_received_per_round[j] / 1e3:.1f} kB out per round")


@app.command("app")
def write_app(
    folder: Annotated[Path, typer.Argument(help="Folder to write the Flower app into.")],
    config_file: Annotated[Optional[Path], typer.Option("--config", help="TOML config file.")] = None,
    preset: PresetOpt = None,
    set_: SetOpt = None,
    name: NameOpt = None,
    out_dir: OutOpt = None,
    local_steps: KOpt = 1,
    round_timeout: TimeoutOpt = 300.0,
    connect_timeout: Annotated[float, typer.Option(help="Seconds to wait for all owners.")] = 600.0,
    run_dir: Annotated[Optional[Path], typer.Option(
        help="Server's run folder (default: <out_dir>/<name>).")] = None,
) -> None:
    """Write the Flower app folder that `flwr run FOLDER <superlink>` submits."""
    try:
        from privshare.federated.deploy import write_app as write
        from privshare.federated.settings import FederatedSettings

        config = _config(preset, config_file, set_, name, out_dir)
        settings = FederatedSettings(local_steps=local_steps, round_timeout=round_timeout,
                                     connect_timeout=connect_timeout,
                                     run_dir=str(run_dir or ""))
        path = write(folder, config=config, settings=settings)
    except _errors() as err:
        _fail(err)
    console.print(f"Flower app written to {path}; owners needed: {len(config.data.fractions)}")


@app.command()
def split(
    folder: Annotated[Path, typer.Argument(help="Where to write owner_<j>_rows.npz.")],
    config_file: ConfigArg = None,
    preset: PresetOpt = None,
    set_: SetOpt = None,
) -> None:
    """Cut each owner's rows out of the configured dataset (rehearsals; real owners bring their own)."""
    try:
        from privshare.federated.data import write_owner_files

        config = _config(preset, config_file, set_, None, None)
        paths = write_owner_files(config, folder=folder, partition_path=folder / "partition.npz")
    except _errors() as err:
        _fail(err)
    for j, path in enumerate(paths):
        console.print(f"  owner {j}: {path}")


_PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True,
                 "help_option_names": []}


@app.command(context_settings=_PASS_THROUGH, add_help_option=False)
def supernode(ctx: typer.Context) -> None:
    """flower-supernode with a short idle pull (--pull-interval S, default 0.1); other args go to it.

    Start it with --isolation process and `privshare federated clientapp` next to it.
    """
    from privshare.federated.supernode import main

    main(list(ctx.args))


@app.command(context_settings=_PASS_THROUGH, add_help_option=False)
def clientapp(ctx: typer.Context) -> None:
    """The owner's long-lived ClientApp process, next to its SuperNode (--help for options).

    It replaces flower-superexec + flwr-clientapp for `--isolation process` SuperNodes.
    """
    from privshare.federated.worker import main

    main(list(ctx.args))
