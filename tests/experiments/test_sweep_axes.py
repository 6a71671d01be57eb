"""Sweep axes: any config key crossed with the owner-fraction cells, stored and reported."""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from benchmarks.migrate_central_names import migrate_store
from privshare.cli import app
from privshare.config import ConfigError
from privshare.experiments.grids import load_spec, spec_from_dict
from privshare.experiments.snapshot import restore
from privshare.experiments.store import ResultStore
from privshare.experiments.sweep import plan_cells, run_sweep
from privshare.reports import build_report

from .test_sweep import EVALUATOR, FAST_EVAL, REPO, needs_evaluator

KEY = "train.privacy_weight"
TINY = {"name": "a", "preset": "tiny", "fractions": [0.2, 0.4], "methods": ["privgan", "gan"]}


def test_plan_of_the_privacy_front_grid():
    spec = load_spec(grid="privacy-front")
    cells = plan_cells(spec, root=Path("/x"))
    weights = (0.0, 0.1, 0.3, 1.0, 3.0, 10.0)
    assert spec.preset == "conv" and spec.axes == ((KEY, weights),)
    assert len(cells) == 2 * 6 * 3 and {c.method for c in cells} == {"privgan"}
    assert {(c.f0, c.f1) for c in cells} == {(0.02, 0.2), (0.01, 0.25)}
    keys = [c.key for c in cells]
    assert len(set(keys)) == len(keys)
    assert keys[:3] == [f"privgan-f0.02-f0.2-s0-{KEY}=0", f"privgan-f0.02-f0.2-s0-{KEY}=0.1",
                        f"privgan-f0.02-f0.2-s0-{KEY}=0.3"]
    assert f"privgan-f0.01-f0.25-s2-{KEY}=10" in keys
    for c in cells:
        config = c.config
        assert config["train"]["privacy_weight"] == c.axes[KEY] and config["name"] == c.key
        assert config["data"]["fractions"] == [c.f0, c.f1]
    # the weights of one cell and seed share a run seed: the front is a paired comparison
    assert len({c.run_seed for c in cells}) == 2 * 3
    assert spec.to_dict()["axes"] == {KEY: list(weights)}


def test_axes_cross_every_cell_and_name_it_whatever_the_file_order(tmp_path):
    dotted = tmp_path / "dotted.toml"
    dotted.write_text('name = "a"\npreset = "tiny"\nfractions = [0.2, 0.4]\nsymmetric = true\n'
                      '[axes]\ntrain.privacy_weight = [0, 1]\nmodel.latent_dim = [4, 8]\n')
    quoted = tmp_path / "quoted.toml"
    quoted.write_text('name = "a"\npreset = "tiny"\nfractions = [0.2, 0.4]\nsymmetric = true\n'
                      '[axes]\n"model.latent_dim" = [4, 8]\n"train.privacy_weight" = [0.0, 1.0]\n')
    spec = load_spec(path=dotted)
    assert spec == load_spec(path=quoted)
    assert spec.axes == (("model.latent_dim", (4, 8)), (KEY, (0.0, 1.0)))  # 0 -> 0.0 (a float)
    cells = plan_cells(spec, root=Path("/x"))
    assert len(cells) == (4 + 2) * 4  # 2x2 privGAN + 2 GAN cells, each for 4 combinations
    mirror = next(c for c in cells if c.mirror_of is not None and c.axes == {
        "model.latent_dim": 8, KEY: 0.0})
    assert mirror.key == f"privgan-f0.4-f0.2-s0-model.latent_dim=8-{KEY}=0"
    assert mirror.mirror_of == f"privgan-f0.2-f0.4-s0-model.latent_dim=8-{KEY}=0"
    assert mirror.mirror_of in {c.key for c in cells}
    assert mirror.config["model"]["latent_dim"] == 8


@pytest.mark.parametrize("axes, message", [
    ({"train.privacy_wieght": [0.1]}, r"'train.privacy_wieght' is not a run-config key; keys of "
                                      r"train: .*privacy_weight"),
    ({"trian.privacy_weight": [0.1]}, r"'trian' is not a config section; .*'train'"),
    ({"train": [1]}, r"'train' names a config section, not a key"),
    ({KEY: [0.1, -1.0]}, r"'train.privacy_weight' value -1.0 is refused: .*must be >= 0"),
    ({KEY: ["high"]}, r"value 'high' is refused: .*is a str; expected a number"),
    ({KEY: []}, r"'train.privacy_weight' = \[\] must be a non-empty list of values, e.g. "),
    ({KEY: 0.1}, r"= 0.1 must be a non-empty list"),
    ({KEY: [1, 1.0]}, r"lists 1.0 twice"),
    ({"seed": [0, 1]}, r"'seed' is set by the sweep for every cell; vary it with seeds"),
    ({"data.fractions": [[0.1, 0.2]]}, r"'data.fractions' is set by the sweep .* cells"),
    ({"train.methods": [["gan"]]}, r"'train.methods' is set by the sweep .* methods"),
    ({"train.epochs_gan": [2, 3]}, r"'train.epochs_gan' is also fixed by set"),
    ({"train.central_delay": [0, 2]},
     r"'train.central_delay' value 2 is refused: .*central_delay=2 >= "),
    ({"train.central_delay": [0, 1], "train.epochs_privgan": [2, 3]}, None),  # every pair is fine
    ({"train.central_delay": [0, 1], "train.epochs_privgan": [1, 3]},  # each fine alone, not together
     r"combination train.central_delay = 1, train.epochs_privgan = 1 is refused: .*the central "
     r"discriminator would never"),
    ({"train.dp_delay": [0, 1]}, r"axes key 'train.dp_delay' was renamed 'train.central_delay'"),
])
def test_bad_axes_are_refused_with_one_line_naming_key_and_value(axes, message):
    data = {**TINY, "set": ["train.epochs_gan=2"], "axes": axes}
    if message is None:
        assert spec_from_dict(data).axes
        return
    with pytest.raises(ConfigError, match=message) as caught:
        spec_from_dict(data)
    assert "\n" not in str(caught.value)


def test_a_bad_axis_in_a_sweep_file_writes_nothing(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('name = "bad"\npreset = "tiny"\nfractions = [0.3]\n'
                    '[axes]\n"train.privacy_weight" = [1.0, -0.5]\n')
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["sweep", str(path), "--out-dir", str(out), "--no-report"])
    assert res.exit_code == 2
    assert "'train.privacy_weight' value -0.5 is refused" in res.output
    assert not out.exists()


@needs_evaluator
def test_a_two_value_axis_sweep_end_to_end(tmp_path):
    spec = spec_from_dict({"name": "ax", "preset": "tiny", "fractions": [0.3],
                           "methods": ["privgan"], "seeds": [0, 1], "evaluator": EVALUATOR,
                           "evaluate": FAST_EVAL, "set": ["train.epochs_privgan=2"],
                           "axes": {KEY: [0.0, 1.0]}})
    result = run_sweep(spec, out_dir=tmp_path, threads=1)
    assert result.ran == 4 and not result.failed
    with ResultStore(result.store) as store:
        cells = store.cells()
        assert [c.key for c in cells] == [f"privgan-f0.3-f0.3-s{s}-{KEY}={w}"
                                          for s in (0, 1) for w in (0, 1)]
        assert [c.axes for c in cells] == [{KEY: w} for _ in (0, 1) for w in (0.0, 1.0)]
        assert {c.status for c in cells} == {"done"}
        rows = store.results()
        assert {r[KEY] for r in rows} == {0.0, 1.0}
        assert all(r[KEY] == next(c.axes[KEY] for c in cells if c.key == r["cell"]) for r in rows)
        lines = list(csv.DictReader(store.export(tmp_path / "rows.csv").open()))
        table = pq.read_table(store.export(tmp_path / "rows.parquet", fmt="parquet")).to_pylist()
    assert len(lines) == len(table) == len(rows) and {float(r[KEY]) for r in lines} == {0.0, 1.0}
    assert [r[KEY] for r in table] == [r[KEY] for r in rows]
    # the weight reached training: same run seed, same partition, different generator losses
    histories = {c.key: json.loads((result.root / c.run_dir / "history.json").read_text())
                 for c in cells[:2]}
    assert cells[0].run_seed == cells[1].run_seed
    (a, b) = histories.values()
    assert json.dumps(a) != json.dumps(b)
    again = run_sweep(spec, out_dir=tmp_path, threads=1)  # resumes: nothing left to train
    assert again.ran == 0 and again.already_done == 4
    assert "cell_axes" in _tables(result.store)

    report = build_report(result.root)
    axis = [f for f in report.figures if f.name.startswith("axis_")]
    assert "axis_train_privacy_weight_privgan_accuracy" in {f.name for f in axis}
    assert "training seeds [0, 1], evaluation seeds [0]" in axis[0].svg.read_text()


COMMITTED = REPO / "results" / "sweeps" / "paper-cells" / "snapshot"  # the store, as committed


def _tables(path: Path) -> list[str]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return sorted(r[0] for r in rows)
    finally:
        con.close()


def test_a_store_from_before_axes_opens_resumes_and_reports_on_a_copy(tmp_path):
    """Also from before cells of more than two owners: read as two-owner cells, unchanged.
    The committed snapshot is copied (never touched itself) and the store rebuilt from it."""
    root = tmp_path / "paper-cells"
    shutil.copytree(COMMITTED, root / "snapshot")
    restore(root / "snapshot", root / "results.sqlite")
    assert migrate_store(root / "results.sqlite", write=True) == []  # names already current
    spec = load_spec(grid="paper-cells")
    planned = plan_cells(spec, root=root)
    with ResultStore(root / "results.sqlite") as store:  # as it is: no cell_axes table
        cells, rows = store.cells(), store.results()
        assert [c.key for c in cells] == [c.key for c in planned]  # keys unchanged
        assert all(c.axes == {} for c in cells) and store.axis_keys() == []
        assert all(c.fractions == (c.f0, c.f1) for c in cells)  # no cell_fractions table
        assert rows and "f2" not in rows[0]
        assert rows and not [k for k in rows[0] if "." in k]  # no axis columns
        with store.export(tmp_path / "old.csv").open() as fh:
            header = next(csv.reader(fh))
    assert header == ["cell", "method", "f0", "f1", "seed", "run_seed", "source", "owner",
                      "eval_seed", "metric", "class", "value", "n", "mirrored"]
    done = [c.key for c in cells if c.status == "done"]
    assert done
    report = build_report(root, out_dir=tmp_path / "before")
    names = {f.name for f in report.figures}
    assert {"fig4_samples", "fig5_utility_heatmaps", "fig6_utility_vs_fraction",
            "fig7_attack_vs_fraction", "privacy_utility"} <= names
    assert not [n for n in names if n.startswith("axis_")]
    assert "owners_vs_fraction" not in names  # two owners per cell: no per-owner figure
    assert not [k for k in report.skipped if "axes" in k]
    assert all("Drawn for" not in f.caption for f in report.figures)

    # resume on the copy (only a done cell asked for: nothing trains); the spec still matches
    again = run_sweep(spec, out_dir=tmp_path, only=(done[0],))
    assert again.ran == 0 and again.cells == len(planned) and again.already_done == len(done)
    with ResultStore(root / "results.sqlite") as store:
        assert store.results() == rows and store.axis_keys() == []
    assert _tables(root / "results.sqlite") == ["artifacts", "cells", "meta", "results"]
    after = build_report(root, out_dir=tmp_path / "after")
    assert [f.name for f in after.figures] == [f.name for f in report.figures]
    # the resumed sweep rewrote the snapshot: the same bytes as committed, file for file
    written = sorted(p.relative_to(root / "snapshot") for p in (root / "snapshot").rglob("*")
                     if p.is_file())
    assert written == sorted(p.relative_to(COMMITTED) for p in COMMITTED.rglob("*") if p.is_file())
    assert all((root / "snapshot" / f).read_bytes() == (COMMITTED / f).read_bytes()
               for f in written)
    assert after.skipped == report.skipped
