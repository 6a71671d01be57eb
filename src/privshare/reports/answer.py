"""The answer a data owner asks first: should it join privGAN, and what does it risk?

For each owner j of one evaluated run (or one sweep cell, of two or more
owners), from the long result rows alone:

- utility of every option j has: its own rows alone, own + privGAN rows,
  privGAN rows then own rows (a classifier fitted on the synthetic rows,
  fine-tuned on the own ones), privGAN rows only, and the same three for
  the local GAN and, where the run trained ``dpgan``, the DP-GAN (the best
  of the own-generator and pooled variants where there are two; an option
  whose sources were not measured is left out);
- the best option and its gain over own rows alone, paired by evaluation
  seed (the same seed draws the same real rows and classifier seed stream),
  with a 95 % Student-t interval of the mean difference;
- the strongest attack, by mean AUC, on what crosses j's boundary: D_central
  (``privgan_central``: D_central scored on real rows, telling j's rows from the other
  owners') and the shared synthetic rows of G_j (``mc_privgan``,
  ``nn_privgan``, black-box), with its TPR at 1 % FPR (interval over seeds;
  with one seed, the Clopper-Pearson interval of its pool); and the
  white-box attack on D_j (``privgan_d``), which never leaves j.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from privshare.intervals import t_interval
from privshare.reports import names as N

# option label -> sources (the best of them is the option's figure)
OPTIONS: dict[str, tuple[str, ...]] = {
    "own rows alone": ("real_own",),
    "own + privGAN rows": ("own+privgan", "own+privgan_pooled"),
    "privGAN rows, then own rows": ("privgan>own", "privgan_pooled>own"),
    "privGAN rows only": ("privgan", "privgan_pooled"),
    "own + local-GAN rows": ("own+gan",),
    "local-GAN rows, then own rows": ("gan>own",),
    "local-GAN rows only": ("gan",),
    "own + DP-GAN rows": ("own+dpgan",),
    "DP-GAN rows, then own rows": ("dpgan>own",),
    "DP-GAN rows only": ("dpgan",),
}
SHARED_ATTACKS = N.SHARED_ATTACKS  # on what leaves the owner
LOCAL_ATTACK = "privgan_d"  # D_j, which never leaves the owner
LOCAL_SOURCES = ("gan", "own+gan", "gan>own", "dpgan", "own+dpgan", "dpgan>own")  # the options a local GAN cell gives
TPR = "tpr_at_fpr_1pct"


@dataclass(frozen=True)
class Estimate:
    mean: float
    lo: float | None  # 95 % interval over seeds (None for one seed)
    hi: float | None
    seeds: int

    def text(self, digits: int = 3, sign: bool = False) -> str:
        f = f"{{:{'+' if sign else ''}.{digits}f}}"
        if self.lo is None:
            return f.format(self.mean) + " (1 seed)"
        return f"{f.format(self.mean)} [{f.format(self.lo)}, {f.format(self.hi)}]"


@dataclass(frozen=True)
class OwnerAnswer:
    owner: str
    rows: int | None  # the owner's real training rows
    options: dict[str, tuple[str, Estimate]]  # label -> (source used, accuracy)
    best: str  # label of the best option
    gain: Estimate | None  # best option minus own rows alone, paired by seed
    attack: tuple[str, Estimate, Estimate | None] | None  # source, AUC, TPR at 1 % FPR
    local_attack: Estimate | None  # AUC of the white-box attack on D_j

    def sentence(self) -> str:
        """The one line of the report and the CLI."""
        own = self.options.get("own rows alone")
        head = f"Owner {self.owner}" + (f" ({self.rows} real rows)" if self.rows else "")
        parts = [f"{head}: best option {self.best}, accuracy {self.options[self.best][1].text()}"]
        if own and self.best != "own rows alone" and self.gain is not None:
            verdict = ("better than" if self.gain.lo is not None and self.gain.lo > 0 else
                       "worse than" if self.gain.hi is not None and self.gain.hi < 0 else
                       "not distinguishable from")
            parts.append(f"{verdict} its own rows alone ({own[1].text()}): "
                         f"gain {self.gain.text(sign=True)}")
        elif self.best == "own rows alone":
            parts.append("no shared option beats what it holds alone")
        if self.attack:
            src, auc, tpr = self.attack
            t = "" if tpr is None else f", TPR at 1% FPR {tpr.text()}"
            parts.append(f"strongest attack on what leaves it: {src} AUC {auc.text()}{t}")
        if self.local_attack:
            parts.append(f"white-box on its own D (never shared) AUC {self.local_attack.text()}")
        return "; ".join(parts) + "."


def estimate(values: list[float]) -> Estimate:
    """Mean and 95 % Student-t interval of the mean."""
    return Estimate(*t_interval(values), len(values))


def _by_seed(rows: Iterable[dict[str, Any]], *, source: str, owner: str, metric: str) -> dict:
    return {r["eval_seed"]: r["value"] for r in rows
            if r["source"] == source and r["owner"] == owner and r["metric"] == metric
            and r["class"] == N.ALL and r["value"] is not None}


def owner_answers(rows: list[dict[str, Any]]) -> list[OwnerAnswer]:
    """One :class:`OwnerAnswer` per owner with a ``real_own`` accuracy; [] if there is none."""
    owners = sorted({r["owner"] for r in rows if r["source"] == "real_own"
                     and r["metric"] == N.ACCURACY})
    out = []
    for o in owners:
        options: dict[str, tuple[str, Estimate]] = {}
        seeds_of: dict[str, dict] = {}
        for label, sources in OPTIONS.items():
            found = []
            for s in sources:
                owner = N.POOLED_OWNER if s == "privgan_pooled" else o
                vals = _by_seed(rows, source=s, owner=owner, metric=N.ACCURACY)
                if vals:
                    found.append((statistics.fmean(vals.values()), s, vals))
            if found:
                _, s, vals = max(found, key=lambda f: f[0])
                options[label] = (s, estimate(list(vals.values())))
                seeds_of[label] = vals
        best = max(options, key=lambda k: options[k][1].mean)
        own = seeds_of.get("own rows alone", {})
        common = sorted(set(own) & set(seeds_of[best]))
        gain = (estimate([seeds_of[best][s] - own[s] for s in common])
                if own and best != "own rows alone" and common else None)
        n = next((r["n"] for r in rows if r["source"] == "real_own" and r["owner"] == o
                  and r["metric"] == N.FRECHET and r["n"]), None)
        out.append(OwnerAnswer(owner=o, rows=n, options=options, best=best, gain=gain,
                               attack=_strongest(rows, o), local_attack=_auc(rows, LOCAL_ATTACK, o)))
    return out


def cell_answers(cells: Iterable[Any], rows: list[dict[str, Any]]) -> list[tuple[Any, list[OwnerAnswer]]]:
    """Per finished privGAN cell of a sweep, its owners' answers (one per owner).

    A two-owner cell's options are its own rows plus those of the local-GAN
    (and DP-GAN) cells with the same fractions, training seed and axis values
    (where the grid has one). In a cell of more owners, owner j's local
    options are those of owner 0 of the local cells for j's fraction (same
    training seed and axis values; the grid trains one per fraction).
    Mirrored cells are left out (they repeat another cell with the owners
    swapped).
    """
    cells = list(cells)
    by_id: dict[Any, list[dict[str, Any]]] = {}
    for r in rows:
        by_id.setdefault(r["cell_id"], []).append(r)
    out = []
    for c in cells:
        if c.method != "privgan" or c.status != "done" or c.mirror_of is not None:
            continue
        local = [g for g in cells if g.method in ("gan", "dpgan") and g.status == "done"
                 and g.seed == c.seed and g.axes == c.axes]
        mine = list(by_id.get(c.id, []))
        if len(c.fractions) == 2:
            mine += [r for g in local if (g.f0, g.f1) == (c.f0, c.f1) for r in by_id.get(g.id, [])]
        else:
            mine += [{**r, "owner": str(j)} for j, f in enumerate(c.fractions)
                     for g in local if g.f0 == f for r in by_id.get(g.id, [])
                     if r["owner"] == "0" and r["source"] in LOCAL_SOURCES]
        answers = owner_answers(mine)
        if answers:
            out.append((c, answers))
    return out


def _auc(rows: list[dict[str, Any]], source: str, owner: str) -> Estimate | None:
    vals = _by_seed(rows, source=source, owner=owner, metric=N.AUC)
    return estimate(list(vals.values())) if vals else None


def _strongest(rows: list[dict[str, Any]], owner: str):
    found = [(s, e) for s in SHARED_ATTACKS if (e := _auc(rows, s, owner)) is not None]
    if not found:
        return None
    source, auc = max(found, key=lambda f: f[1].mean)
    vals = _by_seed(rows, source=source, owner=owner, metric=TPR)
    if not vals:
        return source, auc, None
    tpr = estimate(list(vals.values()))
    if tpr.seeds == 1:  # one pool: its exact binomial interval
        (seed, value), = vals.items()
        lo, hi = (_by_seed(rows, source=source, owner=owner, metric=TPR + k).get(seed)
                  for k in ("_lo", "_hi"))
        if lo is not None and hi is not None:
            tpr = Estimate(value, lo, hi, 1)
    return source, auc, tpr
