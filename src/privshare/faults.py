"""Named kill points: a test hook that makes a kill land at an exact instant.

A long job (a run, a sweep) calls :func:`kill_point` at each instant where
a kill could leave its folder in a distinct state: the folder locked but
empty, its config written, its partition written, a checkpoint written,
models written but not yet recorded, and so on. When the environment
variable ``PRIVSHARE_KILL_AT`` names that point, the process sends itself
SIGKILL there (no cleanup runs, as with a real kill); otherwise the call
does nothing. The resume tests use it to kill at every point in turn and
check that the next run finishes with the same result as an uninterrupted
one, instead of hoping that a timer lands between two writes.
"""

from __future__ import annotations

import os
import signal

ENV = "PRIVSHARE_KILL_AT"
POINTS = (  # in the order a run and a sweep reach them
    "run:locked", "run:config-saved", "run:partition-saved", "run:manifest-written",
    "train:checkpoint-saved", "run:models-saved", "run:method-recorded", "run:exported",
    "sweep:cell-running", "sweep:cell-stored",
)


def kill_point(name: str) -> None:
    """SIGKILL this process here if ``PRIVSHARE_KILL_AT`` is ``name`` (a name of :data:`POINTS`)."""
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
