"""A cheap probe of mode collapse: privGAN on two digits at the main job's setting.

    python -m benchmarks.collapse_probe --out-dir /tmp/probe --name r1 \\
        --set train.r1_gamma=1.0 --set train.r1_every=4

Trains the fully connected main job's privGAN (``benchmarks.lever_ablation.BASE``) (owners at 2 % / 20 %, 60 epochs) on
digits 2 and 3 only (the quick run's worst: digit 2 never left noise), about
2 minutes on one AVX2 thread, then prints for each owner and digit, against
300 real test digits: k-NN precision and recall (k = 3, 300 rows each side,
in pixel space: no classifier is trained) and the diversity ratio, the mean
pairwise distance of 300 generated digits over that of 300 real ones (1 =
as varied as real digits; a collapsed generator is far below). Real against
real gives precision / recall 0.83-0.92 here. One training seed: a probe for
choosing what to run at full scale, not a measurement to publish.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

DIGITS = (2, 3)


def _spread(x: np.ndarray) -> float:
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    return float(d[np.triu_indices(len(x), 1)].mean())


def score(run: Path, *, rows: int = 300, seed: int = 0) -> list[str]:
    from privshare.data.mnist import load_mnist
    from privshare.evaluation.quality import precision_recall

    ds = load_mnist()
    rng = np.random.default_rng(seed)
    out = []
    for f in sorted(run.glob("owner_*/synthetic_*.npz")):
        z = np.load(f)
        x, y = z["x"].reshape(len(z["x"]), -1).astype(np.float32), z["y"]
        for c in np.unique(y):
            real = ds.x_test[ds.y_test == c].reshape(-1, x.shape[1]).astype(np.float32)
            real = real[rng.choice(len(real), rows, replace=False)]
            fake = x[y == c][:rows]
            p, r = precision_recall(real, fake, k=3)
            method = f.stem.removeprefix("synthetic_")
            out.append(f"{f.parent.name} {method} digit {c}: precision {p:.2f} recall {r:.2f} "
                       f"diversity {_spread(fake) / _spread(real):.2f}")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out-dir", type=Path, required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   help="section.key=value, as privshare --set")
    args = p.parse_args()
    import torch

    from privshare.config import load_config
    from privshare.experiments.run import run_experiment

    torch.set_num_threads(1)
    from benchmarks.lever_ablation import BASE

    config = load_config(preset="quick", overrides=[
        *BASE, f"data.classes={list(DIGITS)}", 'train.methods=["privgan"]', *args.overrides,
        f'name="{args.name}"', f'out_dir="{args.out_dir}"'])
    run = run_experiment(config)
    for line in score(run.root):
        print(line)


if __name__ == "__main__":
    main()
