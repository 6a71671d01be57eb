"""The real-data anchor: a CNN trained on all of MNIST's 60 000 training rows.

    python -m benchmarks.real_mnist [--seeds 0,1,2] [--protocols reference,converged]
        [--precision fp32] [--threads 1] [--out results/real-mnist.json]

The privGAN reference reports 0.9927 for its CNN trained on real MNIST
(Conv32-Conv64-MaxPool-Dropout-Dense128-Dropout-Dense, Adadelta lr 1.0,
batch 256, 25 epochs). This trains, per seed, on the full training split and
tests on the 10 000 test images:

- ``reference``: that network and budget (:class:`ReferenceCNN`,
  ``train_classifier(optimizer="adadelta", lr=1.0, epochs=25)``);
- ``converged``: the project's converged protocol (small CNN, validation on
  10 % of the training rows, patience 5, ``--max-steps``), what every utility
  figure of ``privshare evaluate`` uses.

``--precision`` is the training passes' precision (``bf16`` is about 3 times
faster on a CPU with AMX); predictions are always fp32. Prints accuracy per
seed and the mean with a 95 % Student-t interval over the seeds, and writes
the figures as JSON (``--out``).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
from scipy import stats

from benchmarks.results import write_result
from privshare.data.mnist import load_mnist
from privshare.evaluation.classifier import predict, train_classifier
from privshare.evaluation.fitting import fit_converged


def _interval(values: list[float]) -> dict:
    mean = statistics.fmean(values)
    if len(values) < 2:
        return {"mean": mean, "half_width": None, "seeds": len(values)}
    half = stats.t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return {"mean": mean, "half_width": half, "seeds": len(values)}


def _fit(protocol: str, data, *, seed: int, precision: str, max_steps: int):
    if protocol == "reference":
        return train_classifier(data.x_train, data.y_train, classes=10, epochs=25, batch_size=256,
                                optimizer="adadelta", lr=1.0, network="reference", seed=seed,
                                precision=precision), None
    model, rep = fit_converged(data.x_train, data.y_train, classes=10, seed=seed,
                               precision=precision, max_steps=max_steps, name="real MNIST")
    return model, {"steps": rep.steps, "best_step": rep.best_step, "capped": rep.capped}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--protocols", default="reference,converged")
    p.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "auto"))
    p.add_argument("--max-steps", type=int, default=4000, help="converged protocol's step cap")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    protocols = [s for s in args.protocols.split(",") if s]
    bad = sorted(set(protocols) - {"reference", "converged"})
    if bad:
        p.error(f"--protocols: unknown {bad}; choose reference and/or converged")
    seeds = [int(s) for s in args.seeds.split(",")]
    torch.set_num_threads(args.threads)
    data = load_mnist()
    doc = {"when": datetime.now(timezone.utc).isoformat(), "machine": platform.processor(),
           "threads": args.threads, "precision": args.precision, "train_rows": len(data.y_train),
           "test_rows": len(data.y_test), "published_reference": 0.9927, "protocols": {}}
    for protocol in protocols:
        runs = []
        for seed in seeds:
            start = time.perf_counter()
            model, fit = _fit(protocol, data, seed=seed, precision=args.precision,
                              max_steps=args.max_steps)
            acc = float((predict(model, data.x_test) == data.y_test).mean())
            runs.append({"seed": seed, "accuracy": acc, "seconds": time.perf_counter() - start,
                         **({"fit": fit} if fit else {})})
            print(f"{protocol} seed {seed}: test accuracy {acc:.4f} "
                  f"({runs[-1]['seconds']:.0f} s)", flush=True)
        summary = _interval([r["accuracy"] for r in runs])
        doc["protocols"][protocol] = {"runs": runs, **summary}
        half = summary["half_width"]
        print(f"{protocol}: {summary['mean']:.4f}"
              + (f" ± {half:.4f} (95 % t, {len(seeds)} seeds)" if half is not None
                 else " (one seed, no interval)"), flush=True)
    path = write_result(doc, stem="real_mnist", out=args.out)
    print(f"written {path}")
    if args.out is None:
        print(json.dumps({k: {kk: v[kk] for kk in ("mean", "half_width")}
                          for k, v in doc["protocols"].items()}))


if __name__ == "__main__":
    main()
