"""What the command groups share: the stderr console, the config options, the config loader."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

console = Console(stderr=True)  # messages and progress; the results tables go to stdout

ConfigArg = Annotated[Optional[Path], typer.Argument(help="TOML config file.")]
PresetOpt = Annotated[Optional[str], typer.Option("--preset", "-p", help="quick | conv | paper | tiny")]
SetOpt = Annotated[Optional[list[str]], typer.Option(
    "--set", "-s", help="Override a config key: section.key=value (repeatable).")]
NameOpt = Annotated[Optional[str], typer.Option(help="Run folder name.")]
OutOpt = Annotated[Optional[Path], typer.Option(help="Parent folder of runs.")]


def load_run_config(*, preset: str | None, path: Path | None, overrides: list[str] | None,
                    name: str | None = None, out_dir: Path | None = None):
    """The experiment config of a preset or TOML file, ``--set`` overrides, ``--name``, ``--out-dir``."""
    from privshare.config import load_config

    extra = list(overrides or [])
    if name:
        extra.append(f'name="{name}"')
    if out_dir:
        extra.append(f'out_dir="{out_dir}"')
    return load_config(preset=preset, path=path, overrides=extra)
