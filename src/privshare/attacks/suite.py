"""Every configured attack on every owner of a run, for one evaluation seed.

Each attack source names a registered scorer and its options. Metrics are
computed per class (each class has its own models) and on the union of the
class pools (class ``"all"``: one threshold for every row). The raw scores
are kept under ``"<source>/<owner>/<class>/<group>"`` with groups
``members``, ``nonmembers`` and ``other`` (the other owners' rows).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from privshare.artifacts import METHODS, Run
from privshare.attacks.blackbox import make_embedding
from privshare.attacks.metrics import AttackMetrics, attack_metrics
from privshare.attacks.pools import AttackPool, draw_pools
from privshare.attacks.registry import score
from privshare.data import Partition
from privshare.evaluation import rows as R
from privshare.evaluation.config import EvalConfig

log = logging.getLogger(__name__)

# source -> (scorer, method, options). The negatives of privgan_central are the other owners' rows.
PLAN: dict[str, tuple[str, str, dict]] = {
    "gan": ("logan", "gan", {"method": "gan", "aggregate": "max"}),
    "privgan_max": ("logan", "privgan", {"method": "privgan", "aggregate": "max"}),
    "privgan_mean": ("logan", "privgan", {"method": "privgan", "aggregate": "mean"}),
    "privgan_d": ("logan", "privgan", {"method": "privgan", "aggregate": "own"}),
    "privgan_central": ("central_attribution", "privgan", {}),
    "mc_gan": ("monte_carlo", "gan", {"method": "gan", "statistic": "eps_ball"}),
    "mc_privgan": ("monte_carlo", "privgan", {"method": "privgan", "statistic": "eps_ball"}),
    "nn_gan": ("monte_carlo", "gan", {"method": "gan", "statistic": "nearest"}),
    "nn_privgan": ("monte_carlo", "privgan", {"method": "privgan", "statistic": "nearest"}),
    "dpgan": ("logan", "dpgan", {"method": "dpgan", "aggregate": "max"}),
    "mc_dpgan": ("monte_carlo", "dpgan", {"method": "dpgan", "statistic": "eps_ball"}),
    "nn_dpgan": ("monte_carlo", "dpgan", {"method": "dpgan", "statistic": "nearest"}),
}
GROUPS = ("members", "nonmembers", "other")


@dataclass
class PrivacyResult:
    """Rows, raw scores and pool sizes of one evaluation seed."""

    rows: list[dict] = field(default_factory=list)
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    counts: dict[str, dict[str, list[int]]] = field(default_factory=dict)  # owner -> group -> per class


def metric_rows(m: AttackMetrics, *, source: str, owner: int, seed: int, cls: int | str) -> list[dict]:
    """The long rows of one :class:`AttackMetrics`."""
    pool = m.members + m.nonmembers

    def row(metric: str, value: float, n: int) -> dict:
        return R.metric_row(source=source, owner=owner, seed=seed, metric=metric, cls=cls,
                            value=value, n=n)

    out = [row(R.ATTACK_ACCURACY, m.accuracy, pool), row(R.BASE_RATE, m.base_rate, pool),
           row(R.AUC, m.auc, pool), row(R.ADVANTAGE, m.advantage, pool),
           row(R.TV_DISTANCE, m.tv_distance, pool), row(R.MEMBERS, m.members, m.members),
           row(R.NONMEMBERS, m.nonmembers, m.nonmembers)]
    for t in m.tpr_at:
        name = R.tpr_metric(t.level)
        out += [row(name, t.tpr, m.members), row(f"{name}_lo", t.low, m.members),
                row(f"{name}_hi", t.high, m.members),
                row(f"{name}_fp", t.false_positives, m.nonmembers),
                row(f"{name}_resolved", float(t.resolved), m.nonmembers)]
    return out


def _pool_rows(pools: list[AttackPool], groups: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concatenated train-row indices, their class positions and group codes."""
    idx, cls, grp = [], [], []
    for k, p in enumerate(pools):
        for g in groups:
            rows = {"members": p.members, "nonmembers": p.nonmembers, "other": p.others}[g]
            idx.append(rows)
            cls.append(np.full(len(rows), k))
            grp.append(np.full(len(rows), GROUPS.index(g)))
    return np.concatenate(idx), np.concatenate(cls), np.concatenate(grp)


def _attack_owner(run: Run, source: str, *, owner: int, pools: list[AttackPool], x_train: np.ndarray,
                  labels: np.ndarray, seed: int, options: dict, config: EvalConfig,
                  out: PrivacyResult) -> None:
    scorer, _, fixed = PLAN[source]
    groups = ("members", "nonmembers") if scorer == "monte_carlo" else GROUPS
    idx, cpos, grp = _pool_rows(pools, groups)
    s = score(scorer, run, owner=owner, x=x_train[idx], y=labels[idx], **fixed, **options)
    negative = GROUPS.index("other" if scorer == "central_attribution" else "nonmembers")
    kw = dict(fpr_levels=config.fpr_levels, confidence=config.confidence, bins=config.bins)
    for k, p in enumerate(pools):
        here = cpos == k
        for g in groups:
            out.scores[f"{source}/{owner}/{p.cls}/{g}"] = s[here & (grp == GROUPS.index(g))]
        pos, neg = s[here & (grp == 0)], s[here & (grp == negative)]
        if len(pos) and len(neg):
            out.rows += metric_rows(attack_metrics(pos, neg, **kw), source=source, owner=owner,
                                    seed=seed, cls=p.cls)
    pos, neg = s[grp == 0], s[grp == negative]
    if len(pos) and len(neg):
        out.rows += metric_rows(attack_metrics(pos, neg, **kw), source=source, owner=owner,
                                seed=seed, cls=R.ALL)


def _candidates(config: EvalConfig, x_train: np.ndarray, labels: np.ndarray,
                reference: np.ndarray, reference_labels: np.ndarray | None):
    """Rows and labels the pools index, and each class's non-member candidates (None: train's)."""
    if config.nonmembers_from == "train":
        return x_train, labels, None
    if reference_labels is None or len(reference_labels) != len(reference):
        raise ValueError("nonmembers_from='test' needs the test split's labels beside its rows")
    x = np.concatenate([x_train, reference])
    y = np.concatenate([labels, reference_labels]).astype(np.int64)
    offset = len(x_train)
    return x, y, {int(c): offset + np.flatnonzero(reference_labels == c) for c in np.unique(labels)}


def privacy_evaluation(
    run: Run, *, x_train: np.ndarray, partition: Partition, reference: np.ndarray,
    config: EvalConfig, seed: int, reference_labels: np.ndarray | None = None,
) -> PrivacyResult:
    """Run ``config.attacks`` on every owner of ``run`` for evaluation seed ``seed``.

    ``x_train``: the train split's uint8 images (the rows the partition
    indexes); ``reference``: real rows of no owner (the test split). With
    ``config.nonmembers_from = "train"`` the non-members are train rows no
    owner holds and the black-box attacker's PCA is fitted on ``reference``;
    with ``"test"`` the non-members are drawn from ``reference`` (labels
    ``reference_labels``) and the PCA is fitted on its rows left out of every
    pool. Sources whose models the run lacks are skipped.
    """
    out = PrivacyResult()
    x_rows, labels, candidates = _candidates(config, x_train, partition.labels, reference,
                                             reference_labels)
    root = run.config.seed
    all_pools = [draw_pools(partition, owner=owner, seed=R.stream_seed(root, seed, R.POOLS),
                            members=config.members, nonmembers=config.nonmembers,
                            nonmember_rows=candidates)
                 for owner in range(run.owners)]
    if candidates is not None:  # the attacker's reference rows must not be its non-members
        used = np.unique(np.concatenate([p.nonmembers for pools in all_pools for p in pools])
                         ) - len(x_train)
        reference = np.delete(reference, used, axis=0)
    holds = partition.holds()  # (owners, classes): the white-box aggregates skip absent D_i
    sources = [s for s in config.attacks if PLAN[s][1] in run.methods]
    skipped = sorted(set(config.attacks) - set(sources))
    if skipped:
        log.info("attacks %s skipped: %s has no models for them", skipped, run.root)
    embed, generated = None, {}  # generated: the black-box samples of this seed, drawn once
    if any(PLAN[s][0] == "monte_carlo" for s in sources):
        embed = make_embedding(config.blackbox_space, reference=reference,
                               components=config.blackbox_components)
    for owner, pools in enumerate(all_pools):
        by_class = {p.cls: p.counts() for p in pools}  # a class the owner lacks counts 0
        out.counts[str(owner)] = {g: [by_class.get(c, {}).get(k, 0) for c in partition.classes]
                                  for g, k in zip(GROUPS, ("members", "nonmembers", "others"))}
        for source in sources:
            options = {} if holds.all() or PLAN[source][0] != "logan" else {"holds": holds}
            if PLAN[source][0] == "monte_carlo":
                method_index = METHODS.index(PLAN[source][1])  # privgan 0, gan 1, dpgan 2
                options = {"samples_per_class": config.blackbox_samples, "embed": embed,
                           "cache": generated, "seed": R.stream_seed(root, seed, R.BLACKBOX, method_index, owner)}
            log.info("attack %s on owner %d (seed %d)", source, owner, seed)
            _attack_owner(run, source, owner=owner, pools=pools, x_train=x_rows,
                          labels=labels, seed=seed, options=options, config=config, out=out)
    return out
