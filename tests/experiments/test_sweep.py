"""Sweeps: the grid plan, resuming after SIGKILL, failures, worker processes."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from privshare.artifacts.scores import first_seed_scores
from privshare.config import ConfigError
from privshare.evaluation import EvalConfig
from privshare.experiments.grids import load_spec, spec_from_dict
from privshare.experiments.snapshot import from_store, read_snapshot
from privshare.experiments.store import ResultStore
from privshare.experiments.sweep import SweepError, _lock, plan_cells, run_sweep
from tests.evaluation.helpers import FAST

EVALUATOR = os.environ.get("PRIVSHARE_TEST_EVALUATOR", "privshare.experiments.evaluate:evaluate_run")
REPO = Path(__file__).resolve().parents[2]


def _toml(value):
    """A setting's value as a TOML literal (tuples as arrays)."""
    return list(value) if isinstance(value, tuple) else value


# the evaluation tests' small settings, as the `evaluate = [...]` lines of a sweep file
FAST_EVAL = [f"{f.name}={_toml(getattr(FAST, f.name))}" for f in dataclasses.fields(FAST)
             if getattr(FAST, f.name) != getattr(EvalConfig(), f.name)]
needs_evaluator = pytest.mark.skipif(
    importlib.util.find_spec(EVALUATOR.split(":")[0]) is None,
    reason=f"the evaluation module {EVALUATOR.split(':')[0]} (issue 3) is not there yet")


def _spec_toml(path: Path, *, fractions, methods, epochs: int) -> Path:
    path.write_text(f"""
name = "s"
preset = "tiny"
fractions = {list(fractions)}
methods = {list(methods)}
evaluator = "{EVALUATOR}"
set = ["train.epochs_privgan={epochs}", "train.epochs_gan={epochs}", "train.checkpoint_every=5"]
evaluate = {FAST_EVAL}
""")
    return path


def test_plan_of_the_paper_grid():
    spec = load_spec(grid="paper")
    cells = plan_cells(spec, root=Path("/x"))
    privgan = [c for c in cells if c.method == "privgan"]
    gan = [c for c in cells if c.method == "gan"]
    assert len(privgan) == 99  # 10 x 10 minus 50%-50%, which leaves no non-member rows
    assert ("privgan", 0.5, 0.5) not in {(c.method, c.f0, c.f1) for c in cells}
    assert len(gan) == 10 and {c.f0 for c in gan} == set(spec.fractions)
    assert {(c.f0, c.f1) for c in gan if c.f0 == 0.5} == {(0.5, 0.01)}  # 2 x 50% would not fit
    assert len({c.run_seed for c in cells}) == len(cells)  # every cell its own derived seed
    sym = plan_cells(load_spec(grid="paper", overrides={"symmetric": True}), root=Path("/x"))
    mirrors = [c for c in sym if c.mirror_of is not None]
    assert len(mirrors) == 45 and all(c.f0 > c.f1 for c in mirrors)
    assert all(m.mirror_of == f"privgan-f{m.f1:g}-f{m.f0:g}-s0" for m in mirrors)


def test_test_split_nonmembers_admit_the_two_halves_cell():
    cells = plan_cells(load_spec(grid="paper-halves"), root=Path("/x"))
    assert {(c.method, c.f0, c.f1) for c in cells} == {("privgan", 0.5, 0.5), ("gan", 0.5, 0.5)}
    with pytest.raises(ConfigError, match='more than 95% of a class .* nonmembers_from = "test"'):
        spec_from_dict({"name": "x", "preset": "tiny", "fractions": [0.5]})


@pytest.mark.parametrize("change, message", [
    ({"fractions": [0.0, 0.2]}, "in \\(0, 1\\)"),
    ({"colour": 1}, "unknown sweep key"),
    ({"methods": ["vae"]}, "unknown \\['vae'\\]; choose privgan, gan or dpgan"),
    ({"symmetric": True, "other_fractions": [0.3]}, "symmetric"),
    ({"set": ["train.epochz=3"]}, "epochz"),
])
def test_bad_specs_name_the_problem(change, message):
    data = {"name": "x", "preset": "tiny", "fractions": [0.1, 0.2], **change}
    with pytest.raises(ConfigError, match=message):
        spec_from_dict(data)


def test_a_second_sweep_process_on_the_same_folder_is_refused(tmp_path):
    with _lock(tmp_path), pytest.raises(SweepError, match="another sweep"):
        with _lock(tmp_path):
            pass


def _status(store_path: Path) -> dict[str, str]:
    if not store_path.is_file():
        return {}
    con = sqlite3.connect(f"file:{store_path}?mode=ro", uri=True, timeout=30)
    try:
        return dict(con.execute("SELECT key, status FROM cells"))
    except sqlite3.OperationalError:  # tables not created yet
        return {}
    finally:
        con.close()


@needs_evaluator
def test_sigkill_mid_cell_then_restart_finishes_every_cell_once(tmp_path):
    spec = _spec_toml(tmp_path / "s.toml", fractions=[0.2, 0.4], methods=["privgan", "gan"],
                      epochs=60)
    cmd = [sys.executable, "-m", "privshare", "sweep", str(spec), "--out-dir",
           str(tmp_path), "--threads", "1", "--no-report"]
    store = tmp_path / "s" / "results.sqlite"
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:  # kill once a cell is done and the next is running
        st = _status(store)
        if "done" in st.values() and "running" in st.values():
            break
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = _status(store)
    assert "running" in before.values() and "pending" in before.values()
    with ResultStore(store) as s:
        done_before = {c.key: c for c in s.cells(status="done")}
        killed = s.cells(status="running")[0]
        assert not [r for r in s.results() if r["cell"] not in done_before]  # no partial rows

    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    with ResultStore(store) as s:
        cells = s.cells()
        assert len(cells) == 6 and len({c.key for c in cells}) == 6
        assert {c.status for c in cells} == {"done"}
        for key, c in done_before.items():  # not recomputed
            now = next(x for x in cells if x.key == key)
            assert now.attempts == 1 and now.elapsed_s == c.elapsed_s
        assert next(x for x in cells if x.key == killed.key).attempts == 2
        rows = s.results()
        keys = [(r["cell"], r["source"], r["owner"], r["eval_seed"], r["metric"], r["class"])
                for r in rows]
        assert len(keys) == len(set(keys))
        per_cell = {}
        for r in rows:
            per_cell.setdefault((r["method"], r["cell"]), 0)
            per_cell[(r["method"], r["cell"])] += 1
        by_method = {}
        for (method, _), n in per_cell.items():
            by_method.setdefault(method, set()).add(n)
        assert len(per_cell) == 6
        assert all(len(ns) == 1 for ns in by_method.values())  # same row count per method


@needs_evaluator
def test_a_failing_cell_does_not_stop_the_others_in_worker_processes(tmp_path):
    # 1% of ~145 digits per class is 1 row (< min_rows_per_owner = 2): those cells fail.
    spec = spec_from_dict({"name": "f", "preset": "tiny", "fractions": [0.01, 0.3],
                           "methods": ["privgan"], "evaluator": EVALUATOR, "evaluate": FAST_EVAL,
                           "set": ["train.epochs_privgan=2"]})
    result = run_sweep(spec, out_dir=tmp_path, workers=2, drop_models=True)
    assert set(result.failed) == {"privgan-f0.01-f0.01-s0", "privgan-f0.01-f0.3-s0",
                                  "privgan-f0.3-f0.01-s0"}
    assert all("min_rows_per_owner" in err for err in result.failed.values())
    with ResultStore(result.store) as s:
        assert [c.key for c in s.cells(status="done")] == ["privgan-f0.3-f0.3-s0"]
        assert all("DataError" in c.error for c in s.cells(status="failed"))
        assert {r["cell"] for r in s.results()} == {"privgan-f0.3-f0.3-s0"}
        done = s.cells(status="done")[0]
        assert s.artifact(done.id, "samples_privgan_owner1.npz") is not None
        stored_scores = s.artifact(done.id, "scores.npz")
        stored_metrics = json.loads(s.artifact(done.id, "metrics.json"))
        stored_rows = len([r for r in s.rows() if r["cell_id"] == done.id])
    run_dir = result.root / done.run_dir
    # the store keeps the run's metrics.json less the rows its results table holds
    run_metrics = json.loads((run_dir / "metrics.json").read_text())
    assert len(run_metrics["rows"]) == stored_rows > 0
    assert stored_metrics == {k: v for k, v in run_metrics.items() if k not in ("rows", "summary")}
    assert stored_metrics["counts"] and stored_metrics["config"]
    assert (run_dir / "run.json").is_file() and not list(run_dir.rglob("*.pt"))  # --drop-models
    # the store keeps the run's scores cut to the first seed in float32
    assert stored_scores == first_seed_scores((run_dir / "scores.npz").read_bytes())
    again = run_sweep(spec, out_dir=tmp_path, retry_failed=False)
    assert again.ran == 0 and again.already_done == 1


def test_evaluation_settings_of_a_sweep_are_checked_and_stored():
    spec = spec_from_dict({"name": "e", "preset": "tiny", "fractions": [0.2, 0.4],
                           "evaluate": ["samples=60", "epochs=2"]})
    assert spec.evaluation == ("samples=60", "epochs=2")
    assert spec.to_dict()["evaluate"] == ["samples=60", "epochs=2"]
    with pytest.raises(ConfigError, match="bogus"):
        spec_from_dict({"name": "e", "preset": "tiny", "fractions": [0.2], "evaluate": ["bogus=1"]})
    with pytest.raises(ConfigError, match="members=0"):
        spec_from_dict({"name": "e", "preset": "tiny", "fractions": [0.2], "evaluate": ["members=0"]})
    assert load_spec(grid="quick").evaluation  # the CI grid carries its own small evaluation


def _one_fraction_spec(name: str):
    """A privGAN cell and a local-GAN cell at 30 %, tiny preset, 2 epochs each."""
    return spec_from_dict({"name": name, "preset": "tiny", "fractions": [0.3],
                           "methods": ["privgan", "gan"], "evaluator": EVALUATOR,
                           "evaluate": FAST_EVAL, "set": ["train.epochs_privgan=2",
                                                          "train.epochs_gan=2"]})


@needs_evaluator
def test_only_runs_the_matching_cells_and_leaves_the_rest_pending(tmp_path):
    spec = _one_fraction_spec("o")
    with pytest.raises(SweepError, match=r"--only 'privgan-f0\.5\*' matches no cell"):
        run_sweep(spec, out_dir=tmp_path, only=("privgan-f0.5*",))
    assert not (tmp_path / "o").exists()  # refused before the store or its folder is made
    first = run_sweep(spec, out_dir=tmp_path, only=("gan-*",))
    assert first.ran == 1 and not first.failed
    with ResultStore(first.store) as s:
        assert {c.key: c.status for c in s.cells()} == {"privgan-f0.3-f0.3-s0": "pending",
                                                      "gan-f0.3-f0.3-s0": "done"}
    rest = run_sweep(spec, out_dir=tmp_path)
    assert rest.ran == 1 and rest.already_done == 1


@needs_evaluator
def test_a_folder_with_only_the_snapshot_resumes_where_the_sweep_stopped(tmp_path):
    """A fresh clone of a repository that commits the snapshot (not the live store)."""
    spec = _one_fraction_spec("n")
    first = run_sweep(spec, out_dir=tmp_path, only=("gan-*",))
    snap = first.root / "snapshot"
    with ResultStore(first.store) as s:
        gan = s.cells(status="done")[0]
        assert from_store(s) == read_snapshot(snap)  # written after the stored cell
    first.store.unlink()
    for side in first.root.glob("results.sqlite-*"):
        side.unlink()
    rest = run_sweep(spec, out_dir=tmp_path)
    assert rest.ran == 1 and rest.already_done == 1  # the done cell came back from the snapshot
    with ResultStore(rest.store) as s:
        again = {c.key: c for c in s.cells()}
        assert again[gan.key].elapsed_s == gan.elapsed_s and again[gan.key].attempts == 1
        assert {c.status for c in again.values()} == {"done"}
        assert from_store(s) == read_snapshot(snap)
