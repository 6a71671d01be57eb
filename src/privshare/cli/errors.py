"""How every command fails: one ``error:`` line on stderr and a documented exit code.

- :func:`fail`: the input was refused (a config key, a value, a data file): exit 2.
- :class:`CommandGroup`: the input was fine, the machine refused (disk full,
  read-only, path too long): an :class:`OSError` anywhere below becomes one
  line and exit 3.
"""

from __future__ import annotations

import errno
from typing import NoReturn

import typer
from typer.core import TyperGroup

from privshare.cli.common import console

EXIT_BAD_INPUT = 2  # the input was refused: a config key, a value, a data file
EXIT_ENVIRONMENT = 3  # the input was fine, the machine refused: disk full, read-only, path too long

_OS_HINTS = {
    errno.ENOSPC: "the disk is full: free some space or pass --out-dir on another disk",
    errno.EDQUOT: "the disk quota is used up: free some space or pass --out-dir elsewhere",
    errno.EACCES: "make the folder writable or pass --out-dir somewhere you may write",
    errno.EPERM: "make the folder writable or pass --out-dir somewhere you may write",
    errno.EROFS: "the file system is read-only: pass --out-dir on a writable one",
    errno.ENAMETOOLONG: "shorten the run name (--name) or the --out-dir path",
    errno.ENOTDIR: "a part of this path is a file, not a folder: pass a folder",
    errno.EISDIR: "this path is a folder: name a file",
    errno.ENOENT: "check that the path exists",
}


def describe_os_error(err: OSError) -> str:
    """One line for a filesystem fault: what failed, on which path, and what to do."""
    where = f" {str(err.filename)!r}" if err.filename is not None else ""
    what = err.strerror or str(err)
    hint = _OS_HINTS.get(err.errno, "check the path and the disk, then run the command again")
    return f"{what}:{where}; {hint}"


def _error_line(message: str) -> None:
    from rich.markup import escape

    console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)


def fail(err: Exception) -> NoReturn:
    """Print ``err`` as one ``error:`` line and exit with :data:`EXIT_BAD_INPUT`."""
    _error_line(str(err))
    raise typer.Exit(code=EXIT_BAD_INPUT)


class CommandGroup(TyperGroup):
    """Every command (the federated ones included): an OSError is one line and exit 3."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except OSError as err:
            if err.errno == errno.EPIPE:  # stdout closed (| head): click handles it
                raise
            _error_line(describe_os_error(err))
            raise typer.Exit(code=EXIT_ENVIRONMENT) from err
