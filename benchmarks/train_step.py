"""Speed and memory of the privGAN training step, against this machine's matmul peak.

    python -m benchmarks.train_step                       # CPU, paper networks, batch 256
    python -m benchmarks.train_step --device cuda --steps 50
    python -m benchmarks.train_step --whole-run           # also time `privshare run --preset quick`
    python -m benchmarks.train_step --compile             # also the torch.compile'd step
    python -m benchmarks.train_step --preset quick        # the quick preset's networks and batch
    python -m benchmarks.train_step --preset quick --set train.r1_gamma=1.0   # a lever's cost
    python -m benchmarks.train_step --pack 6 --classes 10 --no-looped   # cell packing

Every case runs in its own process (so its peak resident memory is its own)
on random rows of MNIST's shape. For each case it prints seconds per step,
images per second (generated images: owners x classes x batch per step),
the step's necessary matrix FLOPs (counted from the layer widths, see
:func:`step_flops`), the achieved GFLOP/s and its fraction of two peaks of
the same precision measured at the start of this run: a large square matrix
product's (``%peak``) and that of the step's own batched products timed
alone (``%shape``, :func:`shape_peak`: what the step could reach if it were
nothing but its matrix products), and peak memory. Then the step's floor:
its products at that shape peak plus its Adam updates timed alone
(:func:`adam_seconds`), and the largest fraction of the shape peak a step
that computes the same updates could reach (``at most``). The CPU's name and its
AMX / AVX-512 flags are printed and stored with the result.
Cases: fp32 and bf16, 1 and 10 classes batched in one ensemble, and the
looped oracle (10 one-class trainers stepped one after the other, the
per-class loop the batched ensemble replaces), and with ``--compile`` the
batched cases again with ``train.compile=true`` (its compile time is in the
warm-up, not in the timed steps). With ``--pack K``, K cells of each
batched case (seeds 0..K-1) are also timed stepped one after the other
(``cells``) and packed into one ensemble of K x classes models (``packed``,
:mod:`privshare.training.packing`); their seconds and FLOPs are those of all
K cells' steps. Results go to a JSON file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from privshare.config import load_config
from privshare.hardware import cpu_flags
from privshare.training import PrivGANTrainer, RealRows, keep_freed_memory, resolve_device
from privshare.training.packing import PackedPrivGAN

from benchmarks.results import write_result



def layer_macs(widths: list[int]) -> tuple[int, int]:
    """(multiply-adds of a forward pass per sample, those of the first layer)."""
    pairs = list(zip(widths[:-1], widths[1:]))
    return sum(a * b for a, b in pairs), pairs[0][0] * pairs[0][1]


def step_flops(config, *, classes: int, owners: int) -> float:
    """Matrix FLOPs one privGAN step cannot avoid, all owners and classes.

    Per owner and sample, in multiply-adds (a linear layer's backward costs
    one forward for the weight gradient and one for the input gradient; the
    input gradient of a first layer whose input needs none is skipped):
    G forward + backward (3 fG - g1); D_i step on real and fake rows
    (2 x (3 fD - d1)); D_central's share on the fakes (3 fP - p1); generator loss
    through D_i and D_central, input gradients only (2 fD + 2 fP). Matrix FLOPs are
    2 x multiply-adds. Elementwise work (activations, Adam) is not counted.
    """
    m, b = config.model, config.train.batch_size
    dim = 28 * 28
    f_g, g1 = layer_macs([m.latent_dim, *m.generator_widths, dim])
    f_d, d1 = layer_macs([dim, *m.discriminator_widths, 1])
    f_p, p1 = layer_macs([dim, *m.discriminator_widths, owners])
    per_sample = (3 * f_g - g1) + 2 * (3 * f_d - d1) + (3 * f_p - p1) + 2 * f_d + 2 * f_p
    return 2.0 * per_sample * b * owners * classes


def step_products(config, *, classes: int, owners: int) -> list[tuple[int, int, int, int]]:
    """The batched matrix products of one privGAN step, as (models, rows, in, out).

    Every linear layer of G_i (``owners x classes`` models, ``batch`` rows),
    D_i (same models, real and fake rows: ``2 x batch``) and D_central (``classes``
    models, every owner's fakes: ``owners x batch`` rows). Each product stands
    for its forward and its two backward products (see :func:`shape_peak`).
    """
    m, b = config.model, config.train.batch_size
    dim = 28 * 28
    nets = [([m.latent_dim, *m.generator_widths, dim], owners * classes, b),
            ([dim, *m.discriminator_widths, 1], owners * classes, 2 * b),
            ([dim, *m.discriminator_widths, owners], classes, owners * b)]
    return [(models, rows, a, c) for widths, models, rows in nets
            for a, c in zip(widths[:-1], widths[1:])]


def shape_peak(products, dtype: torch.dtype, device: torch.device, *, reps: int = 5) -> float:
    """GFLOP/s of the step's own matrix products alone, in ``dtype``: the step's roofline.

    Times, for every (models, rows, in, out) of :func:`step_products`, the
    three batched products a linear layer costs (forward x @ W, input
    gradient dy @ W^T, weight gradient x^T @ dy), each its best of ``reps``,
    and divides their FLOPs by the summed best times. Products whose output
    has a single column (D_i's last layer) are kept: they are the step's
    own, however poorly they run.
    """
    flops = seconds = 0.0
    for models, rows, a, c in products:
        x = torch.randn(models, rows, a, device=device).to(dtype)
        w = torch.randn(models, a, c, device=device).to(dtype)
        dy = torch.randn(models, rows, c, device=device).to(dtype)
        for f in (lambda: torch.bmm(x, w), lambda: torch.bmm(dy, w.transpose(1, 2)),
                  lambda: torch.bmm(x.transpose(1, 2), dy)):
            best = float("inf")
            for _ in range(reps + 1):
                _sync(device)
                t0 = time.perf_counter()
                f()
                _sync(device)
                best = min(best, time.perf_counter() - t0)
            flops += 2.0 * models * rows * a * c
            seconds += best
    return flops / seconds / 1e9


def adam_seconds(trainers: list, device: torch.device, *, reps: int = 5) -> float:
    """Best time of every optimiser step one training step takes, alone (seconds).

    The step's Adam updates (each owner's G_j and D_j, and D_central, fp32
    master weights and moments) run on zero gradients: the same passes over
    the same tensors as in training, with no matrix product. Together with
    the products timed alone (:func:`shape_peak`) it bounds the step from
    below; nothing the step computes can run faster than both. Moves the
    trainers' weights: call it after the timed steps.
    """
    opts = [o for t in trainers for owner in t.owners for o in (owner.opt_g, owner.opt_d)]
    opts += [t.central.optimizer for t in trainers]
    params = [p for o in opts for g in o.param_groups for p in g["params"]]
    for p in params:
        p.grad = torch.zeros_like(p)
    best = float("inf")
    for _ in range(reps + 1):
        _sync(device)
        t0 = time.perf_counter()
        for o in opts:
            o.step()
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    for p in params:
        p.grad = None
    return best


def matmul_peak(dtype: torch.dtype, device: torch.device, *, n: int = 2048, reps: int = 10) -> float:
    """Best GFLOP/s of an n x n x n matrix product in ``dtype`` on ``device``."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    best = float("inf")
    for _ in range(reps + 2):
        _sync(device)
        t0 = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _trainer(*, case: dict, classes: int, device: torch.device, seed: int = 0):
    config = load_config(preset=case["preset"], overrides=[
        f"data.classes={list(range(classes))}", f'train.precision="{case["precision"]}"',
        *([f"train.batch_size={case['batch']}"] if case["batch"] else []), f"seed={seed}",
        f"train.compile={str(case.get('compiled', False)).lower()}", *case.get("overrides", ())])
    rng = np.random.default_rng(seed)
    rows = [RealRows.from_arrays([rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
                                  for _ in range(classes)], device=device,
                                 dtype=torch.float32)
            for n in (120, 1200)]  # two owners, 2% / 20% of an MNIST digit
    return config, PrivGANTrainer(config=config, rows=rows, device=device)


def run_case(case: dict) -> dict:
    """Time ``case`` in this process; returns its figures."""
    device = torch.device(case["device"])
    allocator = keep_freed_memory() if case["tune_allocator"] else "system default"
    cells = case.get("pack", 1)
    if case["layout"] == "looped":  # the oracle: one single-class trainer per class
        made = [_trainer(case=case, classes=1, device=device, seed=c) for c in range(case["classes"])]
    elif case["layout"] in ("cells", "packed"):  # K cells, one after the other or packed
        made = [_trainer(case=case, classes=case["classes"], device=device, seed=k)
                for k in range(cells)]
    else:
        made = [_trainer(case=case, classes=case["classes"], device=device)]
    config, trainers = made[0][0], [t for _, t in made]
    if case["layout"] == "packed":
        trainers = [PackedPrivGAN(trainers)]

    def step() -> None:
        for t in trainers:
            t.train_step()

    for _ in range(case["warmup"]):
        step()
    _sync(device)
    times = []
    for _ in range(case["steps"]):
        t0 = time.perf_counter()
        step()
        _sync(device)
        times.append(time.perf_counter() - t0)
    seconds = float(np.median(times))
    flops = cells * step_flops(config, classes=case["classes"], owners=2)
    out = dict(case, batch=config.train.batch_size, allocator=allocator, seconds_per_step=seconds,
               seconds_min=float(min(times)),
               images_per_s=cells * 2 * case["classes"] * config.train.batch_size / seconds,
               gflop_per_step=flops / 1e9, gflop_per_s=flops / seconds / 1e9,
               peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    if device.type == "cuda":
        out["peak_cuda_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
    out["adam_s"] = adam_seconds(trainers, device)
    return out


def _in_subprocess(case: dict) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.train_step", "--case", json.dumps(case)]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).parents[1])
    if res.returncode != 0:
        raise RuntimeError(f"case {case} failed:\n{res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def whole_run(out_dir: Path, *, epochs: int | None = None) -> dict:
    """Wall time and peak memory of `privshare run --preset quick --no-evaluate` (training, export).

    ``epochs`` shortens both trainings (peak memory does not depend on it).
    """
    cmd = [sys.executable, "-m", "privshare", "run", "--preset", "quick", "--no-evaluate",
           "--out-dir", str(out_dir), "--name", "bench"]
    if epochs is not None:
        cmd += ["--set", f"train.epochs_privgan={epochs}", "--set", f"train.epochs_gan={epochs}"]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd)}` failed:\n{res.stderr[-2000:]}")
    history = json.loads((out_dir / "bench" / "history.json").read_text())
    # the largest resident set of any waited-for child: run this before any other child
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"command": " ".join(cmd[2:]), "wall_s": wall, "peak_rss_mib": peak,
            "epochs": {k: len(v) for k, v in history.items()}}


def _percent(fraction: float | None) -> str:
    return "-" if fraction is None else f"{100 * fraction:.0f}%"


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    p.add_argument("--batch", type=int, default=None, help="default: the preset's (paper 256)")
    p.add_argument("--steps", type=int, default=10, help="timed steps per case (median reported)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--classes", type=int, nargs="+", default=[1, 10])
    p.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    p.add_argument("--preset", default="paper", help="networks and batch of this preset's size")
    p.add_argument("--no-looped", action="store_true",
                   help="skip the looped per-class oracle")
    p.add_argument("--system-allocator", action="store_true",
                   help="leave the C allocator as it is (train.tune_allocator=false)")
    p.add_argument("--compile", action="store_true",
                   help="also time batched cases with train.compile=true (torch.compile)")
    p.add_argument("--only-whole-run", action="store_true", help="time the whole run, no step cases")
    p.add_argument("--whole-run-epochs", type=int, default=None,
                   help="shorten the whole run to this many epochs (default: the preset's 60)")
    p.add_argument("--whole-run", action="store_true", help="also time privshare run --preset quick")
    p.add_argument("--out", type=Path, default=None, help="JSON file (default benchmarks/results/)")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   help="section.key=value for every case (e.g. train.r1_gamma=1.0)")
    p.add_argument("--pack", type=int, default=0, metavar="K",
                   help="also time K cells of each batched case one after the other and packed")
    p.add_argument("--case", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.case:  # child process: one case, one JSON line
        print(json.dumps(run_case(json.loads(args.case))))
        return
    device = resolve_device(args.device)
    if not args.only_whole_run and load_config(preset=args.preset,
                                               overrides=args.overrides).model.kind != "mlp":
        p.error(f"--preset {args.preset}: its networks are convolutional, and this benchmark counts "
                "the FLOPs of the MLPs only; add --set 'model.kind=\"mlp\"' (the preset's MLP "
                "widths) or time the whole run with --only-whole-run")
    whole = None
    args.whole_run = args.whole_run or args.only_whole_run
    if args.whole_run:  # first, so that its peak memory is the only child's so far
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            whole = whole_run(Path(tmp), epochs=args.whole_run_epochs)
        print(f"privshare run --preset quick (training + export): {whole['wall_s']:.0f} s, "
              f"peak RSS {whole['peak_rss_mib']:.0f} MiB", flush=True)
    peaks = {"fp32": matmul_peak(torch.float32, device), "bf16": matmul_peak(torch.bfloat16, device)}
    flags = sorted(cpu_flags() & {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"})
    print(f"device {device}, {torch.get_num_threads()} threads, CPU flags {' '.join(flags) or '-'}; "
          f"matmul peak fp32 {peaks['fp32']:.0f} GFLOP/s, bf16 {peaks['bf16']:.0f} GFLOP/s "
          f"(2048^3, best of 10)", flush=True)
    shape_peaks: dict[tuple[str, int], float] = {}
    for pr in args.precisions:
        for c in args.classes:
            config = load_config(preset=args.preset, overrides=[
                f"data.classes={list(range(c))}",
                *([f"train.batch_size={args.batch}"] if args.batch else []), *args.overrides])
            dtype = torch.bfloat16 if pr in ("bf16", "auto") else torch.float32
            shape_peaks[(pr, c)] = shape_peak(step_products(config, classes=c, owners=2),
                                              dtype, device)
            print(f"  {pr} {c} classes: the step's own matrix products alone "
                  f"{shape_peaks[(pr, c)]:.0f} GFLOP/s", flush=True)
    if args.only_whole_run:
        args.precisions, args.no_looped = [], True
    cases = [dict(device=str(device), precision=pr, classes=c, layout="batched",
                  preset=args.preset, batch=args.batch, tune_allocator=not args.system_allocator,
                  steps=args.steps, warmup=args.warmup, overrides=args.overrides)
             for pr in args.precisions for c in args.classes]
    if args.compile:
        cases += [dict(c, compiled=True) for c in list(cases)]
    if args.pack > 1:
        cases += [dict(c, layout=layout, pack=args.pack) for c in list(cases)
                  if not c.get("compiled") for layout in ("cells", "packed")]
    if not args.no_looped:
        cases += [dict(device=str(device), precision=pr, classes=max(args.classes),
                       layout="looped", preset=args.preset,
                       tune_allocator=not args.system_allocator,
                       batch=args.batch, steps=max(2, args.steps // 2), warmup=1)
                  for pr in args.precisions]
    results = []
    print(f"{'precision':<9} {'classes':>7} {'mode':<8} {'s/step':>8} {'img/s':>9} "
          f"{'GFLOP':>7} {'GFLOP/s':>8} {'%peak':>6} {'%shape':>6} {'RSS MiB':>8}", flush=True)
    for case in cases:
        r = _in_subprocess(case)
        r["fraction_of_peak"] = r["gflop_per_s"] / peaks[r["precision"]]
        # the packed step's products are K times taller than the shapes timed alone: no %shape
        own = None if r["layout"] == "packed" else shape_peaks.get((r["precision"], r["classes"]))
        r["shape_peak_gflops"] = own
        r["fraction_of_shape_peak"] = r["gflop_per_s"] / own if own else None
        if own:  # the step's floor: its products at their own peak, then its Adam updates
            products_s = r["gflop_per_step"] / own
            r["floor_s"] = products_s + r["adam_s"]
            r["ceiling_fraction_of_shape_peak"] = products_s / r["floor_s"]
        results.append(r)
        mode = r["layout"] + (" compiled" if r.get("compiled") else "") + (
            f" x{r['pack']}" if r.get("pack") else "")
        print(f"{r['precision']:<9} {r['classes']:>7} {mode:<8} "
              f"{r['seconds_per_step']:>8.3f} {r['images_per_s']:>9.0f} {r['gflop_per_step']:>7.1f} "
              f"{r['gflop_per_s']:>8.1f} {100 * r['fraction_of_peak']:>5.0f}% "
              f"{_percent(r['fraction_of_shape_peak']):>6} {r['peak_rss_mib']:>8.0f}", flush=True)
        if "floor_s" in r:
            print(f"{'':<9} {'':>7} floor: products alone {r['floor_s'] - r['adam_s']:.3f} s + "
                  f"Adam alone {r['adam_s']:.3f} s = {r['floor_s']:.3f} s, so at most "
                  f"{_percent(r['ceiling_fraction_of_shape_peak'])} of the shape peak", flush=True)
    doc = {"when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "machine": {"python": platform.python_version(), "torch": torch.__version__,
                       "cpus": os.cpu_count(), "threads": torch.get_num_threads(),
                       "ld_preload": os.environ.get("LD_PRELOAD", ""),
                       "malloc_conf": os.environ.get("MALLOC_CONF", ""),
                       "cuda": torch.cuda.get_device_name(0) if device.type == "cuda" else None,
                       "cpu_flags": flags, "cpu": _cpu_name()},
           "matmul_peak_gflops": peaks,
           "shape_peak_gflops": {f"{pr}/{c}": v for (pr, c), v in shape_peaks.items()},
           "cases": results}
    if whole is not None:
        doc["whole_run"] = whole
    out = write_result(doc, stem=f"train_step_{device.type}", out=args.out)
    print(f"written {out}")


if __name__ == "__main__":
    main()
