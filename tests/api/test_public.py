"""The public names: exactly those the README documents, typed and documented; the README
example runs as written; the API sits above the layers it calls; ``import privshare`` stays light."""

from __future__ import annotations

import ast
import inspect
import re
import subprocess
import sys
import typing
from pathlib import Path

import pytest

import privshare

ROOT = Path(__file__).resolve().parents[2]
API = ROOT / "src" / "privshare" / "api"


def _section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("## Python API\n")
    return text[start : text.index("\n## ", start + 1)]


def test_public_names_are_exactly_the_documented_ones():
    documented = set(re.findall(r"^- `(\w+)", _section(), flags=re.M))
    assert set(privshare.__all__) == documented
    assert sorted(privshare.__all__) == sorted(privshare.api.__all__)
    for name in privshare.__all__:
        assert getattr(privshare, name) is getattr(privshare.api, name)
    with pytest.raises(AttributeError, match="no attribute 'bogus'"):
        privshare.bogus  # noqa: B018


def _public_callables():
    for name in privshare.__all__:
        obj = getattr(privshare, name)
        yield name, obj
        if inspect.isclass(obj):
            for attr, member in inspect.getmembers(obj):
                if not attr.startswith("_") and callable(member) \
                        and getattr(member, "__module__", "").startswith("privshare.api"):
                    yield f"{name}.{attr}", member


@pytest.mark.parametrize(("name", "obj"), list(_public_callables()), ids=lambda v: str(v)[:40])
def test_every_public_name_has_a_docstring_and_type_hints(name, obj):
    assert inspect.getdoc(obj), f"{name} has no docstring"
    if inspect.isclass(obj):
        if issubclass(obj, Exception):
            return
        obj = obj.__init__
    hints = typing.get_type_hints(obj)
    params = [p for p in inspect.signature(obj).parameters if p not in ("self", "cls")]
    missing = [p for p in params if p not in hints]
    assert not missing and "return" in hints, f"{name}: no type hints for {missing or 'return'}"


def test_the_readme_example_runs_as_written(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", _section(), flags=re.S)
    assert len(blocks) == 1
    monkeypatch.chdir(tmp_path)
    exec(compile(blocks[0], "README.md: Python API", "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out
    assert "owner 0: (30, 8, 8), labels [10, 10, 10]" in out
    assert "owner 1: (30, 8, 8), labels [10, 10, 10]" in out
    assert "real_own 0" in out and "privgan 1" in out
    assert (tmp_path / "digits-run" / "metrics.csv").is_file()


def test_the_api_imports_no_cli_or_reports():
    for path in API.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            for name in names:
                assert not name.startswith(("privshare.cli", "privshare.reports",
                                            "privshare.federated")), f"{path.name} imports {name}"


def test_import_privshare_does_not_import_torch():
    code = "import sys, privshare; print('torch' in sys.modules, sorted(privshare.__all__))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("False")
