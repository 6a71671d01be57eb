"""Package attributes imported on first use, so that importing a package stays light.

A package's ``__init__`` lists which submodule defines each public name and
gets its ``__getattr__`` from :func:`lazy_exports`; ``import privshare`` (and
the command line's start-up) then loads no torch, Flower or scikit-learn
until a name that needs them is used.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib import import_module
from typing import Any


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``exports[name]`` is the submodule (relative
    to ``package``) that defines ``name``; the value is imported once and then kept."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(f"{package}.{exports[name]}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
