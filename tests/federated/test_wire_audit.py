"""Every message of a federated run, both ways: only D_central arrays, settings and scalars."""

from __future__ import annotations

import numpy as np
import pytest
from flwr.app import Array, ConfigRecord, MetricRecord

from privshare.federated import records as rec
from privshare.federated.audit import audit_wire
from privshare.federated.harness import TO_OWNER, TO_SERVER, Wire
from privshare.training import load_checkpoint
from privshare.experiments.run import prepare_data

from tests.federated.conftest import federated


def _private_tensors(folder, owners=2):
    """Every G_j and D_j tensor an owner held at the end (from its own checkpoint)."""
    out = []
    for j in range(owners):
        path = folder / "checkpoints" / f"privgan_owner_{j}.pt"
        if not path.is_file():  # before its first round
            continue
        state = load_checkpoint(path, kind="federated_owner")["state"]["owner"]
        out += [v.numpy() for net in ("generator", "discriminator") for v in state[net].values()]
    return out


@pytest.fixture(scope="module")
def recorded(short_config, tmp_path_factory):
    """Run once, recording every owner's G_j/D_j after each message it handles."""
    folder = tmp_path_factory.mktemp("audit") / "fed"
    wire, seen = Wire(), []

    def deliver(node, message, call):
        reply = call(message)
        seen.extend(_private_tensors(folder))
        return reply

    federated(short_config, folder, wire=wire, deliver=deliver)
    dataset, partition = prepare_data(short_config)
    members = np.concatenate([np.concatenate(partition.owner_indices)])
    return wire, seen, dataset.x_train[members], folder


def _shapes(folder):
    from privshare.artifacts import load_run

    run = load_run(folder)
    central = {k: tuple(v.shape) for k, v in run.central_discriminator().state_dict().items()}
    private = {tuple(v.shape) for net in (run.generator("privgan", 0), run.discriminator("privgan", 0))
               for v in net.state_dict().values()}
    return central, private


def test_only_central_arrays_settings_and_scalars_cross(recorded):
    wire, seen, rows, folder = recorded
    central, private = _shapes(folder)
    report = audit_wire(wire, central_shapes=central, private_shapes=private, real_rows=rows, private=seen)
    assert report.clean, "\n".join(report.problems)
    directions = {(m.direction, m.message_type) for m in wire.messages}
    assert directions == {(d, t) for d in (TO_OWNER, TO_SERVER)
                          for t in (rec.SETUP, rec.TRAIN, rec.FINISH)}
    # 2 owners x (setup + 4 rounds + finish) x both ways; per owner and round D_central's weights
    # go out and its gradients come back, and the finish carries D_central's weights out only
    assert report.messages == 2 * 6 * 2
    assert report.arrays == 2 * len(central) * (4 * 2 + 1)
    assert len(rows) > 100 and len(seen) > 100  # the checks had something to compare against


def _plant(wire: Wire, index: int, name: str, value) -> Wire:
    """A copy of ``wire`` where message ``index`` also carries ``value``."""
    from privshare.federated.harness import WireMessage, transfer

    m = wire.messages[index]
    content = m.message.content
    if isinstance(value, np.ndarray):
        content.array_records[rec.CENTRAL_GRAD][name] = Array.from_numpy_ndarray(value)
    elif isinstance(value, dict):
        content[name] = ConfigRecord(value)
    else:
        content[name] = MetricRecord({"leak": value})
    objects, received = transfer(m.message)
    messages = list(wire.messages)
    messages[index] = WireMessage(m.direction, m.node_id, m.message_type, m.group_id, objects,
                                  received)
    return Wire(messages)


@pytest.mark.parametrize("leak", ["real_row_bytes", "scaled_row", "noisy_row", "row_as_metric",
                                  "private_tensor", "generator_weight", "unknown_record"])
def test_audit_catches_what_must_not_cross(recorded, leak):
    wire, seen, rows, folder = recorded
    central, private = _shapes(folder)
    reply = next(i for i, m in enumerate(wire.messages)
                 if m.direction == TO_SERVER and m.message_type == rec.TRAIN)
    row = rows[7].reshape(-1)
    rng = np.random.default_rng(0)
    planted = {
        "real_row_bytes": ("x", row.copy()),
        "scaled_row": ("layers.0.weight", np.tile(((row - 127.5) / 127.5 * 0.01).astype(np.float32)
                                                  [None, :, None], (3, 1, 32))),
        "noisy_row": ("x", (row / 127.5 - 1 + rng.normal(0, 0.005, row.shape)).astype(np.float32)),
        "row_as_metric": ("leak", [float(v) for v in row]),
        "private_tensor": ("layers.0.weight", seen[-6].copy()),  # D_1's first layer: D_central's shape
        "generator_weight": ("g", seen[0].copy()),
        "unknown_record": ("notes", {"owner_note": "a short string"}),
    }[leak]
    report = audit_wire(_plant(wire, reply, *planted), central_shapes=central, private_shapes=private,
                        real_rows=rows, private=seen)
    assert not report.clean
    assert all(f"message {reply} " in p for p in report.problems), report.problems
