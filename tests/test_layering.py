"""Imports point one way: cli -> experiments/reports -> evaluation/attacks ->
training/artifacts -> models/data -> config (see the style guide). The ``cli`` package
is the top layer; ``reports`` only reads stored results (no training code)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "privshare"

RANK = {
    "config": 0, "atomic": 0, "seeding": 0, "intervals": 0, "faults": 0, "lazy": 0, "data": 1, "models": 1, "hardware": 1,
    "artifacts": 2, "training": 2,
    "federated": 3, "evaluation": 3, "attacks": 3, "experiments": 4, "reports": 4, "api": 5, "cli": 6,
}
FORBIDDEN = {  # explicit bans beyond the ranking, third-party included
    "config": {"torch"},
    "data": {"torch"},
    "reports": {"torch", "training", "models", "federated"},  # stored results only
    "experiments": {"matplotlib"},
    "attacks": {"training", "federated"},
    "evaluation": {"training", "federated"},
    "federated": {"attacks", "reports"},
    "api": {"cli", "reports", "federated"},
}


def _package(path: Path) -> str:
    rel = path.relative_to(SRC).parts
    return rel[0].removesuffix(".py")


def _module_names(path: Path) -> set[str]:
    """Every absolute module a file imports, at the top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _imports(path: Path) -> set[str]:
    out = set()
    for name in _module_names(path):
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


@pytest.mark.parametrize("path", sorted((SRC / "reports").rglob("*.py")),
                         ids=lambda p: str(p.relative_to(SRC)))
def test_reports_read_only_the_result_store(path):
    """Of ``experiments``, ``reports`` imports the result store and its snapshot only: it never
    trains a model."""
    for name in _module_names(path):
        if name.startswith("privshare.experiments"):
            assert name in ("privshare.experiments.store", "privshare.experiments.snapshot"), \
                f"reports ({path.name}) imports {name}"


def test_cli_import_is_light():
    code = ("import sys, privshare.cli; "
            "print([m for m in ('torch', 'flwr', 'matplotlib') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
