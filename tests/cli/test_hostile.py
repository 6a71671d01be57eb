"""Hostile inputs and faults through the command line: one line, a documented exit code, and
nothing written (or nothing half-written). Tiny preset, seconds each."""

from __future__ import annotations

import errno
import json
import os
import re
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from privshare.cli import app
from privshare.cli.errors import EXIT_BAD_INPUT, EXIT_ENVIRONMENT

runner = CliRunner()
TRAIN = ["train", "--preset", "tiny"]


def refused(res, code: int, pattern: str) -> None:
    """Exit ``code``, no traceback, and exactly one ``error:`` line matching ``pattern``."""
    assert res.exit_code == code, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), res.output
    errors = [line for line in res.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and re.search(pattern, errors[0]), res.output
    assert "Traceback" not in res.output


def files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    res = runner.invoke(app, [*TRAIN, "--out-dir", str(out), "--name", "t"])
    assert res.exit_code == 0, res.output
    return out / "t"


# -- 5. filesystem faults: exit 3 (the machine refused), nothing half-written -----------------

def _fail_mkdir_under(monkeypatch, folder: Path, code: int):
    real = os.mkdir

    def mkdir(path, *args, **kwargs):
        if str(path).startswith(str(folder)):
            raise OSError(code, os.strerror(code), str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", mkdir)


@pytest.mark.parametrize("case", ["out-dir is a file", "read-only out-dir", "name too long",
                                  "generate --out a folder"])
def test_filesystem_faults_are_one_line(case, tmp_path, monkeypatch, tiny_run):
    target = tmp_path / "out"
    if case == "out-dir is a file":
        target.write_text("")
        res = runner.invoke(app, [*TRAIN, "--out-dir", str(target)])
        refused(res, EXIT_ENVIRONMENT, r"Not a directory: '.*out/tiny'; a part of this path is a file")
        assert target.read_text() == ""
    elif case == "read-only out-dir":  # tests run as root here, so chmod would not refuse
        target.mkdir()
        _fail_mkdir_under(monkeypatch, target, errno.EROFS)
        res = runner.invoke(app, [*TRAIN, "--out-dir", str(target)])
        refused(res, EXIT_ENVIRONMENT, r"Read-only file system: '.*out/tiny'; .*--out-dir")
    elif case == "name too long":
        res = runner.invoke(app, [*TRAIN, "--out-dir", str(target), "--name", "a" * 300])
        refused(res, EXIT_BAD_INPUT, r"name='a{40}'\.\.\. is 300 bytes long; .* at most 200")
    else:
        target.mkdir()
        before = files(tmp_path)
        res = runner.invoke(app, ["generate", str(tiny_run), "-n", "2", "--out", str(target)])
        refused(res, EXIT_BAD_INPUT, r"'.*out' is a folder; name a file to write")
        assert files(tmp_path) == before  # no stray out.tmp.npz beside it
        assert not list(tiny_run.parent.rglob("*.tmp*"))
    assert files(target) == [] or case == "out-dir is a file"


@pytest.mark.parametrize("writer", [
    "export .npz", "model file", "checkpoint",
])
def test_disk_full_leaves_no_tmp_and_marks_the_run_failed(writer, tmp_path, monkeypatch):
    """ENOSPC half-way through a write: one line, exit 3, no *.tmp, run.json says failed."""
    import torch

    module, name = (np, "savez_compressed") if writer == "export .npz" else (torch, "save")
    real = getattr(module, name)

    def full(*args, **kwargs):
        target = args[0] if module is np else args[1]  # savez(file, ...), save(obj, file)
        hit = {"export .npz": True, "model file": "checkpoints" not in str(target),
               "checkpoint": "checkpoints" in str(target)}[writer]
        if not hit or not isinstance(target, (str, Path)):  # the partition's open file passes
            return real(*args, **kwargs)
        Path(target).write_bytes(b"half a file")  # the disk fills part-way through
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))

    monkeypatch.setattr(module, name, full)
    res = runner.invoke(app, [*TRAIN, "--out-dir", str(tmp_path), "--name", "r"])
    refused(res, EXIT_ENVIRONMENT, r"No space left on device: '.*'; the disk is full")
    root = tmp_path / "r"
    assert not [p for p in files(root) if ".tmp" in p]
    manifest = json.loads((root / "run.json").read_text())
    assert manifest["status"] == "failed" and "No space left" in manifest["error"]


# -- 6. corrupt data and config files: exit 2 naming the file ---------------------------------

def _npz_bytes(tmp_path: Path) -> bytes:
    np.savez(tmp_path / "good.npz", x=np.zeros((60, 8, 8), np.uint8), y=np.repeat(np.arange(3), 20))
    return (tmp_path / "good.npz").read_bytes()


@pytest.mark.parametrize("kind", ["empty", "truncated", "bad CRC", ".npy", "not a zip"])
def test_corrupt_npz_is_one_line_naming_the_file(kind, tmp_path):
    good = _npz_bytes(tmp_path)
    bad = tmp_path / "data.npz"
    if kind == "empty":
        bad.write_bytes(b"")
    elif kind == "truncated":
        bad.write_bytes(good[: len(good) // 2])
    elif kind == "bad CRC":
        flipped = bytearray(good)
        flipped[200] ^= 0xFF
        bad.write_bytes(bytes(flipped))
    elif kind == ".npy":
        np.save(bad.with_suffix(".npy"), np.zeros((3, 8, 8)))
        bad = bad.with_suffix(".npy")
    else:
        bad.write_text("hello, not a zip")
    out = tmp_path / "out"
    res = runner.invoke(app, [*TRAIN, "--out-dir", str(out), "--set", 'data.name="npz"',
                              "--set", f'data.path="{bad}"'])
    refused(res, EXIT_BAD_INPUT, re.escape(str(bad)) + r": (the file is empty|not a readable "
            r"\.npz|holds one bare array).*numpy\.savez")
    assert not out.exists()


@pytest.mark.parametrize("command", ["train", "evaluate --config", "sweep"])
def test_non_utf8_toml_is_one_line_naming_the_file(command, tmp_path, tiny_run):
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b'name = "\xff\xfe"\n')
    out = tmp_path / "out"
    args = {"train": ["train", str(bad), "--out-dir", str(out)],
            "evaluate --config": ["evaluate", str(tiny_run), "--config", str(bad)],
            "sweep": ["sweep", str(bad), "--out-dir", str(out)]}[command]
    before = files(tiny_run)
    res = runner.invoke(app, args)
    refused(res, EXIT_BAD_INPUT, rf"'{re.escape(str(bad))}' is not UTF-8 text \(byte 0xff at "
            r"offset 8\); save it as UTF-8")
    assert not out.exists() and files(tiny_run) == before


@pytest.mark.parametrize("kind", ["empty", "truncated"])
def test_a_damaged_partition_in_a_run_folder_is_one_line(kind, tmp_path, tiny_run):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(tiny_run, run)
    part = run / "partition.npz"
    part.write_bytes(b"" if kind == "empty" else part.read_bytes()[:300])
    before = files(run)
    res = runner.invoke(app, ["evaluate", str(run), "--seeds", "0"])
    refused(res, EXIT_BAD_INPUT, re.escape(str(part)) + ": not a readable partition")
    assert files(run) == before


# -- 8. a report needs a finished cell --------------------------------------------------------

@pytest.mark.parametrize("cells", [[], ["failed"]], ids=["empty store", "only failed cells"])
def test_report_of_a_store_without_finished_cells_is_refused(cells, tmp_path):
    from privshare.experiments.store import ResultStore

    ResultStore(tmp_path / "results.sqlite", create=True).close()
    con = sqlite3.connect(tmp_path / "results.sqlite")
    for i, status in enumerate(cells):
        con.execute("INSERT INTO cells (key, method, f0, f1, seed, run_seed, status, run_dir, "
                    "config) VALUES (?, 'privgan', 0.2, 0.4, 0, 1, ?, '/x', '{}')", (f"c{i}", status))
    con.commit()
    con.close()
    res = runner.invoke(app, ["report", str(tmp_path)])
    refused(res, EXIT_BAD_INPUT, r"holds no finished cell \((no cells|1 failed)\); run or resume")
    assert {p.removeprefix("results.sqlite") for p in files(tmp_path)} <= {"", "-wal", "-shm"}


# -- 9. sweep files are type-checked, the evaluator imported, before any cell trains ----------

@pytest.mark.parametrize("line, message", [
    ('symmetric = "false"', r"symmetric = 'false' is a str; expected a boolean"),
    ('methods = "privgan"', r"methods = 'privgan' must be a list"),
    ("fractions = 5", r"fractions = 5 must be a list, e.g. fractions = \[0.2\]"),
    ("seeds = [0.5]", r"seeds\[0\] = 0.5 is a float; expected an integer"),
    ('evaluator = "nosuch.module:fn"', r"evaluator 'nosuch.module:fn': module 'nosuch.module' "
                                       r"does not import"),
    ('evaluator = "privshare.experiments.evaluate:nope"', r"evaluator '.*:nope': module '.*' has no 'nope'"),
])
def test_sweep_file_values_are_checked_before_training(line, message, tmp_path):
    spec = {"name": '"s"', "preset": '"tiny"', "fractions": "[0.2, 0.4]", "methods": '["privgan"]'}
    key = line.split(" =")[0]
    spec[key] = line.split("= ", 1)[1]
    (tmp_path / "s.toml").write_text("".join(f"{k} = {v}\n" for k, v in spec.items()))
    out = tmp_path / "sweeps"
    res = runner.invoke(app, ["sweep", str(tmp_path / "s.toml"), "--out-dir", str(out), "--no-report"])
    refused(res, EXIT_BAD_INPUT, re.escape(str(tmp_path / "s.toml")) + ": " + message)
    assert not out.exists()


# -- 10. values that were accepted silently ---------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["--name", "../escape"], r"name='\.\./escape' must be one folder name"),
    (["--name", "a/b"], r"name='a/b' must be one folder name"),
    (["--set", "data.classes=[0, 1, 1]"], r"data.classes=\[0, 1, 1\] names class\(es\) \[1\] more "
                                          r"than once"),
    (["--set", "export.grid_columns=0"], r"export.grid_columns=0 must be >= 1"),
    (["--set", "train.central_delay=2"], r"train.central_delay=2 >= train.epochs_privgan=2: the "
                                         r"central discriminator would never train"),
    (["--set", 'train.device="cpu"\nseed=3'], r"override 'train.device=\"cpu\"\\nseed=3' holds a "
                                              r"line break"),
    (["--set", 'name="x\ny"'], r"holds a line break"),
    # non-finite numbers: inf passed every ">= 0" check and trained to NaN
    (["--set", "train.privacy_weight=inf"], r"train.privacy_weight=inf must be a finite number"),
    (["--set", "train.r1_gamma=nan"], r"train.r1_gamma=nan must be a finite number"),
    (["--set", "data.fractions=[0.1, nan]"], r"data.fractions=\[0.1, nan\] must hold finite "),
    # the setting that is wrong is named, not a consequence of it
    (["--set", "train.epochs_privgan=0"], r"train.epochs_privgan=0 must be >= 1"),
])
def test_silently_accepted_values_are_refused(args, message, tmp_path):
    res = runner.invoke(app, [*TRAIN, "--out-dir", str(tmp_path / "out"), *args])
    refused(res, EXIT_BAD_INPUT, message)
    assert files(tmp_path) == []  # not even out/, nor ../escape beside it


def test_a_folder_given_as_the_config_file_is_named_as_a_folder(tmp_path):
    (tmp_path / "config.toml").mkdir()
    res = runner.invoke(app, ["train", str(tmp_path / "config.toml")])
    refused(res, EXIT_BAD_INPUT, r"config.toml' is a folder, not a file")


def test_non_finite_evaluation_settings_are_refused(tiny_run):
    before = files(tiny_run)
    res = runner.invoke(app, ["evaluate", str(tiny_run), "--set", "fit_lr=inf"])
    refused(res, EXIT_BAD_INPUT, r"fit_lr=inf must be a finite number")
    assert files(tiny_run) == before


# -- 3. federated options are checked before partition.npz or an owner's rows exist ----------

@pytest.mark.parametrize("args, message", [
    (["-k", "0"], r"local-steps=0 must be >= 1"),
    (["--round-timeout", "0"], r"round-timeout=0.0 must be > 0"),
    (["--engine", "bogus"], r"--engine 'bogus': choose inprocess or local"),
    (["--set", 'train.noise="shared"'], r"train.noise='shared': a shared z stream"),
    (["--set", "train.central_pretrain_epochs=1"], r"train.central_pretrain_epochs=1: pre-training the central discriminator"),
])
def test_bad_federated_options_write_nothing(args, message, tmp_path):
    engine = [] if "--engine" in args else ["--engine", "inprocess"]
    res = runner.invoke(app, ["federated", "simulate", "--preset", "tiny", "--out-dir",
                              str(tmp_path / "out"), *engine, *args])
    refused(res, EXIT_BAD_INPUT, message)
    assert files(tmp_path) == []


def test_the_library_simulation_checks_before_writing_private_rows(tmp_path):
    from privshare.config import ConfigError, load_config
    from privshare.federated.settings import FederationError
    from privshare.federated.simulate import simulate

    config = load_config(preset="tiny", overrides=[f'out_dir="{tmp_path}"', 'name="f"'])
    with pytest.raises((ConfigError, FederationError, ValueError), match="local-steps=0 must be >= 1"):
        simulate(config, engine="inprocess", local_steps=0)
    assert not (tmp_path / "f").exists()
