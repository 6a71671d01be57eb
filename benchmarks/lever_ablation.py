"""Training recipes for small owners, over training seeds, at the main job's setting.

    python -m benchmarks.lever_ablation --out-dir results/levers \\
        [--recipes quick,r1] [--seeds 0,1,2] [--eval-seeds 0] [--threads 1] [--markdown] \\
        [--set 'train.precision="fp32"']

Each recipe is the ``quick`` run preset (owners at 2 % and 20 % of MNIST, all
ten digits) pinned to the fully connected settings every recipe was
measured from (:data:`BASE`: the narrow MLPs, 60 epochs, privacy weight 1,
no R1), so that a later change of the preset does not change a recipe's
runs, plus the overrides in :data:`RECIPES`; ``conv16-r10-l10-e40-bn-b32-own10-0-d1720`` is the
``conv`` preset's privGAN and ``conv16-r10-l10-e40-bn-b32`` its local GANs (before D_0 rested,
one lambda per owner, batch 32 and generator batch norm, the preset was
``conv16-r10-l10-e40-bn-b32-own10-0``, ``-bn-b32``, ``-bn`` and ``conv16-r1-l3-e40``). Each (recipe, training
seed) is one run folder ``<out-dir>/<recipe>-s<seed>``, trained (a killed
run resumes), then evaluated with the ``quick`` evaluation preset at
``--eval-seeds`` unless its metrics.json already exists. ``--set`` adds an
override to every recipe (for example ``train.precision="fp32"``, so that runs
trained on machines with and without native bf16 compute the same thing). So the script can be
killed and started again, and a later session picks up where it stopped.

It then prints, per recipe and owner, the mean over the training seeds of
every figure :mod:`benchmarks.lever_table` prints for one run, with a 95 %
Student-t interval over the training seeds (``n`` = how many seeds are
finished; one seed has no interval and is marked so), and the range of the
training minutes (wall time, which depends on what else ran).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import statistics
from pathlib import Path

from scipy import stats

from privshare.artifacts.layout import RunLayout

from benchmarks.lever_table import ATTACKS, SOURCES, _mean, owners_of, print_table


def _conv16(*, r1: float, more: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The 16 / 32-channel conv recipes' shared settings: lazy R1 (gamma ``r1`` on every 4th
    D_i step) and 40 local-GAN epochs, then ``more``."""
    return ('model.kind="conv"', "model.conv_channels=[16, 32]", f"train.r1_gamma={r1}",
            "train.r1_every=4", "train.epochs_gan=40", *more)


def _conv16_privgan(*, r1: float, weight: float, more: tuple[str, ...] = ()) -> tuple[str, ...]:
    """:func:`_conv16` with privGAN trained too: 40 epochs, D_central's term weighted ``weight``
    (``more`` comes last, so it may set other epochs: a later override wins)."""
    return _conv16(r1=r1, more=(f"train.privacy_weight={weight}", "train.epochs_privgan=40", *more))


_BN = ('model.generator_norm="batch"',)  # DCGAN's batch normalisation in every generator
_GAN_EQUAL = ('train.methods=["gan"]', "train.steps_per_epoch=22")  # local GANs at privGAN's steps


def _per_owner(*weights: float) -> tuple[str, ...]:
    """The batch-32 recipe with one lambda per owner, in data.fractions order."""
    return (*_BN, "train.batch_size=32", f"train.owner_privacy_weights={list(weights)}")


# lambda 10 for the 2 % owner and 0 for the 20 % one (the `conv` preset's)
_OWN10_0 = _per_owner(10.0, 0.0)


# the main job's fully connected settings, what every recipe starts from
BASE: tuple[str, ...] = (
    'model.kind="mlp"', "model.generator_widths=[128, 256, 512]",
    "model.discriminator_widths=[512, 256, 128]", "model.conv_channels=[32, 64]",
    "train.epochs_privgan=60", "train.epochs_gan=60",
    "train.privacy_weight=1.0", "train.r1_gamma=0.0", "train.r1_every=1")
RECIPES: dict[str, tuple[str, ...]] = {
    "quick": (),  # the main job as it is (BASE alone)
    "r1": ("train.r1_gamma=1.0", "train.r1_every=4"),  # lazy R1 on D_i's real rows
    "r1-drop": ("train.r1_gamma=1.0", "train.r1_every=4", "model.d_dropout=0.3"),
    "aug-ema": ('train.augment=["translation", "cutout"]', "train.ema_decay=0.995"),
    "mbstd": ("model.minibatch_std=4",),
    # DCGAN-style networks (32 / 64 channels) with lazy R1
    "conv-r1": ("model.kind=\"conv\"", "model.conv_channels=[32, 64]", "train.r1_gamma=1.0",
                "train.r1_every=4"),
    # the same with three times the weight of D_central's term in each G_i's loss
    "conv-r1-l3": ("model.kind=\"conv\"", "model.conv_channels=[32, 64]", "train.r1_gamma=1.0",
                   "train.r1_every=4", "train.privacy_weight=3.0"),
    # half the channels (16 / 32): about half the step's time, for the main job's budget
    "conv16-r1-l3": ("model.kind=\"conv\"", "model.conv_channels=[16, 32]", "train.r1_gamma=1.0",
                     "train.r1_every=4", "train.privacy_weight=3.0"),
    # the same in two thirds of the epochs (40 each), for the main job's 10 minutes
    "conv16-r1-l3-e40": _conv16_privgan(r1=1.0, weight=3.0),
    # the conv preset's local GANs alone, each trained for as many steps as privGAN's owners
    # (22 an epoch; the default rule gives the 2 % owner 3): the fair "what the small owner
    # can build alone" baseline for the conv recipe
    "conv16-r1-l3-e40-gan-equal": _conv16(r1=1.0, more=_GAN_EQUAL),
    # the conv preset with DiffAugment (translation, cutout) on everything D_i sees and a
    # generator EMA: the levers that took the MLPs' D_0 from the most attackable model to
    # its local GAN's level, tried on the conv networks
    "conv16-r1-l3-e40-aug-ema": _conv16_privgan(r1=1.0, weight=3.0, more=(
        'train.augment=["translation", "cutout"]', "train.ema_decay=0.995")),
    # the two halves of the line above, one at a time
    "conv16-r1-l3-e40-aug": _conv16_privgan(r1=1.0, weight=3.0, more=(
        'train.augment=["translation", "cutout"]',)),
    "conv16-r1-l3-e40-ema": _conv16_privgan(r1=1.0, weight=3.0, more=("train.ema_decay=0.995",)),
    # the conv preset with DCGAN's batch normalisation in each G_i (and the local GANs' G)
    "conv16-r1-l3-e40-bn": _conv16_privgan(r1=1.0, weight=3.0, more=_BN),
    # the line above with D_central's term weighted 10 (against the shared model's exposure) ...
    "conv16-r1-l10-e40-bn": _conv16_privgan(r1=1.0, weight=10.0, more=_BN),
    # ... and with R1 ten times stronger (against D_i's memorising its owner's rows)
    "conv16-r10-l3-e40-bn": _conv16_privgan(r1=10.0, weight=3.0, more=_BN),
    # both: R1 gamma 10 (for utility) and the central term weighted 10 (for the shared
    # model); the `conv` preset since generator batch norm
    "conv16-r10-l10-e40-bn": _conv16_privgan(r1=10.0, weight=10.0, more=_BN),
    # between the two weights measured (3: G_0 0.886, D_central 0.57; 10: 0.866, 0.54)
    "conv16-r10-l5-e40-bn": _conv16_privgan(r1=10.0, weight=5.0, more=_BN),
    # the `conv` preset at batch 32: twice its generator steps in the same epochs (the
    # batch 256 lever showed fewer, larger steps worse at one budget)
    "conv16-r10-l10-e40-bn-b32": _conv16_privgan(r1=10.0, weight=10.0,
                                                  more=(*_BN, "train.batch_size=32")),
    # the same in 28 epochs: about the `conv` preset's training time (a batch-32 step takes
    # about 0.7 of a batch-64 one here), 1.4 times its steps
    "conv16-r10-l10-e28-bn-b32": _conv16_privgan(r1=10.0, weight=10.0, more=(
        *_BN, "train.batch_size=32", "train.epochs_privgan=28", "train.epochs_gan=28")),
    # the `conv` preset with Adam's step size 5e-4 instead of 2e-4, for its 880 steps
    "conv16-r10-l10-e40-bn-lr5": _conv16_privgan(r1=10.0, weight=10.0,
                                                  more=(*_BN, "optim.lr=5e-4")),
    # the `conv` preset (batch 32) with one lambda per owner: 10 for the 2 % owner, 0 for the
    # 20 % one, whose generator then trains as its local GAN would while the small owner's
    # is pulled toward it (privGAN only: the local GANs are the recipe's above)
    "conv16-r10-l10-e40-bn-b32-own10-0": _conv16_privgan(r1=10.0, weight=10.0, more=(
        *_OWN10_0, 'train.methods=["privgan"]')),
    # the recipe above with DiffAugment's translation (up to 4 pixels, no cutout) on everything
    # every D_i sees: against D_0 memorising its 1199 rows over 1720 steps
    "conv16-r10-l10-e40-bn-b32-own10-0-tr": _conv16_privgan(r1=10.0, weight=10.0, more=(
        *_OWN10_0, 'train.methods=["privgan"]', 'train.augment=["translation"]')),
    # the one-lambda-per-owner recipe with the small owner's D_0 stepping on every 4th privGAN
    # step only (430 steps over its 1199 rows instead of 1720; G_0, D_1, D_central: every
    # step): against D_0 memorising its rows, at the step count of the paper's rule
    "conv16-r10-l10-e40-bn-b32-own10-0-d4": _conv16_privgan(r1=10.0, weight=10.0, more=(
        *_OWN10_0, 'train.methods=["privgan"]', "train.owner_d_every=[4, 1]")),
    # the same with D_0 on every 16th step (108 steps, fewer than the paper-rule local GAN's D)
    "conv16-r10-l10-e40-bn-b32-own10-0-d16": _conv16_privgan(r1=10.0, weight=10.0, more=(
        *_OWN10_0, 'train.methods=["privgan"]', "train.owner_d_every=[16, 1]")),
    # ... and with D_0 taking its first step only (1720 privGAN steps): G_0 then learns from
    # D_central alone, that is from what G_1 draws, and D_0 is all but untrained; the `conv`
    # preset's privGAN since (its [1000000, 1] rests D_0 on the same steps of a 1720-step run)
    "conv16-r10-l10-e40-bn-b32-own10-0-d1720": _conv16_privgan(r1=10.0, weight=10.0, more=(
        *_OWN10_0, 'train.methods=["privgan"]', "train.owner_d_every=[1720, 1]")),
    # the `conv` preset's privGAN (D_0 resting) with lambda 30 for the small owner: with D_0
    # untrained, D_central is G_0's only teacher; does a stronger pull bring G_0 to G_1?
    "conv16-r10-l30-e40-bn-b32-own30-0-d1720": _conv16_privgan(r1=10.0, weight=30.0, more=(
        *_per_owner(30.0, 0.0), 'train.methods=["privgan"]', "train.owner_d_every=[1720, 1]")),
    # the `conv` preset's recipe (one lambda per owner) with a 1 % owner instead of a 2 % one,
    # local GANs included: does the smaller owner gain as the 2 % one does?
    "conv16-r10-l10-e40-bn-b32-own10-0-f1": _conv16_privgan(r1=10.0, weight=10.0, more=(
        *_OWN10_0, "data.fractions=[0.01, 0.2]")),
    # three owners (2 %, 5 %, 20 %), lambda 10 for the two small ones and 0 for the large one
    "conv16-r10-l10-e40-bn-b32-own3": _conv16_privgan(r1=10.0, weight=10.0, more=(
        *_per_owner(10.0, 10.0, 0.0), "data.fractions=[0.02, 0.05, 0.2]")),
    # the new conv preset's local GANs alone at privGAN's 22 steps an epoch: the fair
    # "what the small owner can build alone" baseline for it, D_0's exposure included
    "conv16-r10-l10-e40-bn-gan-equal": _conv16(r1=10.0, more=(*_GAN_EQUAL, *_BN)),
    # the same at batch 32 (the main job's since it fitted the 10 minutes): the local GANs at
    # privGAN's 43 steps an epoch, 1720 in all
    "conv16-r10-l10-e40-bn-b32-gan-equal": _conv16(r1=10.0, more=(
        'train.methods=["gan"]', "train.steps_per_epoch=43", *_BN, "train.batch_size=32")),
}
log = logging.getLogger("lever_ablation")


def _run_one(recipe: str, seed: int, *, out_dir: Path, eval_seeds: list[int],
             extra: tuple[str, ...] = ()) -> Path:
    from privshare.config import load_config
    from privshare.evaluation import load_eval_config
    from privshare.experiments.evaluate import evaluate_run
    from privshare.experiments.run import run_experiment

    name = f"{recipe}-s{seed}"
    config = load_config(preset="quick", overrides=[
        *BASE, *RECIPES[recipe], *extra, f"seed={seed}", f'name="{name}"', f'out_dir="{out_dir}"'])
    root = out_dir / name
    if not RunLayout(root).evaluated:
        log.info("training %s", name)
        run = run_experiment(config)
        log.info("evaluating %s at seeds %s", name, eval_seeds)
        evaluate_run(run, config=load_eval_config(preset="quick", overrides=[f"seeds={eval_seeds}"]))
    return root


def _interval(values: list[float]) -> str:
    m = statistics.fmean(values)
    if len(values) < 2:
        return f"{m:.3f} (1 seed)"
    half = stats.t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return f"{m:.3f} ± {half:.3f}"


def table(roots: dict[str, list[Path]], *, eval_seeds: list[int]) -> list[list[str]]:
    head = ["recipe", "owner", "n", "train min", *SOURCES, "recall privgan",
            *(f"AUC {a}" for a in ATTACKS)]
    out = [head]
    for recipe, folders in roots.items():
        docs = [[row for row in RunLayout(r).read_metrics()["rows"]
                 if row["seed"] in eval_seeds] for r in folders]  # the same evaluation seeds
        minutes = [sum(v for k, v in json.loads((r / "run.json").read_text())
                       .get("timings_s", {}).items() if k in ("privgan", "gan")) / 60
                   for r in folders]
        for owner in owners_of([row for rows in docs for row in rows]):
            # wall minutes depend on what else ran: their range, not an interval
            line = [recipe, owner, str(len(folders)), f"{min(minutes):.1f}-{max(minutes):.1f}"]
            cells = [(s, "all" if s == "privgan_pooled" else owner, "accuracy") for s in SOURCES]
            cells += [("privgan", owner, "recall")] + [(a, owner, "auc") for a in ATTACKS]
            for source, o, metric in cells:
                vals = [_mean(rows, source=source, owner=o, metric=metric) for rows in docs]
                vals = [v for v in vals if v is not None]
                line.append(_interval(vals) if vals else "-")
            out.append(line)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out-dir", type=Path, required=True)
    p.add_argument("--recipes", default=",".join(RECIPES))
    p.add_argument("--seeds", default="0,1,2", help="training seeds")
    p.add_argument("--eval-seeds", default="0", help="evaluation seeds of each run")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--table-only", action="store_true", help="print what is finished, train nothing")
    p.add_argument("--markdown", action="store_true")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   help="section.key=value added to every recipe (repeatable)")
    args = p.parse_args()
    recipes = [r for r in args.recipes.split(",") if r]
    unknown = sorted(set(recipes) - set(RECIPES))
    if unknown:
        p.error(f"--recipes: unknown {unknown}; choose from {sorted(RECIPES)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    eval_seeds = [int(s) for s in args.eval_seeds.split(",")]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    import torch

    torch.set_num_threads(args.threads)
    roots: dict[str, list[Path]] = {}
    for seed in seeds:  # seed-major: every recipe gets its first seed before any gets a second
        for recipe in recipes:
            root = args.out_dir / f"{recipe}-s{seed}"
            if not args.table_only:
                root = _run_one(recipe, seed, out_dir=args.out_dir, eval_seeds=eval_seeds,
                                extra=tuple(args.overrides))
            if RunLayout(root).evaluated:
                roots.setdefault(recipe, []).append(root)
    print_table(table(roots, eval_seeds=eval_seeds), markdown=args.markdown)


if __name__ == "__main__":
    main()
