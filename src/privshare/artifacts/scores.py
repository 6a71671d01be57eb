"""What a sweep store keeps of a cell's evaluation files: the raw attack scores
(``scores.npz``) cut to the first seed, and ``metrics.json`` without its rows.

A run folder's ``scores.npz`` holds arrays named ``<source>/<owner>/<class>/<group>``
for the first evaluation seed and ``seed<k>/<source>/<owner>/<class>/<group>`` for
each later seed k, as float64.
"""

from __future__ import annotations

import io
import json

import numpy as np

SEED_PREFIX = "seed"  # names of the seeds after the first start "seed<k>/"


ENCODING = "__encoding__"  # key naming how a store's scores.npz packs its arrays
SORTED_PLANES = "sorted-delta-byteplanes-v1"


def _pack(values: np.ndarray) -> np.ndarray:
    """float32 values -> the byte planes (4, n) of the deltas of their sorted bit patterns.

    Lossless for the values as a set (their order is dropped: a ROC curve and a
    histogram do not need it); zlib then finds long runs in each plane, about half
    the size of the values as they come.
    """
    bits = np.sort(values.astype(np.float32).view(np.uint32))
    deltas = np.diff(bits, prepend=np.uint32(0)).astype(np.uint32)
    return np.ascontiguousarray(deltas.view(np.uint8).reshape(-1, 4).T)


def _unpack(planes: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_pack`: the values sorted by bit pattern, as float32."""
    deltas = np.ascontiguousarray(planes.T).view(np.uint32).reshape(-1)
    return np.cumsum(deltas, dtype=np.uint32).view(np.float32)


def first_seed_scores(npz: bytes) -> bytes:
    """A scores.npz cut to what a sweep store keeps: the first seed's arrays, in float32,
    each kept as a set of values (:func:`_pack`; :func:`read_scores` reads it back).

    The report's figures draw only the first evaluation seed's scores, and every
    seed's metrics are in the rows already (computed from float64 scores, in row
    order). The discriminators score in float32 or bf16, so their values survive
    exactly; the black-box statistics are rounded to float32 (on the paper-cells
    store this moved no AUC by more than 4e-6). Which row had which score is not
    kept. Measured: a paper cell's 2.05 MB (three seeds, float64) become 355 kB; the
    packing alone takes 1.5-2 times off the float32 arrays as they come.
    """
    with np.load(io.BytesIO(npz), allow_pickle=False) as f:
        if ENCODING in f.files:
            return npz  # already cut
        kept = {k: _pack(f[k]) if f[k].dtype.kind == "f" else f[k]
                for k in f.files if not k.startswith(SEED_PREFIX)}
    buf = io.BytesIO()
    np.savez_compressed(buf, **kept, **{ENCODING: np.array(SORTED_PLANES)})
    return buf.getvalue()


def read_scores(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The score arrays of a scores.npz, a run folder's (as written) or a sweep
    store's (:func:`first_seed_scores`: unpacked, each sorted)."""
    if ENCODING not in arrays:
        return arrays
    if str(arrays[ENCODING]) != SORTED_PLANES:
        raise ValueError(f"scores.npz encoding {str(arrays[ENCODING])!r} is not one this "
                         f"privshare reads ({SORTED_PLANES!r}); upgrade privshare")
    return {k: _unpack(v) if v.dtype == np.uint8 and v.ndim == 2 else v
            for k, v in arrays.items() if k != ENCODING}


ROW_KEYS = ("rows", "summary")  # metrics.json's copies of the result rows and their means


def metrics_without_rows(doc: bytes) -> bytes:
    """A metrics.json cut to what a sweep store keeps beside its results table: the
    evaluation settings, seeds, pool and training-set counts and timings.

    Its ``rows`` are the very rows the store's results table holds, and ``summary``
    is their mean and interval, which the report recomputes; together they were
    about nine tenths of the file.
    """
    kept = {k: v for k, v in json.loads(doc).items() if k not in ROW_KEYS}
    return json.dumps(kept, indent=1, sort_keys=True).encode()
