"""One process at a time in a folder: an advisory ``flock`` the kernel drops when the process dies."""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def exclusive(lock_file: Path, busy: Callable[[], Exception]) -> Iterator[None]:
    """Hold ``lock_file`` (created if needed) for the block; raise ``busy()`` if another holds it."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            raise busy() from err
        yield


def run_folder_lock(lock_file: Path, error: type[Exception]):
    """:func:`exclusive` on a run folder's lock; ``error`` says another process is working there."""
    return exclusive(lock_file, lambda: error(
        f"another privshare process is training or evaluating {str(lock_file.parent)!r}; "
        "wait for it or stop it, then try again"))
