"""A kill at every named point of a run and of a sweep, then a restart: the same result.

Each case starts the command with ``PRIVSHARE_KILL_AT=<point>`` (see
:mod:`privshare.faults`), so the kill lands at that exact instant, checks
that the process died by SIGKILL, restarts it without the variable and
compares what it wrote with an uninterrupted run of the same command.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from privshare.faults import ENV, POINTS
from privshare.experiments.store import ResultStore

REPO = Path(__file__).resolve().parents[2]
TRAIN = ["train", "--preset", "tiny", "--set", "train.epochs_privgan=3",
         "--set", "train.epochs_gan=3", "--set", "train.checkpoint_every=1"]
RUN_POINTS = [p for p in POINTS if not p.startswith("sweep:")]
SWEEP_POINTS = [p for p in POINTS if p.startswith("sweep:")]


def _privshare(args: list[str], *, kill_at: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != ENV}
    env["OMP_NUM_THREADS"] = "1"
    if kill_at:
        env[ENV] = kill_at
    return subprocess.run([sys.executable, "-m", "privshare", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def _synthetic(run: Path) -> dict[str, np.ndarray]:
    return {str(p.relative_to(run)): np.load(p)["x"] for p in sorted(run.glob("owner_*/*.npz"))}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref")
    res = _privshare([*TRAIN, "--out-dir", str(out), "--name", "r"])
    assert res.returncode == 0, res.stderr
    return _synthetic(out / "r")


@pytest.mark.parametrize("point", RUN_POINTS)
def test_a_run_killed_at_any_point_resumes_to_the_same_rows(point, reference, tmp_path):
    args = [*TRAIN, "--out-dir", str(tmp_path), "--name", "r"]
    killed = _privshare(args, kill_at=point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr  # the point was reached
    again = _privshare(args)
    assert again.returncode == 0, again.stderr
    got = _synthetic(tmp_path / "r")
    assert got.keys() == reference.keys()
    for name, x in reference.items():  # bit-identical to the uninterrupted run
        assert np.array_equal(got[name], x), name
    assert '"status": "done"' in (tmp_path / "r" / "run.json").read_text()


@pytest.mark.parametrize("point", SWEEP_POINTS)
def test_a_sweep_killed_at_any_point_finishes_every_cell_once(point, tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text('name = "s"\npreset = "tiny"\nfractions = [0.3]\nmethods = ["privgan", "gan"]\n'
                    'set = ["train.epochs_privgan=2", "train.epochs_gan=2"]\n'
                    'evaluate = ["seeds=[0]", "samples=60", "epochs=1", "max_steps=40", '
                    '"feature_epochs=1", "blackbox_samples=50", "members=20", "nonmembers=20"]\n')
    args = ["sweep", str(spec), "--out-dir", str(tmp_path), "--threads", "1", "--no-report"]
    killed = _privshare(args, kill_at=point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    again = _privshare(args)
    assert again.returncode == 0, again.stderr
    with ResultStore(tmp_path / "s" / "results.sqlite") as store:
        cells = store.cells()
        assert [c.status for c in cells] == ["done", "done"]
        first = cells[0]
        assert first.attempts == (2 if point == "sweep:cell-running" else 1)
        keys = [(r["cell"], r["source"], r["owner"], r["eval_seed"], r["metric"], r["class"])
                for r in store.results()]
        assert len(keys) == len(set(keys)) and {k[0] for k in keys} == {c.key for c in cells}
