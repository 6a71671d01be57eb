"""benchmarks.migrate_central_names: stored ``dp`` names become ``central`` ones, once."""

from __future__ import annotations

import io
import json
import shutil
import sqlite3

import numpy as np
import pytest
import tomli_w
import torch

from benchmarks.migrate_central_names import main, migrate
from privshare.artifacts.layout import RunLayout, SweepLayout
from privshare.artifacts.lock import exclusive
from privshare.config import config_to_dict, load_config, read_run_config
from privshare.config.renamed import RENAMED_SETTINGS
from privshare.experiments.store import Cell, ResultStore
from privshare.reports.results import ResultsError, load_results


def _old_config() -> dict:
    config = config_to_dict(load_config(preset="tiny"))
    old = {new.split(".")[1]: key.split(".")[1] for key, new in RENAMED_SETTINGS.items()}
    config["train"] = {old.get(k, k): v for k, v in config["train"].items()}
    assert "dp_delay" in config["train"]
    return config


def _scores() -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **{"privgan_dp/0/0/members": np.ones(3),
                                "privgan_dp/0/0/nonmembers": np.zeros(4),
                                "gan/0/0/members": np.ones(2)})
    return buf.getvalue()


ROW = {"source": "privgan_dp", "owner": "0", "eval_seed": 0, "metric": "auc", "class": "all",
       "value": 0.6, "n": 7}
METRICS = {"config": {"attacks": ["gan", "privgan_dp", "dpgan"]}, "rows": [ROW],
           "summary": [{"source": "privgan_dp", "metric": "auc", "mean": 0.6}]}


def _old_run(root):
    """A run folder as the code wrote it before the rename."""
    layout = RunLayout(root)
    (root / "central").mkdir(parents=True)
    (root / "central" / "privgan_dp.pt").write_bytes(b"model")
    layout.config.write_text(tomli_w.dumps(_old_config()))
    layout.manifest.write_text(json.dumps({"status": "done"}))
    layout.history.write_text(json.dumps({"privgan": [{"d_0": 0.7, "dp": 0.69, "epoch": 0}],
                                          "gan_owner_0": [{"d": 0.7, "epoch": 0}]}))
    layout.metrics_json.write_text(json.dumps(METRICS))
    layout.metrics_csv.write_text("source,owner,seed,metric,class,value,n\n"
                                  "privgan_dp,0,0,auc,all,0.6,7\ndpgan,0,0,auc,all,0.5,7\n")
    layout.scores.write_bytes(_scores())
    (root / "checkpoints").mkdir()
    torch.save({"version": 1, "kind": "privgan_owner", "config": _old_config(), "epoch": 1,
                "history": [{"dp": 0.69, "epoch": 0}],
                "state": {"last_reply": {"metrics": {"dp_steps": 1.0, "dp_share": 0.3}}}},
               root / "checkpoints" / "privgan_owner0.pt")


def _old_store(folder):
    """A sweep store as the code wrote it before the rename, left in WAL mode."""
    spec = {"name": "s", "set": ["train.dp_delay=0"], "evaluate": ['attacks = ["privgan_dp"]']}
    cell = Cell(key="privgan-f0.2-f0.4-s0", method="privgan", fractions=(0.2, 0.4), seed=0,
                run_seed=1, run_dir="cells/privgan-f0.2-f0.4-s0", config=_old_config())
    with ResultStore(SweepLayout(folder).store, create=True) as store:
        store.initialise(spec=spec, cells=[cell], info={})
        store.finish(1, rows=[ROW], artifacts={"metrics.json": json.dumps(METRICS).encode(),
                                               "scores.npz": _scores()}, elapsed_s=1.0)


def test_a_run_folder_and_a_store_are_renamed_once(tmp_path):
    _old_run(tmp_path / "sweep" / "cells" / "run")
    _old_store(tmp_path / "sweep")
    with pytest.raises(ResultsError, match="migrate_central_names"):
        load_results(tmp_path / "sweep")  # reports refuse old names, they do not translate
    reader = sqlite3.connect(SweepLayout(tmp_path / "sweep").store)  # an idle reader keeps the
    reader.execute("SELECT COUNT(*) FROM cells").fetchall()  # WAL open after the migration closes
    assert main([str(tmp_path), "--dry-run"]) == 0
    assert "privgan_dp" in (tmp_path / "sweep" / "cells" / "run" / "metrics.csv").read_text()
    assert main([str(tmp_path)]) == 0
    copy = tmp_path / "copy"  # the store file alone (what git keeps) holds every change
    copy.mkdir()
    shutil.copy(SweepLayout(tmp_path / "sweep").store, SweepLayout(copy).store)
    reader.close()
    assert all(not v for v in migrate(tmp_path).values())  # a second pass finds nothing

    root = tmp_path / "sweep" / "cells" / "run"
    layout = RunLayout(root)
    assert read_run_config(layout.config).train.central_delay == 0
    assert json.loads(layout.history.read_text())["privgan"][0]["central"] == 0.69
    doc = json.loads(layout.metrics_json.read_text())
    assert doc["config"]["attacks"] == ["gan", "privgan_central", "dpgan"]
    assert doc["rows"][0]["source"] == doc["summary"][0]["source"] == "privgan_central"
    assert layout.metrics_csv.read_text().splitlines()[1:] == [
        "privgan_central,0,0,auc,all,0.6,7", "dpgan,0,0,auc,all,0.5,7"]
    with np.load(layout.scores) as f:
        assert sorted(f.files) == ["gan/0/0/members", "privgan_central/0/0/members",
                                   "privgan_central/0/0/nonmembers"]
    assert layout.central_model.read_bytes() == b"model"
    assert not (root / "central" / "privgan_dp.pt").exists()
    ckpt = torch.load(root / "checkpoints" / "privgan_owner0.pt", weights_only=True)
    assert ckpt["config"]["train"]["central_pretrain_epochs"] == 0
    assert ckpt["history"] == [{"central": 0.69, "epoch": 0}]
    assert ckpt["state"]["last_reply"]["metrics"] == {"central_steps": 1.0, "central_share": 0.3}
    assert not list(tmp_path.rglob(".*.lock"))  # lock files made by the migration are removed

    res = load_results(copy)
    assert {r["source"] for r in res.rows} == {"privgan_central"}
    assert res.cells[0].config["train"]["central_delay"] == 0
    assert res.meta["spec"]["set"] == ["train.central_delay=0"]
    assert res.meta["spec"]["evaluate"] == ['attacks = ["privgan_central"]']
    assert "privgan_central/0/0/members" in res.npz(res.cells[0].id, "scores.npz")
    stored = json.loads(res.artifact(res.cells[0].id, "metrics.json"))
    assert stored["rows"][0]["source"] == "privgan_central"


def test_a_busy_sweep_and_an_axis_on_an_old_key_are_refused(tmp_path, capsys):
    _old_store(tmp_path)
    with sqlite3.connect(SweepLayout(tmp_path).store) as con:
        spec = {"name": "s", "axes": {"train.dp_delay": [0, 1]}}
        con.execute("UPDATE meta SET value = ? WHERE key = 'spec'", (json.dumps(spec),))
    assert main([str(tmp_path)]) == 2
    assert "axis on 'train.dp_delay'" in capsys.readouterr().err
    with exclusive(SweepLayout(tmp_path).lock, RuntimeError):  # a sweep process at work
        assert main([str(tmp_path)]) == 2
    assert "stop it first" in capsys.readouterr().err
    assert not any(s.startswith("privgan_central") for s, in sqlite3.connect(
        SweepLayout(tmp_path).store).execute("SELECT source FROM results"))  # nothing changed
