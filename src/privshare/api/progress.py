"""A training progress bar for terminals and notebooks (rich), or none at all."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from privshare.training.loop import ProgressFn


@contextmanager
def progress_bar(enabled: bool) -> Iterator[ProgressFn | None]:
    """A :data:`ProgressFn` that drives one rich bar per trainer, or ``None`` when disabled.

    rich draws live bars in a terminal and, with ``ipywidgets`` installed, in
    Jupyter; the bar goes to stderr. ``enabled=False`` shows nothing.
    """
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(),
               TextColumn("{task.completed}/{task.total} steps"), TimeElapsedColumn(),
               TimeRemainingColumn(), TextColumn("{task.fields[losses]}"))
    with Progress(*columns, console=Console(stderr=True)) as bar:
        tasks: dict[str, int] = {}

        def update(label: str, done: int, total: int, record: dict[str, float] | None) -> None:
            if label not in tasks:
                tasks[label] = bar.add_task(label, total=total, losses="")
            losses = " ".join(f"{k}={v:.3f}" for k, v in (record or {}).items() if k != "epoch")
            bar.update(tasks[label], completed=done, losses=losses)

        yield update
