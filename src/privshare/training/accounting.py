"""The privacy budget of the ``dpgan`` method, accounted with Opacus.

Each owner's DP-GAN is one DP-SGD run per class model: T steps, each a
Poisson-subsampled Gaussian mechanism on that class's rows with sampling rate
q_m = min(1, batch / n_m) and noise multiplier sigma. Opacus' accountant
(``rdp``, Mironov 2017 with Balle et al. 2020's conversion; or ``prv``, Gopi
et al. 2021) turns (sigma, q_m, T) into epsilon at the configured delta.

The classes are disjoint datasets trained by separate models, so by parallel
composition an owner's guarantee is the largest of its classes' epsilons
(adding or removing one labelled row changes one class's rows only); the
owners' datasets are disjoint too, and each owner's guarantee covers its own
rows. One sigma per owner is derived from ``dpsgd.target_epsilon`` for the
class with the largest q_m (its smallest), so every class spends at most the
target. Class sizes, and the step count derived from them, are treated as
public, as DP-SGD's accounting does.
"""

from __future__ import annotations

import logging
import math
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass

from privshare.config import ConfigError, RunConfig
from privshare.training.runtime import steps_per_epoch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClassBudget:
    """What one class model of one owner spent."""

    label: int  # the class
    rows: int  # the owner's rows of that class (n_m)
    sample_rate: float  # q_m = min(1, batch / n_m)
    epsilon: float  # spent over the steps taken, at the run's delta


@dataclass(frozen=True)
class OwnerBudget:
    """One owner's DP-GAN: its noise, its steps and each class's epsilon."""

    owner: int
    noise_multiplier: float  # sigma: noise std / max_grad_norm
    steps: int  # DP-SGD steps taken
    classes: tuple[ClassBudget, ...]

    @property
    def epsilon(self) -> float:
        """The owner's guarantee: the largest epsilon of its classes (parallel composition)."""
        return max(c.epsilon for c in self.classes)


@dataclass(frozen=True)
class PrivacyBudget:
    """The (epsilon, delta) every owner's exported DP-GAN rows come with."""

    accountant: str
    delta: float
    max_grad_norm: float
    target_epsilon: float | None  # None when dpsgd.noise_multiplier was given
    owners: tuple[OwnerBudget, ...]

    @property
    def epsilon(self) -> float:
        """The largest epsilon of any owner (each owner's own guarantee is in :attr:`owners`)."""
        return max(o.epsilon for o in self.owners)

    def to_dict(self) -> dict:
        """Plain data for run.json."""
        out = asdict(self)
        out["epsilon_max"] = self.epsilon
        for o, d in zip(self.owners, out["owners"]):
            d["epsilon"] = o.epsilon
        return out

    def summary(self) -> str:
        """One line for the log."""
        owners = "; ".join(
            f"owner {o.owner}: epsilon {o.epsilon:.3g} (sigma {o.noise_multiplier:.3g}, "
            f"{o.steps} steps, q {max(c.sample_rate for c in o.classes):.3g})" for o in self.owners)
        return (f"DP-GAN spent epsilon {self.epsilon:.3g} at delta {self.delta:g} "
                f"({self.accountant} accountant, max_grad_norm {self.max_grad_norm:g}): {owners}")


def sample_rates(counts: list[int], *, batch: int) -> list[float]:
    """q_m = min(1, batch / n_m) for each class: its Poisson batch holds ``batch`` rows on average
    (0 for a class without rows)."""
    return [min(1.0, batch / n) if n else 0.0 for n in counts]


def dpgan_steps(config: RunConfig, counts: list[int]) -> int:
    """Steps of one owner's DP-GAN: epochs_gan times the local GAN's steps per epoch."""
    t = config.train
    held = [n for n in counts if n > 0]
    return t.epochs_gan * steps_per_epoch(t.steps_per_epoch, counts=held, batch=t.batch_size)


@contextmanager
def _quiet():
    """Opacus warns when the best RDP order is its largest; the bound it returns still holds."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
        yield


def epsilon_spent(
    *, accountant: str, noise_multiplier: float, sample_rate: float, steps: int, delta: float
) -> float:
    """Epsilon of ``steps`` Poisson-subsampled Gaussian steps, from an Opacus accountant stepped
    as Opacus' own optimiser would step it."""
    from opacus.accountants import create_accountant  # opacus takes 1.4 s to import: on use only

    if steps == 0:
        return 0.0
    acc = create_accountant(mechanism=accountant)
    for _ in range(steps):
        acc.step(noise_multiplier=noise_multiplier, sample_rate=sample_rate)
    with _quiet():
        return float(acc.get_epsilon(delta=delta))


def noise_multipliers(config: RunConfig, *, counts: list[list[int]], labels: tuple[int, ...]
                      ) -> list[float]:
    """Each owner's sigma for ``config.dpsgd``; an unreachable budget raises :class:`ConfigError`.

    ``counts[j][m]``: owner j's rows of class ``labels[m]``. Called before the
    run folder exists, so a refused budget leaves nothing behind.
    """
    p, batch = config.dpsgd, config.train.batch_size
    for j, owner_counts in enumerate(counts):
        n, label = max(zip(owner_counts, labels))
        if p.delta >= 1 / n:
            raise ConfigError(
                f"dpsgd.delta={p.delta:g} is not below 1 / {n} (owner {j}'s rows of class "
                f"{label}): a delta that large allows publishing a row outright; use a delta "
                f"below {1 / n:.2g}, e.g. {10 ** math.floor(math.log10(0.1 / n)):g}")
    if p.noise_multiplier > 0:
        return [p.noise_multiplier] * len(counts)
    from opacus.accountants.utils import get_noise_multiplier

    out = []
    for j, owner_counts in enumerate(counts):
        q, n, label = max(zip(sample_rates(owner_counts, batch=batch), owner_counts, labels))
        steps = dpgan_steps(config, owner_counts)
        try:
            with _quiet():
                sigma = get_noise_multiplier(target_epsilon=p.target_epsilon,
                                             target_delta=p.delta, sample_rate=q, steps=steps,
                                             accountant=p.accountant)
        except ValueError as err:
            raise ConfigError(
                f"dpsgd.target_epsilon={p.target_epsilon:g} cannot be reached at dpsgd.delta="
                f"{p.delta:g} by owner {j}'s {steps} steps at sampling rate {q:.3g} (class "
                f"{label}, {n} rows, batch {batch}) with any noise ({err}); raise "
                "dpsgd.target_epsilon or dpsgd.delta, or train fewer steps (train.epochs_gan)"
            ) from err
        log.info("dpgan owner %d: sigma %.4g for epsilon %g at delta %g (%s, q %.4g, %d steps)",
                 j, sigma, p.target_epsilon, p.delta, p.accountant, q, steps)
        out.append(float(sigma))
    return out


def privacy_spent(config: RunConfig, *, counts: list[list[int]], labels: tuple[int, ...],
                  sigmas: list[float], steps: list[int]) -> PrivacyBudget:
    """The budget every owner spent: ``steps[j]`` steps at ``sigmas[j]``, per class."""
    p, batch = config.dpsgd, config.train.batch_size
    owners = []
    for j, (owner_counts, sigma, t) in enumerate(zip(counts, sigmas, steps)):
        classes = tuple(
            ClassBudget(label=int(label), rows=int(n), sample_rate=q,
                        epsilon=epsilon_spent(accountant=p.accountant, noise_multiplier=sigma,
                                              sample_rate=q, steps=t, delta=p.delta))
            for label, n, q in zip(labels, owner_counts, sample_rates(owner_counts, batch=batch))
            if n > 0)  # a class without rows has no private data and no model that moves
        owners.append(OwnerBudget(owner=j, noise_multiplier=sigma, steps=t, classes=classes))
    return PrivacyBudget(accountant=p.accountant, delta=p.delta, max_grad_norm=p.max_grad_norm,
                         target_epsilon=None if p.noise_multiplier > 0 else p.target_epsilon,
                         owners=tuple(owners))
