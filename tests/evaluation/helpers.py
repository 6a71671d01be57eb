"""A tiny trained run (8x8 digits, seconds) and evaluation settings small enough for tests."""

from __future__ import annotations

from pathlib import Path

from privshare.artifacts import Run
from privshare.config import load_config
from privshare.evaluation import EvalConfig
from privshare.experiments import run_experiment

# a few seconds per evaluation seed on 2 CPU cores
FAST = EvalConfig(samples=60, epochs=2, batch_size=32, feature_rows=150, feature_epochs=1,
                  fit_batch_size=32, patience=2, max_steps=20, seeds=(0,),
                  members=40, nonmembers=50, blackbox_samples=200, blackbox_components=8)


def make_tiny_run(out_dir: Path, *, name: str = "t", methods: tuple[str, ...] = ("privgan", "gan")) -> Run:
    """Train the ``tiny`` preset (digits 0-2, owners at 20% and 40%) into ``out_dir/name``."""
    listed = ", ".join(f'"{m}"' for m in methods)
    config = load_config(preset="tiny", overrides=[f'out_dir="{out_dir}"', f'name="{name}"',
                                                   f"train.methods=[{listed}]"])
    return run_experiment(config)
