"""Timestamps of a federated round's phases, for the benchmark's breakdown.

Off unless ``PRIVSHARE_FED_TRACE`` names a file: then the server and every
owner's ClientApp append one JSON line per event (``time.time()``, the event
name, the process id and a few labels) to that file. The benchmark sets it
for the localhost deployment, where every process shares one clock, and
reads it back next to Flower's DEBUG log lines (see
``benchmarks/federated_round.py``). Nothing here touches a message.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

ENV = "PRIVSHARE_FED_TRACE"


def enabled() -> bool:
    return bool(os.environ.get(ENV))


def event(name: str, **fields: Any) -> None:
    """Append ``{"t": now, "event": name, "pid": ..., **fields}`` to the trace file, if any."""
    path = os.environ.get(ENV)
    if not path:
        return
    line = json.dumps({"t": time.time(), "event": name, "pid": os.getpid(), **fields})
    with open(path, "a", encoding="utf-8") as f:  # one short write per line: no interleaving
        f.write(line + "\n")


def process_start_time() -> float | None:
    """When this process was created (epoch seconds, 10 ms steps; Linux only, else None)."""
    try:
        stat = Path("/proc/self/stat").read_text()
        ticks = int(stat[stat.rindex(")") + 2:].split()[19])  # field 22: starttime
        boot = time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def read(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
