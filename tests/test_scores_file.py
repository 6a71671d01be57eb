"""What a sweep store keeps of a run's scores.npz (the first seed, in float32) and of its
metrics.json (no rows)."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from privshare.artifacts.scores import first_seed_scores, read_scores
from privshare.reports.results import parse_scores


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def test_first_seed_scores_keep_what_the_report_reads_and_every_auc():
    rng = np.random.default_rng(0)
    whitebox = rng.random(400).astype(np.float32).astype(np.float64)  # D's float32 outputs
    blackbox = rng.random(400) / 7.0  # a float64 statistic
    arrays = {"privgan_max/0/0/members": whitebox[:200], "privgan_max/0/0/nonmembers": whitebox[200:],
              "mc_gan/1/3/members": blackbox[:150], "mc_gan/1/3/nonmembers": blackbox[150:],
              "seed1/privgan_max/0/0/members": whitebox[:10],
              "seed1/privgan_max/0/0/nonmembers": whitebox[10:20]}
    full = _npz(**arrays)
    cut = first_seed_scores(full)
    with np.load(io.BytesIO(cut)) as f:
        kept = read_scores({k: f[k] for k in f.files})
    assert set(kept) == {k for k in arrays if not k.startswith("seed1/")}
    assert all(v.dtype == np.float32 for v in kept.values())
    # the same values, exactly, as a set (sorted; which row had which score is not kept)
    np.testing.assert_array_equal(np.sort(kept["privgan_max/0/0/members"]), np.sort(whitebox[:200]))
    for key in ("privgan_max/0/0", "mc_gan/1/3"):
        m, n = arrays[f"{key}/members"], arrays[f"{key}/nonmembers"]
        y = np.r_[np.ones(len(m)), np.zeros(len(n))]
        got = roc_auc_score(y, np.r_[kept[f"{key}/members"], kept[f"{key}/nonmembers"]])
        assert abs(got - roc_auc_score(y, np.r_[m, n])) < 1e-5
    # the report reads the same sets from either file
    with np.load(io.BytesIO(full)) as f:
        before = parse_scores({k: f[k] for k in f.files})
    after = parse_scores(kept)
    assert [(s.kind, s.owner, s.cls) for s in before] == [(s.kind, s.owner, s.cls) for s in after]
    assert len(cut) < len(full)
    assert first_seed_scores(cut) == cut  # cutting again changes nothing


def test_compact_store_cuts_the_scores_of_an_older_store(tmp_path, monkeypatch, capsys):
    from benchmarks import compact_store
    from privshare.experiments.store import Cell, ResultStore

    metrics = {"rows": [{"value": 0.5}], "summary": [{"mean": 0.5}], "seeds": [0],
               "counts": {"0": 3}}
    full = _npz(**{"gan/0/0/members": np.linspace(0, 1, 50), "gan/0/0/nonmembers": np.zeros(50),
                   "seed1/gan/0/0/members": np.ones(50), "seed1/gan/0/0/nonmembers": np.zeros(50)})
    path = tmp_path / "r.sqlite"
    with ResultStore(path, create=True) as store:
        store.initialise(spec={"name": "t"}, info={}, cells=[Cell(
            key="gan-0", method="gan", fractions=(0.1, 0.1), seed=0, run_seed=1, run_dir="c",
            config={})])
        store.finish(store.cells()[0].id, rows=[], artifacts={"scores.npz": full,
                     "metrics.json": json.dumps(metrics).encode()}, elapsed_s=1.0)
    monkeypatch.setattr("sys.argv", ["compact_store", str(path)])
    compact_store.main()
    out = capsys.readouterr().out
    assert "1 scores files cut" in out and "1 metrics.json without their rows" in out
    with ResultStore(path) as store:
        cell = store.cells()[0].id
        assert store.artifact(cell, "scores.npz") == first_seed_scores(full)
        assert json.loads(store.artifact(cell, "metrics.json")) == {"seeds": [0], "counts": {"0": 3}}
    compact_store.main()  # run again, it changes nothing
    assert "0 scores files cut" in capsys.readouterr().out


def test_packed_scores_keep_every_value_of_any_sign_and_refuse_an_unknown_encoding():
    rng = np.random.default_rng(1)
    values = np.r_[rng.normal(0, 50, 300), [0.0, -0.0, 1e-30, -3.4e38, 3.4e38, np.inf]]
    cut = first_seed_scores(_npz(**{"nn_gan/0/1/members": values, "nn_gan/0/1/nonmembers": values[:7],
                                    "counts": np.arange(3)}))
    with np.load(io.BytesIO(cut)) as f:
        stored = {k: f[k] for k in f.files}
    got = read_scores(stored)
    assert np.array_equal(got["counts"], np.arange(3))  # not a float array: kept as it was
    expect = np.sort(values.astype(np.float32).view(np.uint32)).view(np.float32)
    assert np.array_equal(got["nn_gan/0/1/members"].view(np.uint32), expect.view(np.uint32))
    assert len(got["nn_gan/0/1/nonmembers"]) == 7
    stored["__encoding__"] = np.array("something-else")
    with pytest.raises(ValueError, match="something-else"):
        read_scores(stored)
