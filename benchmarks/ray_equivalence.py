"""The same grid through the local engine and a two-node Ray cluster: the same store?

    python -m benchmarks.ray_equivalence --grid quick --out results/ray-equivalence

Starts a Ray cluster on localhost (a head and a second node, one CPU each;
:func:`localhost_cluster`, which ``tests/experiments/test_sweep_ray.py`` uses too), runs the grid once with
the local engine and once with ``--engine ray`` on that cluster (one torch
thread per cell both times, so every sum runs in the same order), then
compares the two stores row by row (cell, source, owner, evaluation seed,
metric, class, value) and writes a JSON summary with both wall times.
Exit status 1 when any row differs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from privshare.experiments.engines import EngineSettings
from privshare.experiments.grids import load_spec
from privshare.experiments.store import ResultStore
from privshare.experiments.sweep import run_sweep

REPO = Path(__file__).resolve().parents[1]


def _ray() -> str:
    return shutil.which("ray") or str(Path(sys.executable).parent / "ray")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def localhost_cluster() -> Iterator[str]:
    """``ray start`` a head and a second node on localhost (1 CPU each); yields the head's
    address, then stops them and gives this process back its own Ray authentication mode."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "RAY_USAGE_STATS_ENABLED": "0",
           # a localhost cluster: head and worker must agree on Ray's token authentication
           # (seen here: with ~/.ray/auth_token present the head enabled it, the worker did
           # not, and the worker could not join)
           "RAY_AUTH_MODE": "disabled"}
    common = ["--num-cpus=1", "--num-gpus=0", "--object-store-memory=200000000"]
    driver_mode = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"  # this process connects as a driver: same mode
    try:
        subprocess.run([_ray(), "start", "--head", f"--port={port}", "--include-dashboard=false",
                        "--disable-usage-stats", *common], env=env, check=True, capture_output=True,
                       timeout=120)
        subprocess.run([_ray(), "start", f"--address=127.0.0.1:{port}", *common], env=env,
                       check=True, capture_output=True, timeout=120)
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([_ray(), "stop", "--force"], capture_output=True, timeout=120)
        if driver_mode is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = driver_mode


def _rows(store: Path) -> dict[tuple, float]:
    with ResultStore(store) as s:
        return {(r["cell"], r["source"], r["owner"], r["eval_seed"], r["metric"], r["class"]):
                r["value"] for r in s.results()}


def compare(a: dict[tuple, float], b: dict[tuple, float]) -> dict:
    """Rows only one store has, rows whose values differ, and the largest difference."""
    both = a.keys() & b.keys()
    differ = [k for k in both if not (a[k] == b[k] or (a[k] != a[k] and b[k] != b[k]))]  # NaN = NaN
    gaps = [abs(a[k] - b[k]) for k in differ if a[k] is not None and b[k] is not None]
    return {"rows_local": len(a), "rows_ray": len(b), "only_local": len(a.keys() - b.keys()),
            "only_ray": len(b.keys() - a.keys()), "differ": len(differ),
            "largest_difference": max(gaps, default=0.0),
            "examples": [list(k) for k in sorted(differ, key=str)[:5]]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--grid", default="quick")
    p.add_argument("--out", type=Path, default=Path("results/ray-equivalence"))
    args = p.parse_args(argv)
    spec = load_spec(grid=args.grid)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        local = run_sweep(spec, out_dir=root / "local", threads=1, drop_models=True)
        local_s = time.perf_counter() - t0
        with localhost_cluster() as address:
            t0 = time.perf_counter()
            ray = run_sweep(spec, out_dir=root / "ray", threads=1, drop_models=True,
                            engine=EngineSettings(engine="ray", address=address))
            ray_s = time.perf_counter() - t0
        result = compare(_rows(local.store), _rows(ray.store))
    doc = {"when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "grid": args.grid,
           "cells": {"local": local.cells, "ray": ray.cells},
           "failed": {"local": local.failed, "ray": ray.failed},
           "wall_s": {"local": round(local_s, 1), "ray_two_nodes": round(ray_s, 1)}, **result}
    path = args.out / f"{args.grid}.json"
    path.write_text(json.dumps(doc, indent=1) + "\n")
    same = not (result["differ"] or result["only_local"] or result["only_ray"]
                or local.failed or ray.failed)
    print(f"{args.grid} grid: {result['rows_local']} rows local, {result['rows_ray']} on Ray; "
          f"{result['differ']} differ (largest {result['largest_difference']:.3g}), "
          f"{result['only_local']} only local, {result['only_ray']} only on Ray; local "
          f"{local_s:.0f} s, Ray {ray_s:.0f} s -> {'SAME STORE' if same else 'DIFFERENT'} ({path})")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
