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


def first_seed_scores(npz: bytes) -> bytes:
    """A scores.npz cut to what a sweep store keeps: the first seed's arrays, in float32.

    The report's figures draw only the first evaluation seed's scores, and every
    seed's metrics are in the rows already (computed from float64 scores). The
    discriminators score in float32 or bf16, so their values survive exactly;
    the black-box statistics are rounded to float32 (on the paper-cells store
    this moved no AUC by more than 4e-6). The file shrinks about six times.
    """
    with np.load(io.BytesIO(npz), allow_pickle=False) as f:
        kept = {k: f[k].astype(np.float32) if f[k].dtype.kind == "f" else f[k]
                for k in f.files if not k.startswith(SEED_PREFIX)}
    buf = io.BytesIO()
    np.savez_compressed(buf, **kept)
    return buf.getvalue()


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
