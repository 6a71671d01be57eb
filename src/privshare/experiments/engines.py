"""Where a sweep's cells run: in the sweep's own process, or as Ray tasks.

Both engines take the same jobs and report through the same two callbacks,
and neither writes anything: the sweep process (the driver) is the only
writer of the result store, so a cell is recorded exactly once whatever
happened to the process that computed it.

- ``local``: one cell after the other in this process.
- ``ray``: every cell is a Ray task asking for ``cpus`` CPUs and ``gpus``
  GPUs (fractions allowed), on the cluster at ``address`` or, without one,
  on a Ray instance started here with ``local_cpus`` CPUs (this is what
  ``--workers N`` uses). A task whose worker process dies (killed, out of
  memory) is retried by Ray up to ``retries`` times; an error raised inside
  a cell is not retried (it comes back as that cell's failure).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from privshare.experiments.store import Cell


ENGINES = ("local", "ray")
Job = tuple[Cell, tuple[Any, ...]]  # a cell and the arguments of the cell function
Started = Callable[[Cell], None]
Finished = Callable[[Cell, dict], None]


class EngineError(RuntimeError):
    """The engine cannot run the sweep as asked (no cluster, too few resources)."""


@dataclass(frozen=True)
class EngineSettings:
    """How to execute cells; validated by :func:`check_engine` before anything runs."""

    engine: str = "local"  # local | ray
    address: str | None = None  # Ray cluster address (host:port or "auto"); None = start one here
    cpus: float = 1.0  # CPUs each Ray task asks for
    gpus: float = 0.0  # GPUs each Ray task asks for (fractions share a GPU)
    local_cpus: int = 1  # CPUs of a Ray instance started here (no address)
    retries: int = 3  # Ray retries of a task whose worker process died


def check_engine(s: EngineSettings) -> None:
    """One-line errors for settings that cannot work, before any cell starts."""
    if s.engine not in ENGINES:
        raise EngineError(f"engine={s.engine!r}: choose {' or '.join(ENGINES)}")
    if s.engine == "local" and (s.address or s.gpus):
        raise EngineError("--address and --gpus-per-cell need --engine ray")
    if s.cpus <= 0 or s.gpus < 0 or s.local_cpus < 1 or s.retries < 0:
        raise EngineError(f"cpus per cell {s.cpus} must be > 0, gpus per cell {s.gpus} >= 0, "
                          f"workers {s.local_cpus} >= 1, retries {s.retries} >= 0")


class LocalEngine:
    """Cells one after the other in this process."""

    def __enter__(self) -> LocalEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def run(self, fn: Callable[..., dict], jobs: list[Job], *, started: Started,
            finished: Finished) -> None:
        for cell, args in jobs:
            started(cell)
            finished(cell, fn(*args))


def _reachable(address: str) -> None:
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=5).close()
    except (OSError, ValueError) as err:
        raise EngineError(
            f"--address {address}: no Ray cluster answers there ({err}); start one with "
            "`ray start --head --port PORT` or drop --address to run on this machine") from err


# Ray's token authentication settings. Starting a local instance switches this process to
# token mode (Ray writes RAY_AUTH_MODE=token into os.environ); left so, a later connection
# from the same process to a cluster without tokens fails in transit (the cluster cannot
# reach the driver, and results that travel through the object store come back as
# OwnerDiedError). Each engine leaves the process's settings as it found them.
_AUTH_ENV = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")


def _restore_auth(saved: dict[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    from ray._raylet import AuthenticationTokenLoader, Config  # Ray caches the mode it read

    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()


class RayEngine:
    """Cells as Ray tasks; entering connects (or starts Ray) and checks the resources asked for."""

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        self.ray: Any = None
        self._auth_env: dict[str, str | None] = {}

    def __enter__(self) -> RayEngine:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage report from a sweep
        import ray

        s = self.settings
        quiet = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
        if s.address and s.address != "auto":
            _reachable(s.address)
        self._auth_env = {k: os.environ.get(k) for k in _AUTH_ENV}
        try:
            if s.address:
                ray.init(address=s.address, **quiet)
            else:  # "local": a new instance, never a cluster someone started on this machine
                ray.init(address="local", num_cpus=s.local_cpus, num_gpus=0, **quiet)
        except (ConnectionError, RuntimeError, ValueError) as err:
            _restore_auth(self._auth_env)
            raise EngineError(f"cannot start or join Ray (address={s.address!r}): {err}") from err
        self.ray = ray
        try:
            self._check_resources()
        except EngineError:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.ray is not None:
            self.ray.shutdown()
            self.ray = None
            _restore_auth(self._auth_env)

    def _check_resources(self) -> None:
        s, total = self.settings, self.ray.cluster_resources()
        cpus, gpus = total.get("CPU", 0.0), total.get("GPU", 0.0)
        if s.gpus > gpus:
            raise EngineError(f"each cell asks for {s.gpus:g} GPU(s) but the Ray cluster has "
                              f"{gpus:g}; lower --gpus-per-cell or add GPU nodes")
        if s.cpus > cpus:
            raise EngineError(f"each cell asks for {s.cpus:g} CPU(s) but the Ray cluster has "
                              f"{cpus:g}; lower --cpus-per-cell")

    def run(self, fn: Callable[..., dict], jobs: list[Job], *, started: Started,
            finished: Finished) -> None:
        """Submit every job as a task; record each result as it comes back."""
        s, ray = self.settings, self.ray
        task = ray.remote(fn).options(num_cpus=s.cpus, num_gpus=s.gpus, max_retries=s.retries,
                                      retry_exceptions=False)
        pending = {}
        for cell, args in jobs:
            started(cell)  # queued on the cluster: "running" until its result is stored
            pending[task.remote(*args)] = cell
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                cell = pending.pop(ref)
                try:
                    outcome = ray.get(ref)
                except Exception as err:  # the task or its result could not be had from Ray
                    outcome = {"error": _ray_failure(err, s.retries)}
                finished(cell, outcome)


def _ray_failure(err: BaseException, retries: int) -> str:
    """Ray's whole message, then one summary line (the line a sweep shows for the cell)."""
    text = str(err).strip()
    first = text.splitlines()[0] if text else ""
    return (f"{text}\nRay could not return the cell's result (task retried up to {retries} "
            f"times if its worker died): {type(err).__name__}: {first}")


def open_engine(settings: EngineSettings) -> LocalEngine | RayEngine:
    """The engine of ``settings`` (checked), to be entered before the store is touched."""
    check_engine(settings)
    return LocalEngine() if settings.engine == "local" else RayEngine(settings)
