"""Time and bytes of a federated privGAN round, next to the one-process step.

    python -m benchmarks.federated_round                       # tiny (8x8 digits), K = 1 and 4
    python -m benchmarks.federated_round --preset quick --steps 4 --k 1 --k 4
    python -m benchmarks.federated_round --no-deploy           # the in-process simulation only
    python -m benchmarks.federated_round --k 1 --steps 8 --mode warm --mode stock --breakdown

For each preset it trains ``--steps`` privGAN steps three ways on the same
rows and seeds:

- **one process**: :class:`privshare.training.PrivGANTrainer`, seconds per step;
- **simulation**: the ServerApp logic and one ClientApp per owner in this
  process (:func:`privshare.federated.harness.run_in_process`), every message
  serialised as Flower sends it; bytes are counted on that recorded wire;
- **localhost deployment**: ``flower-superlink`` and one SuperNode per owner
  as separate processes on this machine (plain HTTP on the loopback
  interface, no TLS), submitted with ``flwr run``; time per round as the
  ServerApp measures it, bytes as Flower counts them (``flwr ls``). ``--mode``
  picks how an owner runs (:class:`privshare.federated.deploy.LocalFederation`):
  ``warm`` (default: a long-lived ClientApp process per owner and a 0.1 s idle
  pull) or ``stock`` (Flower's defaults: a new ``flwr-clientapp`` per message,
  3 s idle pull); repeat it to run both.

``--breakdown`` also records, for every train message of the localhost runs,
when each phase ended (the server's and the ClientApps' trace events,
:mod:`privshare.federated.trace`, and the SuperNodes' own log lines, which
Flower time-stamps with ``FLWR_LOG_LEVEL=DEBUG``) and prints the median of
each phase: server push -> SuperNode pulls it -> message downloaded ->
ClientApp process started (stock) or task claimed (warm) -> handler entered
-> owner session ready -> K steps done -> checkpoint saved -> handler left
-> SuperNode sends the reply -> server has it -> server pushes the next round.
DEBUG logging costs a little time itself.

Per K it prints seconds per round and bytes sent per round per owner (server
to owner: D_central's weights; owner to server: D_central's gradient), and writes everything
to a JSON file (default ``benchmarks/results/federated_round_<when>.json``).
Timings on a shared machine vary; read them as orders of magnitude.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import statistics
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from privshare.config import RunConfig, load_config
from privshare.experiments.run import owner_rows, prepare_data
from privshare.federated import FederatedSettings, write_owner_files
from privshare.federated import records as rec
from privshare.federated.harness import TO_OWNER, TO_SERVER, Wire, run_in_process, simulation_owners
from privshare.training import PrivGANTrainer, master_dtype

from benchmarks.results import write_result

CPU = torch.device("cpu")


def bench_config(preset: str, *, steps: int, folder: Path) -> RunConfig:
    """``preset`` cut to one epoch of ``steps`` privGAN steps, on the CPU."""
    return load_config(preset=preset, overrides=[
        f'out_dir="{folder}"', 'name="bench"', "train.epochs_privgan=1",
        f'train.steps_per_epoch="{steps}"', 'train.device="cpu"', "train.central_delay=0",
    ])


def central_parameters(config: RunConfig, *, classes: int, data_dim: int) -> int:
    from privshare.models import build_central_discriminator

    net = build_central_discriminator(config.model, models=classes, data_dim=data_dim,
                                      owners=len(config.data.fractions))
    return sum(p.numel() for p in net.parameters())


def one_process(config: RunConfig, *, warmup: int = 2) -> dict:
    """Seconds per privGAN step of the one-process trainer (all owners)."""
    dataset, partition = prepare_data(config)
    rows = [owner_rows(dataset, partition, owner=j, device=CPU,
                       dtype=master_dtype(config.train.precision))
            for j in range(len(config.data.fractions))]
    trainer = PrivGANTrainer(config=config, rows=rows, device=CPU)
    steps = trainer.steps_per_epoch()
    for _ in range(warmup):
        trainer.train_step()
    t0 = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    seconds = (time.perf_counter() - t0) / steps
    classes, _, dim = rows[0].x.shape
    return {"seconds_per_step": seconds, "steps": steps,
            "central_parameters": central_parameters(config, classes=classes, data_dim=dim)}


def _per_round(counts: dict[int, int], rounds: int) -> dict[str, float]:
    return {f"owner_{node - 10001}": v / rounds for node, v in sorted(counts.items())}


def simulation(config: RunConfig, *, k: int, folder: Path) -> dict:
    """The in-process federation; bytes of the ``train`` messages on the recorded wire."""
    files = write_owner_files(config, folder=folder / "private")
    wire = Wire()
    settings = FederatedSettings(local_steps=k, run_dir=str(folder))
    result = run_in_process(config, settings=settings, wire=wire,
                            owners=simulation_owners(folder, owner_files=files))
    return {
        "rounds": result.rounds, "seconds_per_round": result.seconds_per_round,
        "seconds_per_step": result.seconds_per_round * result.rounds / result.steps,
        "bytes_to_owner_per_round": _per_round(
            wire.bytes_by(direction=TO_OWNER, message_type=rec.TRAIN), result.rounds),
        "bytes_from_owner_per_round": _per_round(
            wire.bytes_by(direction=TO_SERVER, message_type=rec.TRAIN), result.rounds),
        "bytes_all_messages": sum(m.size for m in wire.messages),
    }


def deployment(config: RunConfig, *, k: int, folder: Path, mode: str = "warm",
               breakdown: bool = False, polls: dict | None = None) -> dict:
    """A SuperLink and one SuperNode per owner on localhost; ``flwr run``; Flower's byte counts."""
    from privshare.federated.deploy import LocalFederation, write_app

    files = write_owner_files(config, folder=folder / "private")
    owners = simulation_owners(folder, owner_files=files)
    settings = FederatedSettings(local_steps=k, run_dir=str(folder), round_timeout=300,
                                 connect_timeout=300)
    app = write_app(folder / "app", config=config, settings=settings)
    trace_file = folder / "trace.jsonl"
    env = {"PRIVSHARE_FED_TRACE": str(trace_file), "FLWR_LOG_LEVEL": "DEBUG"} if breakdown else {}
    t0 = time.perf_counter()
    with LocalFederation(home=folder / "flower", mode=mode, extra_env=env,
                         **(polls or {})) as federation:
        federation.start_all(owners)
        info = federation.run_app(app, timeout=3600)
    wall = time.perf_counter() - t0
    f = json.loads((folder / "run.json").read_text())["federated"]
    traffic, rounds, n = info["network-traffic"], int(f["rounds"]), len(owners)
    out = {
        "mode": mode, **(polls or {}), "rounds": rounds, "seconds_per_round": f["seconds_per_round"],
        "seconds_per_step": f["seconds_per_round"] * rounds / f["steps"],
        "wall_seconds_with_start_up": wall,
        # Flower's counts cover the whole run (setup and finish messages too):
        # divided by owners and train rounds they overstate a round a little
        "flower_outbound_bytes_per_round_per_owner": traffic["outbound-bytes"] / (n * rounds),
        "flower_inbound_bytes_per_round_per_owner": traffic["inbound-bytes"] / (n * rounds),
        "flower_traffic": traffic,
    }
    if breakdown:
        node_ids = [int(o["node_id"]) for o in f["owners"]]
        logs = [folder / "flower" / f"supernode_{j}.log" for j in range(n)]
        out["breakdown"] = phase_breakdown(trace_file, logs, node_ids)
    return out


# -- the phase breakdown -------------------------------------------------------------------

PHASES = [  # (name, event it starts at, event it ends at)
    ("server starts its push -> SuperNode pulls it", "server_pushing", "node_receiving"),
    ("download of the message", "node_receiving", "node_received"),
    ("-> ClientApp process started / task claimed", "node_received", "clientapp_start"),
    ("ClientApp start-up (imports, FAB, task input)", "clientapp_start", "handler_start"),
    ("owner session ready (checkpoint load)", "handler_start", "session_ready"),
    ("K privGAN steps", "session_ready", "owner_steps_done"),
    ("checkpoint save", "owner_steps_done", "owner_saved"),
    ("reply built, handler left", "owner_saved", "handler_end"),
    ("reply handed to the SuperNode, it sends", "handler_end", "node_sending"),
    ("upload + server notices the reply", "node_sending", "server_got_reply"),
]
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_STAMP = re.compile(r"^(?:DEBUG|INFO|WARNING|ERROR)\s+(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})\s*:\s*(.*)$")


def _node_log_events(path: Path) -> list[tuple[str, str, float]]:
    """(event, group, time) from a SuperNode's DEBUG log: receiving/received/sending/sent."""
    events, group = [], ""
    for raw in path.read_text(errors="replace").splitlines():
        m = _STAMP.match(_ANSI.sub("", raw).strip())
        if not m:
            continue
        t = time.mktime(time.strptime(m[1], "%Y-%m-%d %H:%M:%S")) + int(m[2]) / 1e3
        text = m[3]
        if (g := re.match(r"\[RUN \d+, ROUND (.*)\]$", text)):
            group = g[1]
        elif text.startswith("Receiving: train message"):
            events.append(("node_receiving", group, t))
        elif text.startswith("Received successfully") and events and events[-1][0] == "node_receiving":
            events.append(("node_received", events[-1][1], t))
        elif text.startswith("Sending: train message"):
            events.append(("node_sending", group, t))
    return events


def phase_breakdown(trace_file: Path, node_logs: list[Path], node_ids: list[int]) -> dict:
    """Median seconds of each phase of a train message, and of the round, over all rounds.

    Round 0 is left out (first-message start-up). Times come from one clock
    (every process is on this machine); the SuperNode log has 1 ms steps and
    a process start time 10 ms steps.
    """
    from privshare.federated import trace

    ev = trace.read(trace_file)
    rows: dict[tuple[int, str], dict[str, float]] = {}  # (node, group) -> event -> time

    def put(node: int, group: str, name: str, t: float) -> None:
        if group.startswith("round ") and group != "round 0":
            rows.setdefault((node, group), {}).setdefault(name, t)  # first occurrence

    pushes: dict[str, float] = {}
    for e in ev:
        if e["event"] == "server_pushing":
            pushes.setdefault(e["group"], e["t"])
            for node in e["nodes"]:
                put(node, e["group"], "server_pushing", e["t"])
        elif e["event"] == "server_got_reply":
            put(e["node"], e["group"], "server_got_reply", e["t"])
    for node, path in zip(node_ids, node_logs):
        for name, group, t in _node_log_events(path):
            put(node, group, name, t)
    by_pid: dict[int, list[dict]] = {}
    for e in ev:
        by_pid.setdefault(e["pid"], []).append(e)
    for pid, events in by_pid.items():
        loaded = next((e for e in events if e["event"] == "clientapp_loaded"), None)
        for i, e in enumerate(events):
            if e["event"] != "handler_start" or e["type"] != "train":
                continue
            key = (e["node"], e["group"])
            claimed = [x for x in events[:i] if x["event"] == "worker_task_acquired"]
            start = claimed[-1]["t"] if claimed else (loaded or {}).get("process_start")
            if start is not None:
                put(*key, "clientapp_start", start)
            put(*key, "handler_start", e["t"])
            end = next((x for x in events[i + 1:] if x["event"] == "handler_end"), None)
            inner = events[i + 1:events.index(end) if end else None]
            built = next((x for x in inner if x["event"] == "session_built"), None)
            put(*key, "session_ready", (built or e)["t"])
            for name in ("owner_steps_done", "owner_saved"):
                if (x := next((x for x in inner if x["event"] == name), None)):
                    put(*key, name, x["t"])
            if end:
                put(*key, "handler_end", end["t"])
    phases = {}
    for name, a, b in PHASES:
        values = [r[b] - r[a] for r in rows.values() if a in r and b in r]
        if values:
            phases[name] = {"median_s": statistics.median(values), "max_s": max(values),
                            "n": len(values)}
    ordered = sorted((t, g) for g, t in pushes.items() if g.startswith("round "))
    after = {}  # last reply of a round -> the next push: the server's own time
    for (t0, g0), (t1, _) in zip(ordered, ordered[1:]):
        last = max((r["server_got_reply"] for (n, g), r in rows.items()
                    if g == g0 and "server_got_reply" in r), default=None)
        if last is not None:
            after[g0] = t1 - last
    if after:
        v = list(after.values())
        phases["server: checks, D_central step, next push"] = {
            "median_s": statistics.median(v), "max_s": max(v), "n": len(v)}
    periods = [t1 - t0 for (t0, g0), (t1, _) in zip(ordered, ordered[1:]) if g0 != "round 0"]
    return {"phases": phases,
            "round_period_median_s": statistics.median(periods) if periods else None,
            "rounds_timed": len(periods)}


def print_breakdown(b: dict) -> None:
    for name, v in b["phases"].items():
        print(f"      {name:<48} {v['median_s'] * 1e3:8.0f} ms  (max {v['max_s'] * 1e3:.0f}, "
              f"n={v['n']})")
    if b["round_period_median_s"] is not None:
        print(f"      {'round (push to next push), median':<48} "
              f"{b['round_period_median_s'] * 1e3:8.0f} ms over {b['rounds_timed']} rounds")


def _fmt_bytes(b: float) -> str:
    return f"{b / 1e6:.2f} MB" if b >= 1e6 else f"{b / 1e3:.1f} kB"


def run(presets: list[str], *, steps: int, ks: list[int], deploy: bool,
        modes: list[str] = ("warm",), breakdown: bool = False, simulate: bool = True,
        polls: dict | None = None) -> dict:
    doc = {"when": datetime.now(timezone.utc).isoformat(), "machine": platform.platform(),
           "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__, "cases": []}
    for preset in presets:
        with tempfile.TemporaryDirectory() as tmp:
            config = bench_config(preset, steps=steps, folder=Path(tmp))
            base = one_process(config)
        case = {"preset": preset, "steps": steps, "owners": len(config.data.fractions),
                "one_process": base, "federated": []}
        print(f"\n{preset}: {base['steps']} steps, D_central has {base['central_parameters']:,} parameters "
              f"({_fmt_bytes(4 * base['central_parameters'])} as float32); one process "
              f"{base['seconds_per_step'] * 1e3:.1f} ms a step")
        for k in ks:
            entry = {"k": k, "rounds": math.ceil(steps / k), "deployments": []}
            if simulate:
                with tempfile.TemporaryDirectory() as tmp:
                    entry["simulation"] = sim = simulation(
                        bench_config(preset, steps=steps, folder=Path(tmp)), k=k,
                        folder=Path(tmp) / "run")
                print(f"  K={k:<3} simulation: {sim['seconds_per_round']:.3f} s a round "
                      f"({sim['seconds_per_step'] * 1e3:.0f} ms a step); per owner and round "
                      f"{_fmt_bytes(sim['bytes_to_owner_per_round']['owner_0'])} in, "
                      f"{_fmt_bytes(sim['bytes_from_owner_per_round']['owner_0'])} out")
            for mode in modes if deploy else ():
                with tempfile.TemporaryDirectory() as tmp:
                    dep = deployment(bench_config(preset, steps=steps, folder=Path(tmp)), k=k,
                                     folder=Path(tmp) / "run", mode=mode, breakdown=breakdown,
                                     polls=polls if mode == "warm" else None)
                entry["deployments"].append(dep)
                over = dep["seconds_per_round"] - k * base["seconds_per_step"]
                dep["overhead_per_round_s"] = over  # the round minus K one-process steps
                print(f"  K={k:<3} localhost ({mode}): {dep['seconds_per_round']:.3f} s a round "
                      f"({dep['seconds_per_step'] * 1e3:.0f} ms a step; {over:.3f} s a round "
                      f"over K one-process steps); per owner and round "
                      f"{_fmt_bytes(dep['flower_outbound_bytes_per_round_per_owner'])} in, "
                      f"{_fmt_bytes(dep['flower_inbound_bytes_per_round_per_owner'])} out "
                      f"(Flower's count, whole run / rounds)")
                if "breakdown" in dep:
                    print_breakdown(dep["breakdown"])
            case["federated"].append(entry)
        doc["cases"].append(case)
    return doc


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", action="append", help="tiny | quick | paper (repeatable; "
                   "default tiny)")
    p.add_argument("--steps", type=int, default=8, help="privGAN steps per run (default 8)")
    p.add_argument("--k", type=int, action="append", help="local steps per round (repeatable; "
                   "default 1 and 4)")
    p.add_argument("--deploy", action=argparse.BooleanOptionalAction, default=True,
                   help="also run the localhost SuperLink + SuperNodes (default on)")
    p.add_argument("--mode", action="append", choices=["warm", "stock"],
                   help="how the localhost owners run (repeatable; default warm)")
    p.add_argument("--breakdown", action="store_true",
                   help="time every phase of a localhost round (Flower DEBUG logs + trace)")
    p.add_argument("--pull-interval", type=float,
                   help="warm mode: the SuperNodes' idle pull interval, s (default 0.1)")
    p.add_argument("--task-poll", type=float,
                   help="warm mode: the ClientApp processes' idle task poll, s (default 0.05)")
    p.add_argument("--simulate", action=argparse.BooleanOptionalAction, default=True,
                   help="also run the in-process simulation (default on)")
    p.add_argument("--out", type=Path, help="JSON file to write")
    args = p.parse_args(argv)
    doc = run(args.preset or ["tiny"], steps=args.steps, ks=args.k or [1, 4], deploy=args.deploy,
              modes=args.mode or ["warm"], breakdown=args.breakdown, simulate=args.simulate,
              polls={k: v for k, v in (("pull_interval", args.pull_interval),
                                       ("task_poll_interval", args.task_poll)) if v is not None})
    out = write_result(doc, stem="federated_round", out=args.out)
    print(f"\nwritten {out}")


if __name__ == "__main__":
    main()
