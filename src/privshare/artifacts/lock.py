"""One process at a time in a folder: an advisory ``flock`` the kernel drops when the process dies."""

from __future__ import annotations

import fcntl
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from privshare.artifacts.layout import RunLayout

log = logging.getLogger(__name__)


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


@contextmanager
def run_folder_lock(lock_file: Path, error: type[Exception]) -> Iterator[None]:
    """:func:`exclusive` on a run folder's lock; ``error`` says another process is working there.

    Whoever holds the lock is the only process that can be running the run,
    so a block that wrote ``run.json`` saying ``"running"`` and then raised
    (a full disk, a fault, Ctrl-C) leaves it saying ``"failed"`` with the
    error. A manifest the block did not touch (a killed run's) is left as it is.
    """
    manifest = RunLayout(lock_file.parent).manifest
    with exclusive(lock_file, lambda: error(
            f"another privshare process is training or evaluating {str(lock_file.parent)!r}; "
            "wait for it or stop it, then try again")):
        before = _stamp(manifest)
        try:
            yield
        except BaseException as err:
            if _stamp(manifest) != before:
                _mark_failed(manifest, err)
            raise


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def _mark_failed(manifest: Path, err: BaseException) -> None:
    """``status = "failed"`` in a manifest that still says running; best effort on a sick disk."""
    from privshare.artifacts.atomic import write_json_atomic

    try:
        data = json.loads(manifest.read_text()) if manifest.is_file() else None
        if isinstance(data, dict) and data.get("status") == "running":
            data.update(status="failed", error=f"{type(err).__name__}: {err}")
            write_json_atomic(manifest, data)
    except (OSError, ValueError) as fault:  # the disk that failed the run may refuse this too
        log.warning("could not mark %s failed: %s", manifest, fault)
