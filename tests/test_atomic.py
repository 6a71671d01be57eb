"""The package's one atomic-write rule: whole or not at all, never a temporary file left."""

from __future__ import annotations

import json
import os

import pytest

from privshare.atomic import atomic_path, write_json_atomic, write_text_atomic


def test_a_failed_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "page.html"
    write_text_atomic(target, "first")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("disk full")
    assert target.read_text() == "first"
    assert sorted(p.name for p in target.parent.iterdir()) == ["page.html"]


def test_writers_of_the_same_file_never_share_a_temporary_and_files_get_the_usual_mode(tmp_path):
    target = tmp_path / "run.json"
    with atomic_path(target) as a, atomic_path(target) as b:
        assert a != b and a.parent == b.parent == tmp_path and a.name.startswith(".run.json.")
        a.write_text("a")
        b.write_text("b")
    assert target.read_text() == "a"  # the outer block renames last
    write_json_atomic(target, {"b": 1, "a": [2]})
    assert json.loads(target.read_text()) == {"a": [2], "b": 1}
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]


def test_the_suffix_ends_the_temporary_name(tmp_path):
    with atomic_path(tmp_path / "x.npz", suffix=".tmp.npz") as tmp:
        assert tmp.name.endswith(".tmp.npz")
        tmp.write_bytes(b"z")
    assert (tmp_path / "x.npz").read_bytes() == b"z"
