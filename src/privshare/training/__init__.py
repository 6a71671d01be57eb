"""Losses, one-step functions, the GAN, DP-GAN and privGAN trainers, checkpoints."""

from privshare.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from privshare.training.dpgan import DPGANTrainer
from privshare.training.gan import GANTrainer
from privshare.training.loop import TrainingDiverged, fit, resume
from privshare.training.privgan import PrivGANTrainer
from privshare.training.privgan_setup import (
    build_central_state,
    build_owner_state,
    privgan_steps_per_epoch,
)
from privshare.training.runtime import (
    autocast,
    compile_network,
    keep_freed_memory,
    master_dtype,
    resolve_device,
    steps_per_epoch,
)
from privshare.training.state import CentralState, OwnerState, RealRows

__all__ = [
    "CentralState",
    "CheckpointError",
    "DPGANTrainer",
    "GANTrainer",
    "OwnerState",
    "PrivGANTrainer",
    "RealRows",
    "TrainingDiverged",
    "autocast",
    "build_central_state",
    "build_owner_state",
    "compile_network",
    "keep_freed_memory",
    "fit",
    "load_checkpoint",
    "master_dtype",
    "privgan_steps_per_epoch",
    "resolve_device",
    "resume",
    "save_checkpoint",
    "steps_per_epoch",
]
