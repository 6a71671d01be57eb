"""Bad replies, silent owners, crashed owners: bounded waits, named culprits, D_central intact."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from flwr.app import Array

from privshare.artifacts import load_run
from privshare.federated import FederatedSettings, FederationError
from privshare.federated import records as rec

from tests.federated.conftest import federated

FAST = FederatedSettings(retries=1, round_timeout=1, connect_timeout=5)


def _assert_central_is_reference(folder, reference):
    central = load_run(folder).central_discriminator().state_dict()
    for k, v in reference.trainer.central.network.state_dict().items():
        torch.testing.assert_close(central[k], v, rtol=1e-6, atol=1e-7)


def _corrupt(kind: str):
    def apply(message):
        grads = message.content.array_records[rec.CENTRAL_GRAD]
        arr = grads["layers.0.weight"].numpy().copy()
        if kind == "nan":
            arr[0, 0, 0] = np.nan
        elif kind == "inf":
            arr[-1, -1, -1] = np.inf
        elif kind == "shape":
            arr = arr[:, :-1]
        elif kind == "norm":
            arr = arr * 1e9
        elif kind == "missing":
            del grads["layers.0.bias"]
        grads["layers.0.weight"] = Array.from_numpy_ndarray(arr)
        return message

    return apply


REASONS = {"nan": "NaN or Inf", "inf": "NaN or Inf", "shape": "the central discriminator has",
           "norm": "exceeds max-grad-norm", "missing": "not the central discriminator's parameters"}


@pytest.mark.parametrize("kind", sorted(REASONS))
def test_bad_reply_is_rejected_logged_and_central_stays_exact(tmp_path, short_config, short_reference,
                                                         kind, caplog):
    """Owner 1's round-2 reply is corrupted once; the re-sent round is answered from its
    checkpoint, and D_central ends exactly where the one-process run does."""
    hits = []

    def deliver(node, message, call):
        reply = call(message)
        if node == 10002 and message.metadata.group_id == "round 2" and not hits:
            hits.append(node)
            return _corrupt(kind)(reply)
        return reply

    with caplog.at_level(logging.WARNING, logger="privshare.federated"):
        federated(short_config, tmp_path / "fed", settings=FAST, deliver=deliver)
    assert hits == [10002]
    rejected = [r.getMessage() for r in caplog.records if "rejected the reply" in r.getMessage()]
    assert len(rejected) == 1 and "'owner_1'" in rejected[0] and REASONS[kind] in rejected[0]
    _assert_central_is_reference(tmp_path / "fed", short_reference)


def test_owner_that_keeps_sending_bad_replies_stops_the_run_with_its_name(tmp_path, short_config):
    def deliver(node, message, call):
        reply = call(message)
        return _corrupt("nan")(reply) if node == 10001 and message.metadata.group_id == "round 1" else reply

    with pytest.raises(FederationError, match=r"round 1: .*owner 'owner_0' \(index 0.*NaN or Inf"):
        federated(short_config, tmp_path / "fed", settings=FAST, deliver=deliver)
    assert not (tmp_path / "fed" / "central").exists()  # no D_central written from a poisoned round


def test_missing_owner_times_out_with_its_name(tmp_path, short_config):
    def deliver(node, message, call):
        if node == 10002 and message.metadata.group_id == "round 2":
            return None  # owner_1 went silent
        return call(message)

    with pytest.raises(FederationError, match=r"round 2: gave up after 2 attempts: owner 'owner_1' "
                                              r"\(index 1, node 10002\): no reply within 1 s"):
        federated(short_config, tmp_path / "fed", settings=FAST, deliver=deliver)


@pytest.mark.parametrize("when", ["before_its_step", "after_its_checkpoint"])
def test_owner_crash_and_restart_continues_from_its_checkpoint(tmp_path, short_config,
                                                               short_reference, when):
    """Owner 0 dies in round 2 (losing the message, or its reply after saving); the server
    asks again, the restarted owner (every message starts from disk) picks up, and the run
    ends exactly where the uninterrupted one does."""
    crashed = []

    def deliver(node, message, call):
        if node == 10001 and message.metadata.group_id == "round 2" and not crashed:
            crashed.append(when)
            if when == "after_its_checkpoint":
                call(message)
            return None
        return call(message)

    federated(short_config, tmp_path / "fed", settings=FAST, deliver=deliver)
    assert crashed == [when]
    _assert_central_is_reference(tmp_path / "fed", short_reference)


def test_owner_back_under_a_new_node_id_is_found_and_continues(tmp_path, short_config,
                                                              short_reference, caplog):
    """Without node authentication a restarted SuperNode registers under a new node id;
    the server finds it on its next attempt and the run ends where the uninterrupted one does."""
    grids, moved = [], []

    def deliver(node, message, call):
        if node == 10001 and message.metadata.group_id == "round 2" and not moved:
            call(message)  # owner 0 trains and checkpoints round 2, then its node dies
            moved.append(grids[0].restart_node(node))
            return None
        return call(message)

    with caplog.at_level(logging.WARNING, logger="privshare.federated"):
        federated(short_config, tmp_path / "fed", settings=FAST, deliver=deliver,
                  on_grid=grids.append)
    assert moved == [10003]
    assert any("'owner_0' is back as node 10003 (was node 10001)" in r.getMessage()
               for r in caplog.records)
    _assert_central_is_reference(tmp_path / "fed", short_reference)


def test_owner_index_claimed_twice_is_refused(tmp_path, short_config):
    from privshare.federated import write_owner_files
    from privshare.federated.harness import run_in_process
    from privshare.federated.settings import OwnerNodeConfig

    files = write_owner_files(short_config, folder=tmp_path / "private")
    owners = [OwnerNodeConfig(owner=0, data=files[0], run_dir=tmp_path / "a", name="alice"),
              OwnerNodeConfig(owner=0, data=files[1], run_dir=tmp_path / "b", name="bob")]
    with pytest.raises(FederationError, match="'alice'.*'bob'.*both claim owner index 0"):
        run_in_process(short_config, settings=FAST, owners=owners)


def test_stale_owner_checkpoint_is_reported_not_overwritten(tmp_path, short_config):
    federated(short_config, tmp_path / "fed")
    with pytest.raises(FederationError, match="has done round 4 .*finished=True.*delete it"):
        federated(short_config, tmp_path / "fed", settings=FAST)


def test_owner_without_its_data_file_fails_setup_with_the_reason(tmp_path, short_config):
    from privshare.federated.harness import run_in_process
    from privshare.federated.settings import OwnerNodeConfig

    owners = [OwnerNodeConfig(owner=j, data=tmp_path / f"absent_{j}.npz", run_dir=tmp_path)
              for j in range(2)]
    with pytest.raises(FederationError, match=r"node 10001 failed to set up: .*absent_0.npz.* "
                                              r"does not exist"):
        run_in_process(short_config, settings=FAST, owners=owners)
