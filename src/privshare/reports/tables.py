"""The report's tables, computed from stored rows only."""

from __future__ import annotations

import numpy as np

from privshare.experiments.store import Cell
from privshare.reports import names as N
from privshare.reports.html import Table, fmt
from privshare.reports.results import Results, setting_text, summarise, value_text


def _pct(f: float | None) -> str:
    return "–" if f is None else f"{100 * f:g}%"


def _mean(res: Results, **where) -> float:
    return summarise(r["value"] for r in res.select(**{"class": N.ALL}, **where))[0]


def _same_setting(res: Results, cell: Cell) -> dict:
    """A ``select`` filter for the cells with ``cell``'s axis values ({} without axes)."""
    if not res.axes:
        return {}
    return {"cell_id": frozenset(c.id for c in res.cells if c.axes == cell.axes)}


def cells_table(res: Results) -> Table:
    rows, owners = [], max((c.owners for c in res.cells), default=2)
    for c in res.cells:
        source = "" if c.mirror_of is None else f"mirror of {c.mirror_of}"
        error = (c.error or "").strip().splitlines()[-1][:120] if c.error else ""
        rows.append([c.key, c.method, *(_pct(c.fraction(j)) for j in range(owners)), str(c.seed),
                     str(c.config.get("seed", "")), c.status, fmt(c.elapsed_s, 1), source or error])
    return Table("Cells", ["cell", "method", *(f"owner {j}" for j in range(owners)), "seed",
                           "run seed", "status", "time (s)", "note"], rows,
                 note="Each cell is one training run; its run seed is derived from the sweep seed "
                      "and the cell's position (SeedSequence spawn keys)."
                      + (" –: the cell has fewer owners." if owners > 2 else ""))


def utility_table(res: Results) -> Table:
    """Two-owner privGAN cells, one line each (cells of more owners: :func:`owner_utility_table`)."""
    rows, keys = [], list(res.axes)
    for c in res.cells:
        if c.method not in ("privgan", "run") or c.owners != 2:
            continue
        vals = [_mean(res, cell_id=c.id, source="privgan", metric=N.ACCURACY, owner=o) for o in "01"]
        vals.append(_mean(res, cell_id=c.id, source="privgan_pooled", metric=N.ACCURACY))
        same = _same_setting(res, c)
        for o, f in (("0", c.f0), ("1", c.f1)):
            vals.append(_mean(res, source="gan", metric=N.ACCURACY, owner_fraction=f, **same))
            vals.append(_mean(res, source="real_own", metric=N.ACCURACY, owner_fraction=f, **same))
        rows.append([_pct(c.f0), _pct(c.f1)] + [value_text(c.axes.get(k)) for k in keys]
                    + [fmt(v) for v in vals])
    return Table("Utility: classifier accuracy on real test rows",
                 ["owner 0", "owner 1", *keys, "privGAN G1", "privGAN G2", "privGAN union",
                  "GAN (owner 0's fraction)", "own real (owner 0)", "GAN (owner 1's fraction)",
                  "own real (owner 1)"], rows,
                 note="Means over evaluation seeds; GAN and own-real columns average every "
                      "stored owner at that fraction" + (" and axis values." if keys else "."))


def owner_utility_table(res: Results) -> Table | None:
    """privGAN cells of more than two owners, one line per owner; None if there are none."""
    rows, keys = [], list(res.axes)
    for c in res.cells:
        if c.method not in ("privgan", "run") or c.owners <= 2:
            continue
        same = _same_setting(res, c)
        union = _mean(res, cell_id=c.id, source="privgan_pooled", metric=N.ACCURACY)
        for j, f in enumerate(c.fractions):
            o = str(j)
            vals = [_mean(res, cell_id=c.id, source=s, metric=N.ACCURACY, owner=o)
                    for s in ("privgan", "own+privgan_pooled")]
            vals += [union, _mean(res, source="gan", metric=N.ACCURACY, owner_fraction=f, **same),
                     _mean(res, cell_id=c.id, source="real_own", metric=N.ACCURACY, owner=o)]
            rows.append([c.key, o, _pct(f)] + [value_text(c.axes.get(k)) for k in keys]
                        + [fmt(v) for v in vals])
    if not rows:
        return None
    return Table("Utility per owner: cells of more than two owners",
                 ["cell", "owner", "owner's fraction", *keys, "privGAN G_j", "own + all privGAN",
                  "privGAN union", "GAN (owner's fraction)", "own real"], rows,
                 note="Means over evaluation seeds; the GAN column averages every stored owner "
                      "of the local-GAN cells at that fraction" + (" and axis values." if keys
                                                                  else "."))


def attack_table(res: Results) -> Table:
    rows = []
    for c in res.cells:
        for source in N.ATTACK_SOURCES:
            for o in map(str, range(c.owners)):
                where = dict(cell_id=c.id, source=source, owner=o)
                acc = _mean(res, metric=N.ATTACK_ACCURACY, **where)
                if np.isnan(acc):
                    continue
                rows.append([c.key, source, o, _pct(c.fraction(o)), fmt(acc),
                             fmt(_mean(res, metric=N.BASE_RATE, **where)),
                             fmt(_mean(res, metric=N.AUC, **where)),
                             fmt(_mean(res, metric=N.ADVANTAGE, **where))])
    return Table("Privacy: white-box attacks on the discriminators (all classes)",
                 ["cell", "attack", "owner", "owner's fraction", "accuracy", "random guess",
                  "ROC AUC", "advantage"], rows,
                 note="Accuracy = precision of the top-|members| scores (the paper's measure); "
                      "advantage = max |TPR - FPR|.")


def symmetry_table(res: Results) -> Table | None:
    """privGAN G1 at (a, b) against G2 at (b, a): the owners are interchangeable."""
    cells = {(c.f0, c.f1, setting_text(c)): c for c in res.cells
             if c.method == "privgan" and c.owners == 2}
    rows, diffs = [], []
    for (a, b, setting), c in sorted(cells.items()):
        if a >= b or (b, a, setting) not in cells:
            continue
        m = cells[(b, a, setting)]
        for o, mo in (("0", "1"), ("1", "0")):
            x = _mean(res, cell_id=c.id, source="privgan", metric=N.ACCURACY, owner=o)
            y = _mean(res, cell_id=m.id, source="privgan", metric=N.ACCURACY, owner=mo)
            if np.isfinite(x) and np.isfinite(y):
                diffs.append(abs(x - y))
                mirrored = "yes" if m.mirror_of is not None else "no (trained)"
                where = f"{_pct(c.fraction(o))} with {_pct(c.partner(o))}"
                rows.append([where + (f" ({setting})" if setting else ""), fmt(x), fmt(y),
                             fmt(abs(x - y)), mirrored])
    if not rows:
        return None
    return Table("Symmetry check: the same owner position in (a, b) and (b, a)",
                 ["owner at ... with partner at ...", "accuracy in (a, b)", "accuracy in (b, a)",
                  "|difference|", "mirrored"], rows,
                 note=f"Mean |difference| {np.mean(diffs):.3f} over {len(diffs)} pairs. When both "
                      "orders are trained this measures seed-to-seed noise plus any asymmetry; "
                      "mirrored cells (--symmetric) are 0 by construction.")
