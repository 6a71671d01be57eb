"""A synthetic sweep store with known numbers, written through the real store API.

Utility rises with the owner's fraction and privGAN beats the GAN below 20%;
attack accuracy is the base rate for privGAN and rises for the GAN. The
figures are then checked against these known shapes, without training.
"""

from __future__ import annotations

import io

import numpy as np
import pytest

from privshare.experiments.store import Cell, ResultStore
from privshare.reports import names as N

FRACTIONS = (0.05, 0.1, 0.2)
CLASSES = ("0", "1", "2")


def utility(source: str, f: float, partner: float = 0.0) -> float:
    base = {"real_own": 0.6, "gan": 0.3, "privgan": 0.55, "privgan_pooled": 0.6, "real_pooled": 0.9}
    slope = {"gan": 3.0, "real_own": 1.5}.get(source, 1.0)
    return min(0.99, base[source] + slope * f + 0.2 * partner)


def attack(source: str, f: float) -> float:
    return 0.2 + (2.0 * f if source == "gan" else 0.0)


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def _rows(method: str, f0: float, f1: float) -> list[dict]:
    rows = []

    def add(source, owner, metric, cls, value, n=100):
        rows.append({"source": source, "owner": owner, "eval_seed": 0, "metric": metric,
                     "class": cls, "value": value, "n": n})

    for o, f, g in (("0", f0, f1), ("1", f1, f0)):
        add("real_own", o, N.ACCURACY, N.ALL, utility("real_own", f))
        sources = ("privgan",) if method == "privgan" else ("gan",)
        for s in sources:
            add(s, o, N.ACCURACY, N.ALL, utility(s, f, g if s == "privgan" else 0.0))
        attacks = ("privgan_max", "privgan_mean") if method == "privgan" else ("gan",)
        for a in attacks:
            for cls in (N.ALL, *CLASSES):
                add(a, o, N.ATTACK_ACCURACY, cls, attack(a, f))
                add(a, o, N.BASE_RATE, cls, 0.2)
            add(a, o, N.AUC, N.ALL, 0.5 + attack(a, f) - 0.2)
            add(a, o, N.ADVANTAGE, N.ALL, attack(a, f) - 0.2)
    if method == "privgan":
        add("privgan_pooled", N.POOLED_OWNER, N.ACCURACY, N.ALL, utility("privgan_pooled", f0, f1))
    return rows


def _artifacts(method: str, f0: float, seed: int) -> dict[str, bytes]:
    rng = np.random.default_rng(seed)
    out = {}
    for o in (0, 1):
        y = np.repeat(np.arange(len(CLASSES)), 10)
        x = rng.integers(0, 256, size=(len(y), 8, 8), dtype=np.uint8)
        out[f"samples_{method}_owner{o}.npz"] = _npz(x=x, y=y)
    scores = {}
    kinds = (("privgan_max", "privgan_mean", "privgan_d", "privgan_central", "mc_privgan")
             if method == "privgan" else ("gan", "mc_gan"))
    for kind in kinds:
        for o in "01":
            for cls in CLASSES:
                shift = attack("gan", f0) - 0.2 if kind == "gan" else 0.0
                scores[f"{kind}/{o}/{cls}/members"] = np.clip(rng.normal(0.5 + shift, 0.1, 40), 0, 1)
                scores[f"{kind}/{o}/{cls}/nonmembers"] = np.clip(rng.normal(0.5, 0.1, 160), 0, 1)
                if kind == "privgan_d":
                    scores[f"{kind}/{o}/{cls}/other"] = np.clip(rng.normal(0.5, 0.1, 40), 0, 1)
    out["scores.npz"] = _npz(**scores)
    return out


def make_store(root, *, symmetric: bool = False, privgan_cells=None):
    """A finished 3x3 privGAN + 3 GAN sweep in ``root/results.sqlite``.

    ``privgan_cells``: the (f0, f1) privGAN cells instead of the 3 x 3 cross.
    """
    cells = []
    pairs = privgan_cells or [(f0, f1) for f0 in FRACTIONS for f1 in FRACTIONS]
    for f0, f1 in pairs:
        mirror = f"privgan-{f1}-{f0}" if symmetric and f0 > f1 else None
        cells.append(Cell(key=f"privgan-{f0}-{f1}", method="privgan", fractions=(f0, f1), seed=0,
                          run_seed=len(cells), run_dir="cells/x", config={"seed": len(cells)},
                          mirror_of=mirror))
    for f in FRACTIONS:
        cells.append(Cell(key=f"gan-{f}-{f}", method="gan", fractions=(f, f), seed=0,
                          run_seed=len(cells), run_dir="cells/x", config={}))
    root.mkdir(parents=True, exist_ok=True)
    with ResultStore(root / "results.sqlite", create=True) as store:
        store.initialise(spec={"name": "fake", "seeds": [0], "eval_seeds": [0]}, cells=cells,
                         info={"privshare": "test"})
        for cell in store.cells(status="pending"):
            if cell.mirror_of is None:
                store.finish(cell.id, rows=_rows(cell.method, cell.f0, cell.f1),
                             artifacts=_artifacts(cell.method, cell.f0, cell.id), elapsed_s=1.0)
    return root


@pytest.fixture()
def fake_sweep(tmp_path):
    return make_store(tmp_path / "sweep")
