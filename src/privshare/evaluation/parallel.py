"""Independent evaluation jobs, run here one after another or spread over worker processes.

A :class:`Job` is a module-level function and its keyword arguments. With one
worker the jobs run in this process, in order. With more, each runs in one of
``workers`` spawned processes that use one torch thread each (the evaluation's
small CNNs gain little from a second thread, two processes nearly double the
throughput), the costliest first. Every job seeds itself, so the results,
returned in the order of the jobs, do not depend on how many workers ran them.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import torch

from privshare.hardware import keep_freed_memory


@dataclass(frozen=True)
class Job:
    """``fn(**kwargs)``; ``cost`` orders the jobs of a pool (largest first)."""

    fn: Callable[..., Any]
    kwargs: dict[str, Any] = field(default_factory=dict)
    cost: float = 0.0


def resolve_workers(workers: int) -> int:
    """``workers``, or for 0 the torch threads this process may use (one process per thread).

    A daemonic process (a worker of another pool) may not start processes, so
    it always gets 1.
    """
    if mp.current_process().daemon:
        return 1
    return workers if workers > 0 else max(1, torch.get_num_threads())


def _worker_setup() -> None:
    """A worker: one torch thread, freed memory kept for reuse (page faults cost a quarter
    of a classifier step without it)."""
    torch.set_num_threads(1)
    keep_freed_memory()


def run_jobs(jobs: Sequence[Job], *, workers: int,
             on_done: Callable[[int, Any], None] | None = None) -> list[Any]:
    """Every job's result, in the order of ``jobs``.

    ``on_done(index, result)`` is called in this process as each job ends (for
    progress lines). The first job that raises stops the pool (jobs not yet
    started are dropped) and its error is raised here.
    """
    results: list[Any] = [None] * len(jobs)
    if workers <= 1 or len(jobs) <= 1:
        for i, job in enumerate(jobs):
            results[i] = job.fn(**job.kwargs)
            if on_done:
                on_done(i, results[i])
        return results
    order = sorted(range(len(jobs)), key=lambda i: -jobs[i].cost)
    pool = ProcessPoolExecutor(max_workers=min(workers, len(jobs)), initializer=_worker_setup,
                               mp_context=mp.get_context("spawn"))
    try:
        pending = {pool.submit(jobs[i].fn, **jobs[i].kwargs): i for i in order}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                i = pending.pop(future)
                results[i] = future.result()  # a job's error is raised here
                if on_done:
                    on_done(i, results[i])
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return results
