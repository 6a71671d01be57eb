"""``privshare federated ...``: simulate on one machine, prepare or run a real deployment.

Torch and Flower are imported inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from privshare.cli.common import ConfigArg, NameOpt, OutOpt, PresetOpt, SetOpt, console, load_run_config
from privshare.cli.errors import fail
from privshare.federated.worker import WorkerOptions  # stdlib only: the defaults of `clientapp`

KOpt = Annotated[int, typer.Option("--local-steps", "-k", help="K: privGAN steps per owner per round.")]
TimeoutOpt = Annotated[float, typer.Option(help="Seconds to wait for each round's replies.")]

PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


def _errors() -> tuple[type[Exception], ...]:
    """What these commands refuse as bad input (exit 2)."""
    from privshare.config import ConfigError
    from privshare.data import DataError
    from privshare.federated.data import OwnerDataError
    from privshare.federated.settings import FederationError
    from privshare.training import CheckpointError

    return ConfigError, DataError, OwnerDataError, FederationError, CheckpointError


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

        config = load_run_config(preset=preset, path=config_file, overrides=set_, name=name,
                                 out_dir=out_dir)
        result = run(config, engine=engine, local_steps=local_steps, round_timeout=round_timeout)
    except _errors() as err:
        fail(err)
    console.print(f"[green]federated run written to[/] {result.run_dir}")
    console.print(f"  {result.rounds} rounds of K={result.local_steps} ({result.steps} steps), "
                  f"{result.seconds_per_round:.3f} s a round")
    for j, owner in enumerate(result.owners):
        console.print(f"  {owner}: {result.bytes_sent_per_round[j] / 1e3:.1f} kB in and "
                      f"{result.bytes_received_per_round[j] / 1e3:.1f} kB out per round")


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

        config = load_run_config(preset=preset, path=config_file, overrides=set_, name=name,
                                 out_dir=out_dir)
        settings = FederatedSettings(local_steps=local_steps, round_timeout=round_timeout,
                                     connect_timeout=connect_timeout,
                                     run_dir=str(run_dir or ""))
        path = write(folder, config=config, settings=settings)
    except _errors() as err:
        fail(err)
    console.print(f"Flower app written to {path}; owners needed: {len(config.data.fractions)}")


def split(
    folder: Annotated[Path, typer.Argument(help="Where to write owner_<j>_rows.npz.")],
    config_file: ConfigArg = None,
    preset: PresetOpt = None,
    set_: SetOpt = None,
) -> None:
    """Cut each owner's rows out of the configured dataset (rehearsals; real owners bring their own)."""
    try:
        from privshare.artifacts.layout import RunLayout
        from privshare.federated.data import write_owner_files

        config = load_run_config(preset=preset, path=config_file, overrides=set_)
        paths = write_owner_files(config, folder=folder, partition_path=RunLayout(folder).partition)
    except _errors() as err:
        fail(err)
    for j, path in enumerate(paths):
        console.print(f"  owner {j}: {path}")


def supernode(ctx: typer.Context) -> None:
    """flower-supernode with a short idle pull (--pull-interval S, default 0.1); other args go to it.

    Start it with --isolation process and `privshare federated clientapp` next to it.
    """
    from privshare.federated.supernode import main

    main(list(ctx.args))


def clientapp(
    runtime_api_address: Annotated[str, typer.Option(
        help="The SuperNode's Runtime API (its --host:--port).")] = WorkerOptions.runtime_api_address,
    insecure: Annotated[bool, typer.Option(
        "--insecure", help="Plain HTTP to the Runtime API (the SuperNode has no --ssl-certfile).")] = False,
    root_certificates: Annotated[Optional[Path], typer.Option(
        help="CA of the Runtime API's certificate (the SuperNode's --ssl-ca-certfile).")] = None,
    superexec_auth_secret_file: Annotated[Optional[Path], typer.Option(
        help="The same file as the SuperNode's --superexec-auth-secret-file.")] = None,
    poll_interval: Annotated[float, typer.Option(
        help="Seconds between task polls while idle.")] = WorkerOptions.poll_interval,
) -> None:
    """The owner's long-lived ClientApp process, next to its SuperNode (--help for options).

    Start it next to `flower-supernode --isolation process` (or `privshare federated
    supernode --isolation process`): it replaces flower-superexec + flwr-clientapp,
    runs every task of this owner in one process and stops on SIGTERM or SIGINT.
    """
    import logging
    import sys

    from privshare.federated.worker import serve

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per task poll
    logging.getLogger("flwr").propagate = False  # Flower prints its own lines
    serve(WorkerOptions(runtime_api_address=runtime_api_address, insecure=insecure,
                        root_certificates=root_certificates,
                        superexec_auth_secret_file=superexec_auth_secret_file,
                        poll_interval=poll_interval))
