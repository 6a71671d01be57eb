"""The store's snapshot of small files: the same content back, the same bytes each time,
the live store rebuilt from it, and one-line refusals of what is not a snapshot."""

from __future__ import annotations

import gzip
import json

import pytest

from privshare.experiments.snapshot import (INDEX, check_not_behind, from_store, read_snapshot,
                                            restore, write_snapshot)
from privshare.experiments.store import Cell, ResultStore, StoreError
from privshare.reports.results import ResultsError, load_results


def _cells() -> list[Cell]:
    three = Cell(key="privgan-f0.1-f0.2-f0.3-s0", method="privgan", fractions=(0.1, 0.2, 0.3),
                 seed=0, run_seed=11, run_dir="cells/a", config={"train": {"x": 1}},
                 axes={"train.privacy_weight": 3.0})
    two = Cell(key="privgan-f0.1-f0.2-s0", method="privgan", fractions=(0.1, 0.2), seed=0,
               run_seed=12, run_dir="cells/b", config={}, axes={"train.privacy_weight": 0.1})
    mirror = Cell(key="privgan-f0.2-f0.1-s0", method="privgan", fractions=(0.2, 0.1), seed=0,
                  run_seed=13, run_dir="cells/c", config={}, mirror_of=two.key,
                  axes={"train.privacy_weight": 0.1})
    pending = Cell(key="gan-f0.3-f0.3-s0", method="gan", fractions=(0.3, 0.3), seed=0,
                   run_seed=14, run_dir="cells/d", config={}, axes={"train.privacy_weight": 0.0})
    return [three, two, mirror, pending]


def _rows(owners: int) -> list[dict]:
    return [{"source": "privgan", "owner": str(o), "eval_seed": s, "metric": "accuracy",
             "class": c, "value": 0.1 + o / 3 + s / 7, "n": 10 if c != "all" else None}
            for o in range(owners) for s in (0, 1) for c in ("0", "1", "all")] + [
        {"source": "privgan_central", "owner": "all", "eval_seed": 0, "metric": "auc",
         "class": "all", "value": None, "n": None}]


@pytest.fixture()
def store(tmp_path):
    with ResultStore(tmp_path / "live" / "results.sqlite", create=True) as s:
        s.initialise(spec={"name": "t", "fractions": [0.1, 0.2]}, cells=_cells(),
                     info={"python": "3"})
        ids = {c.key: c.id for c in s.cells()}
        # the second cell finishes first: the snapshot keeps the store's order of rows
        s.mark_running(ids["privgan-f0.1-f0.2-s0"])
        s.finish(ids["privgan-f0.1-f0.2-s0"], rows=_rows(2), elapsed_s=2.5,
                 artifacts={"scores.npz": b"\x00npz", "metrics.json": b'{"a": 1}',
                            "samples_privgan_owner0.npz": b"s0"})
        s.finish(ids["privgan-f0.1-f0.2-f0.3-s0"], rows=_rows(3), elapsed_s=1.0 / 3,
                 artifacts={"metrics.json": b'{"b": 2}'})
        s.mark_running(ids["gan-f0.3-f0.3-s0"])
        yield s


def test_the_snapshot_holds_the_stores_content(store, tmp_path):
    assert write_snapshot(store, tmp_path / "snap") > 0
    back, live = read_snapshot(tmp_path / "snap"), from_store(store)
    assert back.meta == live.meta and back.cells == live.cells and back.times == live.times
    assert back.rows == live.rows  # order, None values and exact floats included
    assert back.artifacts == live.artifacts
    cells = {c.key: c for c in back.cells}
    assert [cells[c.key].status for c in _cells()] == ["done", "done", "done", "running"]
    assert cells[_cells()[0].key].fractions == (0.1, 0.2, 0.3)
    assert cells[_cells()[2].key].mirror_of == _cells()[1].key
    assert {r["cell_id"] for r in back.rows} == {cells[c.key].id for c in _cells()[:3]}


def test_the_same_content_gives_the_same_bytes_and_no_writes(store, tmp_path):
    write_snapshot(store, tmp_path / "a")
    write_snapshot(store, tmp_path / "b")
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*")
                   if p.is_file())
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*")
                           if p.is_file())
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
               for f in files)
    assert write_snapshot(store, tmp_path / "a") == 0  # up to date: nothing rewritten
    # a pending cell has no files; a text artifact is kept gzipped, an npz as it is
    assert not (tmp_path / "a" / "rows" / "gan-f0.3-f0.3-s0.csv.gz").exists()
    cell = tmp_path / "a" / "artifacts" / "privgan-f0.1-f0.2-s0"
    assert gzip.decompress((cell / "metrics.json.gz").read_bytes()) == b'{"a": 1}'
    assert (cell / "scores.npz").read_bytes() == b"\x00npz"


def test_a_cell_no_longer_done_loses_its_files(store, tmp_path):
    write_snapshot(store, tmp_path / "s")
    cell = store.cells()[0]
    store.mark_failed(cell.id, "Traceback ...\nValueError: boom")
    assert write_snapshot(store, tmp_path / "s") >= 2
    assert not (tmp_path / "s" / "rows" / f"{cell.key}.csv.gz").exists()
    assert not (tmp_path / "s" / "artifacts" / cell.key).exists()
    back = read_snapshot(tmp_path / "s")
    assert back.cells[0].status == "failed" and back.cells[0].error.endswith("boom")
    assert {r["cell_id"] for r in back.rows} == {c.id for c in store.cells()
                                                 if c.status == "done"}


def test_restore_rebuilds_the_live_store_ids_and_all(store, tmp_path):
    write_snapshot(store, tmp_path / "snap")
    target = tmp_path / "fresh" / "results.sqlite"
    assert restore(tmp_path / "snap", target) == 4
    assert sorted(p.name for p in target.parent.iterdir()) == ["results.sqlite"]
    with ResultStore(target) as again:
        a, b = from_store(again), from_store(store)
        assert (a.meta, a.cells, a.rows, a.artifacts, a.times) == (
            b.meta, b.cells, b.rows, b.artifacts, b.times)
        assert again.results() == store.results()  # axes and every owner's fraction joined
        # the restored store goes on as the original would: the plan is recognised
        assert again.initialise(spec={"name": "t", "fractions": [0.1, 0.2]}, cells=_cells(),
                                info={}) == 0
    with pytest.raises(StoreError, match="exists; restore a snapshot only where there is no"):
        restore(tmp_path / "snap", target)


def test_a_report_reads_a_sweep_folder_that_has_only_its_snapshot(store, tmp_path):
    folder = tmp_path / "sweep"
    write_snapshot(store, folder / "snapshot")
    from_files = load_results(folder)
    from_live = load_results(store.path)
    assert from_files.path == folder / "snapshot"
    assert from_files.rows == from_live.rows and from_files.cells == from_live.cells
    assert from_files.artifacts == from_live.artifacts
    assert load_results(folder / "snapshot").rows == from_live.rows


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / INDEX).unlink(), "it has no store.json"),
    (lambda d: (d / INDEX).write_text("{not json"), "store.json is not JSON"),
    (lambda d: (d / INDEX).write_text(json.dumps({"format": "v0"})),
     "store.json has format 'v0', expected 'privshare-sweep-snapshot-v1'"),
    (lambda d: (d / "rows" / "privgan-f0.1-f0.2-s0.csv.gz").unlink(),
     "done cell 'privgan-f0.1-f0.2-s0' has no rows/privgan-f0.1-f0.2-s0.csv.gz"),
])
def test_what_is_not_a_snapshot_is_refused_in_one_line(store, tmp_path, damage, message):
    write_snapshot(store, tmp_path / "snap")
    damage(tmp_path / "snap")
    with pytest.raises(StoreError, match=message) as caught:
        read_snapshot(tmp_path / "snap")
    assert "\n" not in str(caught.value) and "is not a privshare sweep snapshot" in str(caught.value)
    with pytest.raises(StoreError, match=message):
        restore(tmp_path / "snap", tmp_path / "r.sqlite")
    assert not (tmp_path / "r.sqlite").exists()  # nothing written
    if (tmp_path / "snap" / INDEX).is_file():
        with pytest.raises(ResultsError, match=message):
            load_results(tmp_path / "snap")


def test_a_store_behind_its_snapshot_may_not_overwrite_it(store, tmp_path):
    """A snapshot pulled from elsewhere with more done cells than this machine's store."""
    write_snapshot(store, tmp_path / "snap")
    check_not_behind(store, tmp_path / "snap")  # equal: fine
    check_not_behind(store, tmp_path / "none")  # no snapshot yet: fine
    with ResultStore(tmp_path / "old.sqlite", create=True) as old:
        old.initialise(spec={"name": "t", "fractions": [0.1, 0.2]}, cells=_cells(), info={})
        with pytest.raises(StoreError, match=r"holds 3 done cell\(s\) that .*old.sqlite' lacks "
                                             r"\(first: 'privgan-f0.1-f0.2-f0.3-s0'\); move "
                                             r"old.sqlite away") as caught:
            check_not_behind(old, tmp_path / "snap")
        assert "\n" not in str(caught.value)
