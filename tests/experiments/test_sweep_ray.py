"""Sweeps on a real Ray cluster started on localhost: a head and a worker node.

Same store as the local engine, a killed worker's cell retried and stored
once, and requests the cluster cannot meet refused before anything is written.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchmarks.ray_equivalence import free_port, localhost_cluster
from privshare.experiments.engines import EngineError, EngineSettings
from privshare.experiments.grids import spec_from_dict
from privshare.experiments.store import ResultStore
from privshare.experiments.sweep import run_sweep
from tests.experiments.test_sweep import FAST_EVAL

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    """A head and a second node on localhost (1 CPU each); yields the address."""
    with localhost_cluster() as address:
        yield address


def _spec(name: str, **extra):
    return spec_from_dict({"name": name, "preset": "tiny", "fractions": [0.3],
                           "methods": ["privgan", "gan"], "evaluate": FAST_EVAL,
                           "set": ["train.epochs_privgan=2", "train.epochs_gan=2"], **extra})


def _rows(store: Path) -> list[tuple]:
    with ResultStore(store) as s:
        return sorted((r["cell"], r["source"], r["owner"], r["eval_seed"], r["metric"], r["class"],
                       r["value"]) for r in s.results())


def test_the_ray_engine_gives_the_local_engine_store(cluster, tmp_path):
    local = run_sweep(_spec("s"), out_dir=tmp_path / "local", threads=1)
    ray = run_sweep(_spec("s"), out_dir=tmp_path / "ray", threads=1,
                    engine=EngineSettings(engine="ray", address=cluster))
    assert local.failed == {} and ray.failed == {} and ray.cells == local.cells == 2
    assert _rows(ray.store) == _rows(local.store)  # same seeds, same numbers


def test_a_local_instance_beside_a_cluster_leaves_the_driver_able_to_use_the_cluster(cluster,
                                                                                     tmp_path):
    # --workers starts a Ray instance of its own even with a cluster running on this machine,
    # and leaves this process's Ray authentication settings as it found them: Ray switches a
    # process that starts an instance to token mode, and a driver left in token mode gets
    # OwnerDiedError for the results a tokenless cluster returns through its object store.
    mode = os.environ.get("RAY_AUTH_MODE")
    local = run_sweep(_spec("w"), out_dir=tmp_path / "workers", threads=1, workers=2)
    assert local.failed == {} and local.cells == 2
    assert os.environ.get("RAY_AUTH_MODE") == mode
    ray = run_sweep(_spec("w"), out_dir=tmp_path / "ray", threads=1,
                    engine=EngineSettings(engine="ray", address=cluster))
    assert ray.failed == {} and _rows(ray.store) == _rows(local.store)


def test_a_killed_worker_is_retried_and_its_cell_stored_once(cluster, tmp_path):
    spec = _spec("k", evaluator="tests.experiments.ray_helpers:evaluate_or_die", methods=["privgan"])
    result = run_sweep(spec, out_dir=tmp_path, threads=1,
                       engine=EngineSettings(engine="ray", address=cluster))
    assert (result.root / "killed-once").is_file()  # the first attempt's worker did die
    assert result.failed == {}
    with ResultStore(result.store) as s:
        (cell,) = s.cells()
        assert cell.status == "done" and cell.attempts == 1
        keys = [(r["source"], r["owner"], r["eval_seed"], r["metric"], r["class"]) for r in s.results()]
    assert keys and len(keys) == len(set(keys))


def test_requests_the_cluster_cannot_meet_are_refused_before_anything_is_written(cluster, tmp_path):
    with pytest.raises(EngineError, match=r"asks for 1 GPU\(s\) but the Ray cluster has 0"):
        run_sweep(_spec("g", gpus_per_cell=1), out_dir=tmp_path,
                  engine=EngineSettings(engine="ray", address=cluster, gpus=1))
    with pytest.raises(EngineError, match=r"no Ray cluster answers there"):
        run_sweep(_spec("g"), out_dir=tmp_path,
                  engine=EngineSettings(engine="ray", address=f"127.0.0.1:{free_port()}"))
    with pytest.raises(EngineError, match="need --engine ray"):
        run_sweep(_spec("g"), out_dir=tmp_path, engine=EngineSettings(gpus=0.5))
    assert not (tmp_path / "g").exists()
