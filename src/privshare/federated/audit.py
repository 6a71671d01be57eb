"""Audit of a recorded wire: only D_central-shaped arrays, settings and scalars crossed.

:func:`audit_wire` reads every message of a :class:`~.harness.Wire` (both
directions) and lists each problem it finds:

- a record that is not in the message layout of :mod:`.records` (D_central's
  weights or gradients, the setup and round settings, the owner's
  description, scalar metrics), or a settings key outside that layout;
- an array that is not one of D_central's parameters (name and shape), or whose
  shape belongs only to G_i or D_i;
- an array equal (to tolerance) to a private tensor handed in (G_i, D_i);
- a metric that is not a scalar, or a config list as long as an image row;
- a real training row, or a near copy of one: any length-D slice of any
  array or list within ``row_tolerance`` of a real row (in [-1, 1] or pixel
  units) or correlated with it above ``max_correlation`` (a scaled copy, as
  the first-layer gradient of a single real row would be); and the raw
  bytes of every real row (uint8 and float32) searched in every payload.

D_central and D_i share their hidden-layer shapes, so a shape alone cannot tell a
D_central array from a D_i array: pass the owners' tensors as ``private`` to check
values too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, MetricRecord

from privshare.federated import records as rec
from privshare.federated.harness import Wire, WireMessage

# record name -> (record type, allowed keys; None: D_central's parameter names / any scalar metric)
LAYOUT: dict[str, tuple[type, frozenset[str] | None]] = {
    rec.CENTRAL: (ArrayRecord, None),
    rec.CENTRAL_GRAD: (ArrayRecord, None),
    rec.METRICS: (MetricRecord, None),
    rec.SETUP_RECORD: (ConfigRecord, frozenset({"protocol", "owners"})),
    rec.OWNER: (ConfigRecord, frozenset({"owner", "name", "classes", "counts", "image_shape",
                                         "done_round"})),
    rec.ROUND: (ConfigRecord, frozenset(rec.RoundOrder.__dataclass_fields__)),
}


@dataclass(frozen=True)
class AuditReport:
    """Counts of what crossed and the problems found (empty when clean)."""

    messages: int
    arrays: int
    bytes: int
    problems: tuple[str, ...]

    @property
    def clean(self) -> bool:
        return not self.problems


def _slices(arr: np.ndarray, dim: int) -> np.ndarray:
    """Every 1-D slice of length ``dim`` along any axis: (k, dim) float64."""
    out = [np.moveaxis(arr, a, -1).reshape(-1, dim) for a in range(arr.ndim) if arr.shape[a] == dim]
    return np.concatenate(out).astype(np.float64) if out else np.zeros((0, dim))


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    centred = x - x.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(centred, axis=1)
    ok = norm > 1e-12
    return centred[ok] / norm[ok, None], ok


class _RowFinder:
    """Finds real rows, or near copies of them, among candidate vectors."""

    def __init__(self, rows: np.ndarray, *, tolerance: float, max_correlation: float) -> None:
        flat = rows.reshape(len(rows), -1)
        self.dim = flat.shape[1]
        self.pixels = flat.astype(np.float64)  # [0, 255]
        self.unit = (self.pixels - 127.5) / 127.5  # [-1, 1], the training scale
        self.unit_std, _ = _standardise(self.unit)
        self.tolerance, self.max_correlation = tolerance, max_correlation
        self.patterns = [r.astype(np.uint8).tobytes() for r in flat] + [
            r.astype(np.float32).tobytes() for r in self.unit]

    def near(self, vectors: np.ndarray) -> str | None:
        if not len(vectors):
            return None
        for name, ref, tol in (("[-1, 1]", self.unit, self.tolerance),
                               ("pixel", self.pixels, self.tolerance * 127.5)):
            dist = np.abs(vectors[:, None, :] - ref[None, :, :]).max(axis=2)  # (k, n)
            if (dist <= tol).any():
                v, r = np.unravel_index(np.argmin(dist), dist.shape)
                return f"slice {v} is within {dist[v, r]:.3g} ({name} units) of real row {r}"
        std, _ = _standardise(vectors)
        if len(std) and len(self.unit_std):
            corr = np.abs(std @ self.unit_std.T)
            if corr.max() >= self.max_correlation:
                v, r = np.unravel_index(np.argmax(corr), corr.shape)
                return f"slice {v} has correlation {corr[v, r]:.4f} with real row {r}"
        return None

    def in_bytes(self, blob: bytes) -> int | None:
        return next((i % len(self.unit) for i, p in enumerate(self.patterns) if p in blob), None)


def audit_wire(
    wire: Wire,
    *,
    central_shapes: dict[str, tuple[int, ...]],
    private_shapes: set[tuple[int, ...]],
    real_rows: np.ndarray,
    private: list[np.ndarray] = (),
    row_tolerance: float = 0.02,
    max_correlation: float = 0.98,
) -> AuditReport:
    """Check every recorded message; see the module docstring for the rules.

    Parameters
    ----------
    central_shapes : D_central's parameter name -> shape.
    private_shapes : shapes of every G_i and D_i parameter.
    real_rows : uint8 (n, H, W) or (n, D), every owner's training rows.
    private : owners' private tensors (G_i, D_i parameters) that must not cross;
        constant ones (zero-initialised biases, equal to D_central's) are skipped.
    """
    finder = _RowFinder(real_rows, tolerance=row_tolerance, max_correlation=max_correlation)
    private = [p for p in private if np.ptp(p) > 0]  # a constant (e.g. zero-init bias) tells nothing
    only_private = {s for s in private_shapes if s not in set(central_shapes.values())}
    problems: list[str] = []
    arrays = 0
    for i, m in enumerate(wire.messages):
        where = f"message {i} ({m.direction}, {m.message_type}, node {m.node_id}, {m.group_id})"
        found = _check_message(m, central_shapes=central_shapes, only_private=only_private,
                               private=private, finder=finder)
        arrays += found[0]
        problems += [f"{where}: {p}" for p in found[1]]
        hit = next((r for r in map(finder.in_bytes, m.objects.values()) if r is not None), None)
        if hit is not None:
            problems.append(f"{where}: the bytes of real row {hit} occur in the payload")
    total = sum(m.size for m in wire.messages)
    return AuditReport(messages=len(wire.messages), arrays=arrays, bytes=total,
                       problems=tuple(problems))


def _check_message(m: WireMessage, *, central_shapes, only_private, private, finder) -> tuple[int, list[str]]:
    problems: list[str] = []
    arrays = 0
    if not m.message.has_content():
        return 0, problems
    for rname, record in m.message.content.items():
        kind, keys = LAYOUT.get(rname, (None, None))
        if not isinstance(record, kind or ()):
            problems.append(f"{rname}: a {type(record).__name__} that the message layout "
                            "does not have")
        elif keys is not None and set(record) - keys:
            problems.append(f"{rname}: keys {sorted(set(record) - keys)} outside the layout")
        if isinstance(record, ArrayRecord):
            for key, value in record.items():
                arrays += 1
                arr = value.numpy()
                if tuple(arr.shape) in only_private:
                    problems.append(f"{rname}/{key}: shape {arr.shape} belongs to G_i or D_i")
                if central_shapes.get(key) != tuple(arr.shape):
                    problems.append(f"{rname}/{key}: {arr.shape} is not a central-discriminator parameter")
                for p in private:
                    if p.shape == arr.shape and np.allclose(p, arr, rtol=1e-5, atol=1e-7):
                        problems.append(f"{rname}/{key}: equals a private G_i/D_i tensor")
                if (hit := finder.near(_slices(arr, finder.dim))) is not None:
                    problems.append(f"{rname}/{key}: {hit}")
        elif isinstance(record, MetricRecord):
            lists = [k for k, v in record.items() if isinstance(v, list)]
            if lists:
                problems.append(f"{rname}: metrics {lists} are lists, not scalars")
        elif isinstance(record, ConfigRecord):
            for key, value in record.items():
                if isinstance(value, list) and len(value) >= finder.dim:
                    problems.append(f"{rname}/{key}: a list of {len(value)} values (a row has "
                                    f"{finder.dim})")
                if isinstance(value, (bytes, str)) and len(value) >= finder.dim:
                    problems.append(f"{rname}/{key}: {len(value)} bytes of text or data")
    return arrays, problems
