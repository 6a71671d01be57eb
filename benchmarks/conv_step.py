"""Seconds per privGAN step of the main job's conv networks, with torch's LeakyReLU and ours.

    python -m benchmarks.conv_step                       # batch 32 and 64, bf16 if native
    python -m benchmarks.conv_step --batch 64 --precision fp32 --steps 30

The `conv` preset's networks (all ten digits batched, two owners holding 120 and
1200 random rows of MNIST's shape per digit, R1 on every 4th D_i step as the
preset says), one torch thread, the allocator tuned as a run tunes it. Each
case (batch x LeakyReLU) runs in its own process, alternating, ``--repeats``
times; each prints the median and the minimum over ``--steps`` timed steps
after ``--warmup`` untimed ones. "torch" is ``torch.nn.functional.leaky_relu``;
"one order" is :func:`privshare.models.conv.leaky_relu`, whose backward brings
the gradient to the map's memory order first (the same values and gradients).
Prints the ratio of the medians per batch.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

CASES = ("torch", "one order")


def run_case(*, batch: int, precision: str, leaky: str, steps: int, warmup: int) -> dict:
    """Time one case in this process."""
    import numpy as np
    import torch

    from privshare.config import load_config
    from privshare.hardware import resolve_precision
    from privshare.training import PrivGANTrainer, RealRows, keep_freed_memory

    torch.set_num_threads(1)
    keep_freed_memory()
    if leaky == "torch":
        import privshare.models.conv as conv

        conv.leaky_relu = torch.nn.functional.leaky_relu
    # every D_i on every step (the preset rests the small owner's D_0): the whole step is timed
    config = load_config(preset="conv", overrides=[f"train.batch_size={batch}",
                                                   f'train.precision="{precision}"',
                                                   "train.owner_d_every=[]"])
    rng = np.random.default_rng(0)
    device = torch.device("cpu")
    rows = [RealRows.from_arrays([rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
                                  for _ in range(10)], device=device, dtype=torch.float32)
            for n in (120, 1200)]
    trainer = PrivGANTrainer(config=config, rows=rows, device=device)
    for _ in range(warmup):
        trainer.train_step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        trainer.train_step()
        times.append(time.perf_counter() - start)
    return {"batch": batch, "leaky": leaky,
            "precision": resolve_precision(device, config.train.precision),
            "median_s": statistics.median(times), "min_s": min(times)}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, nargs="+", default=[32, 64])
    p.add_argument("--precision", default="auto", help="auto | bf16 | fp32")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--repeats", type=int, default=2, help="processes per case, alternating")
    p.add_argument("--case", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.case:
        batch, leaky = args.case.split(":", 1)
        print(json.dumps(run_case(batch=int(batch), precision=args.precision, leaky=leaky,
                                  steps=args.steps, warmup=args.warmup)))
        return
    results: dict[tuple[int, str], list[dict]] = {}
    for batch in args.batch:
        for _ in range(args.repeats):
            for leaky in CASES:
                out = subprocess.run(
                    [sys.executable, "-m", "benchmarks.conv_step", "--case", f"{batch}:{leaky}",
                     "--precision", args.precision, "--steps", str(args.steps),
                     "--warmup", str(args.warmup)], capture_output=True, text=True, check=True)
                r = json.loads(out.stdout.strip().splitlines()[-1])
                results.setdefault((batch, leaky), []).append(r)
                print(f"batch {batch:3d} {r['precision']} LeakyReLU {leaky:9s}: median "
                      f"{r['median_s'] * 1e3:6.1f} ms/step, min {r['min_s'] * 1e3:6.1f}", flush=True)
    for batch in args.batch:
        med = {leaky: statistics.median(r["median_s"] for r in results[(batch, leaky)])
               for leaky in CASES}
        print(f"batch {batch}: one order / torch = {med['one order'] / med['torch']:.3f} "
              f"({med['one order'] * 1e3:.1f} / {med['torch'] * 1e3:.1f} ms, median of "
              f"{args.repeats} processes' medians)")


if __name__ == "__main__":
    main()
