"""Means over seeds and the two summary tables (utility, privacy) of an evaluation."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from privshare.evaluation import rows as R
from privshare.intervals import t_interval


@dataclass(frozen=True)
class Table:
    """Strings ready to print: a title, column headers, rows and a footnote."""

    title: str
    headers: tuple[str, ...]
    rows: list[tuple[str, ...]]
    note: str = ""

    def markdown(self) -> str:
        lines = [f"| {' | '.join(self.headers)} |", f"|{'---|' * len(self.headers)}"]
        lines += [f"| {' | '.join(r)} |" for r in self.rows]
        return "\n".join(lines) + (f"\n\n{self.note}" if self.note else "")


def summarise_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Group long rows over seeds: mean, sd (0 for one seed), 95 % t-interval of the mean
    (``lo``/``hi``, None for one seed), seeds, n (of the first seed)."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["source"], r["owner"], r["metric"], r["class"]), []).append(r)
    out = []
    for (source, owner, metric, cls), rs in groups.items():
        values = [r["value"] for r in rs]
        _, lo, hi = t_interval(values)
        out.append({"source": source, "owner": owner, "metric": metric, "class": cls,
                    "mean": statistics.fmean(values),
                    "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
                    "lo": lo, "hi": hi,
                    "seeds": len(values), "n": rs[0]["n"]})
    return out


def _fmt(entry: dict | None, digits: int = 3, sd: bool = True) -> str:
    """``mean [lo, hi]`` (95 % interval over seeds), or ``mean (1 seed)``; ``sd=False``: the mean."""
    if entry is None or not math.isfinite(entry["mean"]):
        return "-"
    text = f"{entry['mean']:.{digits}f}"
    if not sd:
        return text
    if entry["seeds"] > 1 and entry.get("lo") is not None:
        return text + f" [{entry['lo']:.{digits}f}, {entry['hi']:.{digits}f}]"
    return text + " (1 seed)"


def _steps(steps: dict | None, best: dict | None, capped: dict | None) -> str:
    if steps is None:
        return "-"
    flag = "+" if capped is not None and capped["mean"] > 0 else ""
    return f"{steps['mean']:.0f} ({best['mean']:.0f}){flag}"


def summary_tables(summary: list[dict[str, Any]], *, wide: bool = False) -> list[Table]:
    """Utility and privacy tables (class "all") from :func:`summarise_rows` output.

    The privacy table shows TPR at the largest FPR level only, and no TV
    distance, unless ``wide``.
    """
    at = {(s["source"], s["owner"], s["metric"]): s for s in summary if s["class"] == R.ALL}
    pairs = list(dict.fromkeys((s, o) for s, o, _ in at))
    util = [(s, o) for s, o in pairs if (s, o, R.ACCURACY) in at]
    others = sorted({m for _, _, m in at if m.startswith(R.ACCURACY + "_")})
    utility = Table(
        "Utility: classifier trained on the source, tested on the real test split",
        ("source", "owner", "train rows", "accuracy [95% CI]",
         *(f"{m.replace('_', ' (', 1)} protocol)" for m in others), "steps (best)",
         "Frechet", "precision", "recall"),
        [(s, o, str(at[(s, o, R.FRECHET)]["n"]) if (s, o, R.FRECHET) in at else "-",
          _fmt(at.get((s, o, R.ACCURACY))), *(_fmt(at.get((s, o, m))) for m in others),
          _steps(at.get((s, o, R.FIT_STEPS)), at.get((s, o, R.FIT_BEST_STEP)),
                 at.get((s, o, R.FIT_CAPPED))),
          _fmt(at.get((s, o, R.FRECHET)), 4, sd=False),
          _fmt(at.get((s, o, R.PRECISION)), 2, sd=False), _fmt(at.get((s, o, R.RECALL)), 2, sd=False))
         for s, o in util],
        "accuracy: mean over evaluation seeds with a 95 % Student-t interval of the mean; "
        "steps: mean optimizer steps of the converged protocol (mean step of the kept weights); "
        "+ marks sources where the step cap stopped a classifier before its patience ran out "
        "(it may still have been improving).")
    attacks = sorted(((s, o) for s, o in pairs if (s, o, R.ATTACK_ACCURACY) in at),
                     key=lambda pair: pair[1])  # by owner; sources keep their order
    tpr = [m for _, _, m in at if m.startswith("tpr_at_fpr_") and m.endswith("pct")]
    tpr = sorted(set(tpr), key=lambda m: -float(m.removeprefix("tpr_at_fpr_").removesuffix("pct")))
    tpr = tpr if wide else tpr[:1]
    rows, unresolved = [], False
    for s, o in attacks:
        cells = []
        for m in tpr:
            e, lo, hi = at.get((s, o, m)), at.get((s, o, f"{m}_lo")), at.get((s, o, f"{m}_hi"))
            ok = at.get((s, o, f"{m}_resolved"))
            flag = "" if ok is None or ok["mean"] == 1.0 else "*"
            unresolved |= bool(flag)
            cells.append("-" if e is None else
                         f"{e['mean']:.3f} [{lo['mean']:.3f}, {hi['mean']:.3f}]{flag}")
        pool = f"{at[(s, o, R.MEMBERS)]['n']}/{at[(s, o, R.NONMEMBERS)]['n']}"
        rows.append((s, o, pool, _fmt(at[(s, o, R.ATTACK_ACCURACY)]),
                     _fmt(at.get((s, o, R.BASE_RATE)), sd=False), _fmt(at.get((s, o, R.AUC))),
                     *cells, _fmt(at.get((s, o, R.ADVANTAGE))),
                     *((_fmt(at.get((s, o, R.TV_DISTANCE))),) if wide else ())))
    headers = ("attack", "owner", "pool +/-", "accuracy", "base", "AUC",
               *(f"TPR@{m.removeprefix('tpr_at_fpr_').replace('pct', '%')}FPR [CI]" for m in tpr),
               "advantage", *(("TV",) if wide else ()))
    note = ("* too few negatives to allow one false positive at that FPR: the value is the TPR "
            "at zero false positives." if unresolved else "")
    privacy = Table("Privacy: membership attacks (all classes pooled; TPR with a Clopper-Pearson "
                    "interval)", headers, rows, note)
    return [utility, privacy]
