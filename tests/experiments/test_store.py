"""The SQLite result store: cells, atomic writes, mirroring, export."""

from __future__ import annotations

import csv
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from privshare.experiments.store import Cell, ResultStore, StoreError, swap_owner


def _cells(n: int = 3, *, mirror: bool = False) -> list[Cell]:
    cells = [Cell(key=f"privgan-{i}", method="privgan", fractions=(0.1 * (i + 1), 0.2), seed=0,
                  run_seed=100 + i, run_dir=f"cells/c{i}", config={"i": i})
             for i in range(n)]
    if mirror:
        cells.append(Cell(key="privgan-mirror", method="privgan", fractions=(0.2, 0.1), seed=0,
                          run_seed=7, run_dir="cells/m", config={}, mirror_of="privgan-0"))
    return cells


def _rows(k: int = 4) -> list[dict]:
    return [{"source": src, "owner": owner, "eval_seed": 0, "metric": "accuracy",
             "class": str(c), "value": 0.5 + 0.01 * c, "n": 10}
            for src, owner in (("privgan", "0"), ("privgan", "1"), ("privgan_pooled", "all"))
            for c in range(k)]


@pytest.fixture()
def store(tmp_path):
    with ResultStore(tmp_path / "r.sqlite", create=True) as s:
        s.initialise(spec={"name": "t"}, cells=_cells(mirror=True), info={})
        yield s


def test_initialise_is_idempotent_and_checks_the_spec(store):
    assert [c.status for c in store.cells()] == ["pending"] * 4
    assert store.initialise(spec={"name": "t"}, cells=_cells(mirror=True), info={}) == 0
    with pytest.raises(StoreError, match="another spec"):
        store.initialise(spec={"name": "other"}, cells=_cells(), info={})
    mirror = store.cells()[-1]
    assert mirror.mirror_of == store.cells()[0].key
    assert store.cells()[1].config == {"i": 1}


def test_missing_store_is_an_error_that_says_what_to_do(tmp_path):
    with pytest.raises(StoreError, match="run the sweep first"):
        ResultStore(tmp_path / "nope.sqlite")


def test_finish_writes_rows_artifacts_and_status_together(store):
    cell = store.cells()[1]
    store.mark_running(cell.id)
    assert store.cells(status="running")[0].attempts == 1
    store.finish(cell.id, rows=_rows(), artifacts={"scores.npz": b"abc"}, elapsed_s=1.5)
    done = store.cells(status="done")
    assert [c.key for c in done] == [cell.key] and done[0].elapsed_s == 1.5
    assert len(store.results()) == 12
    assert store.artifact(cell.id, "scores.npz") == b"abc"


def test_text_artifacts_are_stored_gzipped_and_read_back_as_written(store):
    text = b'{"rows": [' + b", ".join(b'{"value": 0.5}' for _ in range(2000)) + b"]}"
    cell = store.cells()[0]  # mirrored by the last cell
    store.finish(cell.id, rows=_rows(), artifacts={"metrics.json": text, "scores.npz": b"PK1",
                                                  "samples_gan_owner0.npz": b"PK2"},
                 elapsed_s=1.0)
    raw = dict(((r[0], r[1]), bytes(r[2])) for r in
               store._con.execute("SELECT cell_id, name, data FROM artifacts"))
    assert (cell.id, "metrics.json.gz") in raw and (cell.id, "metrics.json") not in raw
    assert len(raw[(cell.id, "metrics.json.gz")]) < len(text) / 10
    assert raw[(cell.id, "scores.npz")] == b"PK1"  # already compressed: stored as it is
    assert store.artifact(cell.id, "metrics.json") == text
    got = store.artifacts()
    assert got[(cell.id, "metrics.json")] == text and got[(cell.id, "scores.npz")] == b"PK1"
    mirror = store.cells()[-1]
    assert (mirror.id, "samples_gan_owner1.npz") in got  # only owner-named artifacts mirror


def test_compact_packs_artifacts_of_older_stores_and_keeps_their_bytes(store):
    text = b"x" * 50_000
    cell = store.cells()[1]
    store.finish(cell.id, rows=_rows(), artifacts={"scores.npz": b"PK"}, elapsed_s=1.0)
    with store.transaction() as con:  # as a store written before packing holds it
        con.execute("INSERT INTO artifacts VALUES (?, ?, ?)", (cell.id, "metrics.json", text))
    assert store.artifact(cell.id, "metrics.json") == text
    before, after = store.compact()
    assert after <= before
    names = {r[0] for r in store._con.execute("SELECT name FROM artifacts")}
    assert names == {"metrics.json.gz", "scores.npz"}
    assert store.artifact(cell.id, "metrics.json") == text
    assert store.artifact(cell.id, "scores.npz") == b"PK"
    assert store.compact()[1] <= after  # a packed store stays as it is


def test_rewrite_artifacts_replaces_each_cells_file_in_one_transaction(store):
    a, b = store.cells()[0], store.cells()[1]
    store.finish(a.id, rows=_rows(), artifacts={"scores.npz": b"PK-a", "metrics.json": b"{}"},
                 elapsed_s=1.0)
    store.finish(b.id, rows=_rows(), artifacts={"scores.npz": b"PK-b"}, elapsed_s=1.0)
    assert store.rewrite_artifacts("scores.npz", lambda data: data.lower()) == 2
    assert store.artifact(a.id, "scores.npz") == b"pk-a" and store.artifact(b.id, "scores.npz") == b"pk-b"
    assert store.artifact(a.id, "metrics.json") == b"{}"  # other names untouched
    assert store.rewrite_artifacts("scores.npz", lambda data: data) == 0  # nothing to change
    # gzipped text artifacts are rewritten through their unpacked bytes and packed again
    assert store.rewrite_artifacts("metrics.json", lambda data: data + b" ") == 1
    assert store.artifact(a.id, "metrics.json") == b"{} "

    def fails(data):
        if data == b"pk-b":
            raise ValueError("bad file")
        return b"changed"

    with pytest.raises(ValueError, match="bad file"):
        store.rewrite_artifacts("scores.npz", fails)
    assert store.artifact(a.id, "scores.npz") == b"pk-a"  # the transaction rolled back


def test_a_failing_write_leaves_nothing_behind(store):
    cell = store.cells()[1]
    store.mark_running(cell.id)
    bad = _rows() + [_rows()[0]]  # a duplicate primary key fails the INSERT midway
    with pytest.raises(sqlite3.IntegrityError):
        store.finish(cell.id, rows=bad, artifacts={"a.npz": b"x"}, elapsed_s=1.0)
    assert store.results() == [] and store.artifact(cell.id, "a.npz") is None
    assert store.cells(status="running")[0].id == cell.id
    store.mark_failed(cell.id, "Traceback ...\nValueError: boom")
    failed = store.cells(status="failed")[0]
    assert failed.error.endswith("boom")


def test_a_full_disk_is_an_os_error_naming_the_store_and_keeps_nothing(store):
    import errno

    cell = store.cells()[1]
    store.mark_running(cell.id)
    pages = store._con.execute("PRAGMA page_count").fetchone()[0]
    store._con.execute(f"PRAGMA max_page_count={pages}")  # the file may not grow: SQLITE_FULL
    with pytest.raises(OSError) as caught:
        store.finish(cell.id, rows=_rows(), artifacts={"a.npz": os.urandom(200_000)},
                     elapsed_s=1.0)
    assert caught.value.errno == errno.ENOSPC
    assert caught.value.filename == str(store.path) and "disk is full" in str(caught.value)
    assert store.results() == [] and store.artifact(cell.id, "a.npz") is None
    assert store.cells(status="running")[0].id == cell.id  # the cell is retried next time


def test_a_read_only_store_is_an_os_error(tmp_path):
    import errno

    path = tmp_path / "r.sqlite"
    with ResultStore(path, create=True) as s:
        s.initialise(spec={"name": "t"}, cells=_cells(), info={})
    with ResultStore(path) as s:
        s._con.execute("PRAGMA query_only=ON")  # as a file the process may not write
        with pytest.raises(OSError) as caught:
            s.mark_running(s.cells()[0].id)
    assert caught.value.errno == errno.EROFS and caught.value.filename == str(path)


def test_finishing_a_source_fills_its_mirror_with_swapped_owners(store):
    source, mirror = store.cells()[0], store.cells()[-1]
    store.finish(source.id, rows=_rows(1), elapsed_s=2.0,
                 artifacts={"samples_privgan_owner0.npz": b"g0", "samples_privgan_owner1.npz": b"g1",
                            "scores.npz": b"s"})
    assert {c.key for c in store.cells(status="done")} == {source.key, mirror.key}
    rows = {(r["cell"], r["source"], r["owner"]): r for r in store.results()}
    assert rows[("privgan-mirror", "privgan", "1")]["mirrored"] == 1
    assert rows[("privgan-mirror", "privgan", "0")]["value"] == rows[("privgan-0", "privgan", "1")]["value"]
    assert rows[("privgan-mirror", "privgan_pooled", "all")]["mirrored"] == 1
    assert store.artifact(mirror.id, "samples_privgan_owner0.npz") == b"g1"
    assert store.artifact(mirror.id, "scores.npz") is None  # owner-mixed files are not mirrored
    assert swap_owner("all") == "all"


def test_export_csv_has_one_line_per_row(store, tmp_path):
    store.finish(store.cells()[2].id, rows=_rows(), artifacts={}, elapsed_s=1.0)
    path = store.export(tmp_path / "out.csv")
    with path.open() as fh:
        lines = list(csv.DictReader(fh))
    assert len(lines) == 12 and lines[0]["cell"] == "privgan-2" and float(lines[0]["f0"]) == pytest.approx(0.3)


def test_export_parquet_holds_the_same_rows_as_csv(store, tmp_path):
    import pyarrow.parquet as pq

    store.finish(store.cells()[2].id, rows=_rows(), artifacts={}, elapsed_s=1.0)
    with store.export(tmp_path / "out.csv").open() as fh:
        lines = list(csv.DictReader(fh))
    table = pq.read_table(store.export(tmp_path / "out.parquet", fmt="parquet")).to_pylist()
    assert len(table) == len(lines) == 12
    assert [r["cell"] for r in table] == [r["cell"] for r in lines]
    assert [r["value"] for r in table] == pytest.approx([float(r["value"]) for r in lines])
    with pytest.raises(StoreError, match="export format 'xlsx'"):
        store.export(tmp_path / "out.xlsx", fmt="xlsx")


WRITER = textwrap.dedent("""
    import sys
    from privshare.experiments.store import ResultStore
    rows = [{"source": "s", "owner": str(o), "eval_seed": 0, "metric": "m%d" % m, "class": "all",
             "value": 1.0, "n": 1} for o in range(2) for m in range(2000)]
    with ResultStore(sys.argv[1]) as store:
        for cell in store.cells(status="pending"):
            store.mark_running(cell.id)
            store.finish(cell.id, rows=rows, artifacts={"blob": b"x" * 200_000}, elapsed_s=0.0)
            print(cell.id, flush=True)
""")


def test_sigkill_during_writes_never_leaves_a_partial_cell(tmp_path):
    path = tmp_path / "k.sqlite"
    cells = [Cell(key=f"c{i}", method="gan", fractions=(0.1, 0.1), seed=i, run_seed=i,
                  run_dir=f"cells/{i}", config={}) for i in range(200)]
    with ResultStore(path, create=True) as s:
        s.initialise(spec={"k": 1}, cells=cells, info={})
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    for _ in range(3):  # let a few cells land, then kill in the middle of the stream
        assert proc.stdout.readline().strip()
    time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with ResultStore(path) as s:
        done = s.cells(status="done")
        counts = {}
        for r in s.results():
            counts[r["cell"]] = counts.get(r["cell"], 0) + 1
        assert 3 <= len(done) < 200
        assert counts == {c.key: 4000 for c in done}  # whole cells only
        assert all(s.artifact(c.id, "blob") is not None for c in done)
