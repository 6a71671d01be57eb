"""Where benchmark scripts keep their JSON results (benchmarks/results/, git-ignored)."""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def write_result(doc: dict, *, stem: str, out: Path | None = None) -> Path:
    """Write ``doc`` to ``out``, or to ``results/<stem>_<doc["when"] without colons>.json``."""
    path = out or RESULTS / f"{stem}_{doc['when'][:19].replace(':', '')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1))
    return path
