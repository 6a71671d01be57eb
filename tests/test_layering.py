"""Imports point one way: cli -> experiments/reports -> evaluation/attacks ->
training/artifacts -> models/data -> config (see the style guide)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "privshare"

RANK = {
    "config": 0, "seeding": 0, "intervals": 0, "faults": 0, "data": 1, "models": 1, "hardware": 1,
    "artifacts": 2, "training": 2,
    "federated": 3, "evaluation": 3, "attacks": 3, "experiments": 4, "reports": 4, "api": 5, "cli": 5,
}
FORBIDDEN = {  # explicit bans beyond the ranking, third-party included
    "config": {"torch"},
    "data": {"torch"},
    "reports": {"torch", "training"},
    "experiments": {"matplotlib"},
    "attacks": {"training", "federated"},
    "evaluation": {"training", "federated"},
    "federated": {"attacks", "reports"},
    "api": {"cli", "reports", "federated"},
}


def _package(path: Path) -> str:
    rel = path.relative_to(SRC).parts
    return rel[0].removesuffix(".py")


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    out = set()
    for name in names:
        parts = name.split(".")
        out.add(parts[1] if parts[0] == "privshare" and len(parts) > 1 else parts[0])
    return out


def _modules():
    return [p for p in SRC.rglob("*.py") if _package(p) in RANK]


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_imports_point_one_way(path):
    pkg = _package(path)
    for name in _imports(path):
        if name in RANK and name != pkg:
            assert RANK[name] <= RANK[pkg], f"{pkg} ({path.name}) imports higher layer {name}"
        assert name not in FORBIDDEN.get(pkg, set()), f"{pkg} ({path.name}) must not import {name}"


def test_cli_import_is_light():
    code = "import sys, privshare.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
