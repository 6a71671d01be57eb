"""Ways for an owner to use shared synthetic rows beside its own: which one helps?

    python -m benchmarks.own_plus results/levers/conv-r1-l3-s0 --owner 0 --seeds 0,1,2

The evaluation's ``own+privgan_pooled`` source trains one classifier on the
owner's real rows and every generator's rows mixed, with the validation rows
(early stopping) drawn from that mix. An owner may combine them otherwise;
this trains, per classifier seed, the converged protocol's small CNN on:

- ``own``: the owner's real rows alone (its validation split from them);
- ``mixN``: own + N thousand pooled privGAN rows, validation from the mix
  (what the evaluation reports when N is 3);
- ``vmixN``: the training part of the own rows + N thousand pooled rows,
  validation on the owner's held-out real rows only;
- ``ftN``: pre-trained to convergence on N thousand pooled rows alone, then
  fine-tuned (lr 5e-4) on the training part of the own rows, validation on
  the held-out own rows.

It prints each accuracy on the real test split and, per variant, the mean
and the paired differences with ``own`` (same classifier seed). The run
needs its model files (``privgan_model.pt``). One training seed: the spread
shown is the classifier's and the synthetic draw's only.
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np
import torch
from torch import nn

LR_FINETUNE = 5e-4


def _inputs(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(x.astype(np.float32) / 255.0)[:, None]


def fit(x, y, *, classes: int, seed: int, x_val, y_val, init=None, lr: float = 2e-3,
        batch: int = 256, patience: int = 5, max_steps: int = 1000):
    """The converged protocol's loop with given validation rows and an optional start model."""
    from privshare.evaluation.classifier import NETWORKS, predict
    from privshare.evaluation.fitting import MIN_CHECK_STEPS

    rng = np.random.default_rng(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = (NETWORKS["small"](image_shape=tuple(x.shape[1:]), classes=classes)
                 if init is None else copy.deepcopy(init))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    inputs, targets = _inputs(x), torch.from_numpy(y.astype(np.int64))
    per_epoch = -(-len(x) // batch)
    every = max(per_epoch, MIN_CHECK_STEPS)
    best, state, bad, step = -1.0, None, 0, 0
    model.train()
    while step < max_steps and bad < patience:
        if step % per_epoch == 0:
            order = torch.from_numpy(rng.permutation(len(x)))
        rows = order[(step % per_epoch) * batch:(step % per_epoch + 1) * batch]
        loss = nn.functional.cross_entropy(model(inputs[rows]), targets[rows])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % every == 0:
            acc = float((predict(model, x_val) == y_val).mean())
            model.train()
            if acc > best:
                best, state, bad = acc, copy.deepcopy(model.state_dict()), 0
            else:
                bad += 1
    model.load_state_dict(state)
    return model.eval()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", help="a trained run folder with its privGAN models")
    p.add_argument("--owner", type=int, default=0)
    p.add_argument("--seeds", default="0,1,2", help="classifier seeds")
    p.add_argument("--variants", default="own,mix3,vmix10,ft10")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    from privshare.artifacts import load_run
    from privshare.evaluation.classifier import predict
    from privshare.evaluation.fitting import fit_converged, validation_split
    from privshare.experiments.run import prepare_data

    torch.set_num_threads(args.threads)
    run = load_run(args.run)
    dataset, _ = prepare_data(run.config)
    own = np.sort(run.partition().owner_indices[args.owner])
    x_own, y_own = dataset.x_train[own], run.class_index(dataset.y_train[own])
    x_test, y_test = dataset.x_test, run.class_index(dataset.y_test)
    classes = len(run.classes)
    seeds = [int(s) for s in args.seeds.split(",")]
    variants = args.variants.split(",")

    def pooled(thousands: int, seed: int):
        per = thousands * 1000 // (classes * run.owners)
        made = [run.generate("privgan", j, n_per_class=per, seed=seed * 100 + j)
                for j in range(run.owners)]
        return (np.concatenate([m[0] for m in made]),
                run.class_index(np.concatenate([m[1] for m in made])))

    acc = {}
    for seed in seeds:
        train, val = validation_split(y_own, fraction=0.1, seed=seed)
        for v in variants:
            t0 = time.perf_counter()
            if v == "own":
                model, _ = fit_converged(x_own, y_own, classes=classes, seed=seed)
            elif v.startswith("mix"):
                xs, ys = pooled(int(v[3:]), seed)
                model, _ = fit_converged(np.concatenate([x_own, xs]), np.concatenate([y_own, ys]),
                                         classes=classes, seed=seed)
            elif v.startswith("vmix"):
                xs, ys = pooled(int(v[4:]), seed)
                model = fit(np.concatenate([x_own[train], xs]), np.concatenate([y_own[train], ys]),
                            classes=classes, seed=seed, x_val=x_own[val], y_val=y_own[val])
            elif v.startswith("ft"):
                xs, ys = pooled(int(v[2:]), seed)
                pre, _ = fit_converged(xs, ys, classes=classes, seed=seed)
                model = fit(x_own[train], y_own[train], classes=classes, seed=seed, init=pre,
                            lr=LR_FINETUNE, x_val=x_own[val], y_val=y_own[val])
            else:
                p.error(f"--variants: unknown {v!r}; use own, mixN, vmixN or ftN")
            acc[v, seed] = float((predict(model, x_test) == y_test).mean())
            print(f"{v:8s} seed {seed}: {acc[v, seed]:.4f} ({time.perf_counter() - t0:.0f} s)",
                  flush=True)
    print(f"owner {args.owner} of {args.run}, classifier seeds {seeds} (one training seed)")
    for v in variants:
        line = f"{v:8s} mean {np.mean([acc[v, s] for s in seeds]):.4f}"
        if "own" in variants and v != "own":
            line += "  paired difference with own: " + ", ".join(
                f"{acc[v, s] - acc['own', s]:+.4f}" for s in seeds)
        print(line)


if __name__ == "__main__":
    main()
