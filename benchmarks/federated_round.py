"""Time and bytes of a federated privGAN round, next to the one-process step.

    python -m benchmarks.federated_round                       # tiny (8x8 digits), K = 1 and 4
    python -m benchmarks.federated_round --preset quick --steps 4 --k 1 --k 4
    python -m benchmarks.federated_round --no-deploy           # the in-process simulation only

For each preset it trains ``--steps`` privGAN steps three ways on the same
rows and seeds:

- **one process**: :class:`privshare.training.PrivGANTrainer`, seconds per step;
- **simulation**: the ServerApp logic and one ClientApp per owner in this
  process (:func:`privshare.federated.harness.run_in_process`), every message
  serialised as Flower sends it; bytes are counted on that recorded wire;
- **localhost deployment**: ``flower-superlink`` and one ``flower-supernode``
  per owner as separate processes on this machine (plain gRPC/HTTP on the
  loopback interface, no TLS), submitted with ``flwr run``; time per round as
  the ServerApp measures it, bytes as Flower counts them (``flwr ls``).

Per K it prints seconds per round and bytes sent per round per owner (server
to owner: DP's weights; owner to server: DP's gradient), and writes everything
to a JSON file (default ``benchmarks/results/federated_round_<when>.json``).
Timings on a shared machine vary; read them as orders of magnitude.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
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
        f'train.steps_per_epoch="{steps}"', 'train.device="cpu"', "train.dp_delay=0",
    ])


def dp_parameters(config: RunConfig, *, classes: int, data_dim: int) -> int:
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
            "dp_parameters": dp_parameters(config, classes=classes, data_dim=dim)}


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


def deployment(config: RunConfig, *, k: int, folder: Path) -> dict:
    """A SuperLink and one SuperNode per owner on localhost; ``flwr run``; Flower's byte counts."""
    from privshare.federated.deploy import LocalFederation, write_app

    files = write_owner_files(config, folder=folder / "private")
    owners = simulation_owners(folder, owner_files=files)
    settings = FederatedSettings(local_steps=k, run_dir=str(folder), round_timeout=300,
                                 connect_timeout=300)
    app = write_app(folder / "app", config=config, settings=settings)
    t0 = time.perf_counter()
    with LocalFederation(home=folder / "flower") as federation:
        federation.start_all(owners)
        info = federation.run_app(app, timeout=3600)
    wall = time.perf_counter() - t0
    f = json.loads((folder / "run.json").read_text())["federated"]
    traffic, rounds, n = info["network-traffic"], int(f["rounds"]), len(owners)
    return {
        "rounds": rounds, "seconds_per_round": f["seconds_per_round"],
        "seconds_per_step": f["seconds_per_round"] * rounds / f["steps"],
        "wall_seconds_with_start_up": wall,
        # Flower's counts cover the whole run (setup and finish messages too):
        # divided by owners and train rounds they overstate a round a little
        "flower_outbound_bytes_per_round_per_owner": traffic["outbound-bytes"] / (n * rounds),
        "flower_inbound_bytes_per_round_per_owner": traffic["inbound-bytes"] / (n * rounds),
        "flower_traffic": traffic,
    }


def _fmt_bytes(b: float) -> str:
    return f"{b / 1e6:.2f} MB" if b >= 1e6 else f"{b / 1e3:.1f} kB"


def run(presets: list[str], *, steps: int, ks: list[int], deploy: bool) -> dict:
    doc = {"when": datetime.now(timezone.utc).isoformat(), "machine": platform.platform(),
           "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__, "cases": []}
    for preset in presets:
        with tempfile.TemporaryDirectory() as tmp:
            config = bench_config(preset, steps=steps, folder=Path(tmp))
            base = one_process(config)
        case = {"preset": preset, "steps": steps, "owners": len(config.data.fractions),
                "one_process": base, "federated": []}
        print(f"\n{preset}: {base['steps']} steps, DP has {base['dp_parameters']:,} parameters "
              f"({_fmt_bytes(4 * base['dp_parameters'])} as float32); one process "
              f"{base['seconds_per_step'] * 1e3:.1f} ms a step")
        for k in ks:
            entry = {"k": k, "rounds": math.ceil(steps / k)}
            with tempfile.TemporaryDirectory() as tmp:
                entry["simulation"] = sim = simulation(
                    bench_config(preset, steps=steps, folder=Path(tmp)), k=k, folder=Path(tmp) / "run")
            print(f"  K={k:<3} simulation: {sim['seconds_per_round']:.3f} s a round "
                  f"({sim['seconds_per_step'] * 1e3:.0f} ms a step); per owner and round "
                  f"{_fmt_bytes(sim['bytes_to_owner_per_round']['owner_0'])} in, "
                  f"{_fmt_bytes(sim['bytes_from_owner_per_round']['owner_0'])} out")
            if deploy:
                with tempfile.TemporaryDirectory() as tmp:
                    entry["deployment"] = dep = deployment(
                        bench_config(preset, steps=steps, folder=Path(tmp)), k=k,
                        folder=Path(tmp) / "run")
                print(f"  K={k:<3} localhost:  {dep['seconds_per_round']:.3f} s a round "
                      f"({dep['seconds_per_step'] * 1e3:.0f} ms a step); per owner and round "
                      f"{_fmt_bytes(dep['flower_outbound_bytes_per_round_per_owner'])} in, "
                      f"{_fmt_bytes(dep['flower_inbound_bytes_per_round_per_owner'])} out "
                      f"(Flower's count, whole run / rounds)")
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
    p.add_argument("--out", type=Path, help="JSON file to write")
    args = p.parse_args(argv)
    doc = run(args.preset or ["tiny"], steps=args.steps, ks=args.k or [1, 4], deploy=args.deploy)
    out = write_result(doc, stem="federated_round", out=args.out)
    print(f"\nwritten {out}")


if __name__ == "__main__":
    main()
