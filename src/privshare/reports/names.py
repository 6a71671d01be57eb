"""The vocabulary of the evaluation's long rows, as the figures read it.

One row per (source, owner, seed, metric, class). These names are written by
``privshare.experiments.evaluate``; the figures only ever refer to them here.
"""

from __future__ import annotations

ALL = "all"  # class of a row over every class
POOLED_OWNER = "all"  # owner of rows that pool every owner

# utility: a classifier trained on a source, tested on real test rows
ACCURACY = "accuracy"
FRECHET = "frechet"  # its n is the source's training rows

# white-box attacks on discriminators (members = an owner's training rows)
ATTACK_ACCURACY = "attack_accuracy"  # precision at |members| (the paper's measure)
BASE_RATE = "base_rate"  # random-guess accuracy |members| / |pool|
AUC = "auc"
ADVANTAGE = "advantage"  # max |TPR - FPR|
ATTACK_SOURCES = ("gan", "privgan_max", "privgan_mean")  # white-box, on each owner's own D
# attacks on what leaves an owner in privGAN: the shared D_central and G_j's shared rows
SHARED_ATTACKS = ("privgan_central", "mc_privgan", "nn_privgan")
SHARED_GAN_ATTACKS = ("mc_gan", "nn_gan")  # black-box on a local GAN's shared rows
