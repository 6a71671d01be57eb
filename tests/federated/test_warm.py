"""A long-lived ClientApp (sessions kept in memory) trains exactly as a fresh process per
message does, and falls back to the disk whenever the disk is not what it wrote."""

from __future__ import annotations

import inspect
import shutil
import time

import pytest
import torch

from privshare.artifacts import load_run
from privshare.federated import client_app, flower_tuning
from privshare.federated.owner import OwnerSession

from tests.federated.conftest import federated
from tests.federated.test_faults import FAST, _assert_central_is_reference


@pytest.fixture
def warm(monkeypatch):
    """Sessions kept between messages, as in the worker; count how often one is built."""
    builds: list[int] = []
    real = client_app._build

    def build(context):
        builds.append(context.node_id)
        return real(context)

    monkeypatch.setattr(client_app, "_build", build)
    client_app.keep_sessions(True)
    yield builds
    client_app.keep_sessions(False)


def test_warm_sessions_train_exactly_the_one_process_weights(tmp_path, short_config,
                                                             short_reference, warm):
    federated(short_config, tmp_path / "fed")
    assert sorted(warm) == [10001, 10002]  # one session per owner for setup, 4 rounds, finish
    run = load_run(tmp_path / "fed")
    for j, owner in enumerate(short_reference.trainer.owners):
        g = run.generator("privgan", j).state_dict()
        for k, v in owner.generator.state_dict().items():
            torch.testing.assert_close(g[k], v, rtol=1e-6, atol=1e-7)
    _assert_central_is_reference(tmp_path / "fed", short_reference)


def test_a_checkpoint_changed_on_disk_is_reloaded(tmp_path, short_config, short_reference, warm):
    """Someone else wrote owner 0's checkpoint between two rounds (a restart, a restore):
    the warm session is not trusted, the owner is rebuilt from the disk."""
    folder = tmp_path / "fed"

    def deliver(node, message, call):
        if node == 10001 and message.metadata.group_id == "round 2":
            path = folder / "checkpoints" / "privgan_owner_0.pt"
            shutil.copy(path, path.with_suffix(".bak"))
            shutil.move(path.with_suffix(".bak"), path)  # same bytes, another file
        return call(message)

    federated(short_config, folder, deliver=deliver)
    assert sorted(warm) == [10001, 10001, 10002]
    _assert_central_is_reference(folder, short_reference)


def test_a_failed_call_drops_the_warm_session(tmp_path, short_config, short_reference, warm,
                                              monkeypatch):
    """A round that raises half-way leaves nothing in memory: the re-sent round starts over
    from the checkpoint and the run still ends on the reference weights."""
    real, failed = OwnerSession.train_round, []

    def train_round(self, weights, order):
        if self.node.owner == 1 and order.round == 2 and not failed:
            failed.append(order.round)
            with torch.no_grad():  # half-way through: memory no longer matches the disk
                next(self.state.generator.parameters()).add_(1.0)
            raise RuntimeError("disk full")
        return real(self, weights, order)

    monkeypatch.setattr(OwnerSession, "train_round", train_round)
    federated(short_config, tmp_path / "fed", settings=FAST)
    assert failed == [2] and sorted(warm) == [10001, 10002, 10002]
    _assert_central_is_reference(tmp_path / "fed", short_reference)


def test_the_flower_waits_that_are_patched_still_exist():
    """The patches in flower_tuning target flwr 1.42's fixed waits; fail loudly if they moved."""
    from flwr.supercore.inflatable import inflatable_utils
    from flwr.supernode import start_client_internal

    assert "time.sleep(3)" in inspect.getsource(start_client_internal)
    for fn in (inflatable_utils.pull_objects, inflatable_utils.pull_and_inflate_object_from_tree):
        assert {"initial_backoff", "backoff_cap"} <= set(fn.__kwdefaults__)


def test_supernode_sleeps_are_capped_and_object_pulls_retry_fast(monkeypatch):
    import time as real_time

    from flwr.supercore.inflatable import inflatable_utils
    from flwr.supernode import start_client_internal as loop

    monkeypatch.setattr(loop, "time", real_time)
    fns = (inflatable_utils.pull_objects, inflatable_utils.pull_and_inflate_object_from_tree)
    for fn in fns:
        monkeypatch.setattr(fn, "__kwdefaults__", dict(fn.__kwdefaults__))
    assert flower_tuning.cap_supernode_sleeps(0.05)
    t0 = time.monotonic()
    loop.time.sleep(3)  # what the SuperNode does after an empty pull
    assert time.monotonic() - t0 < 1.0
    assert loop.time.time() == pytest.approx(real_time.time(), abs=1.0)  # the rest is time's
    assert flower_tuning.fast_object_pulls()
    for fn in fns:
        assert fn.__kwdefaults__["initial_backoff"] == flower_tuning.PULL_INITIAL_BACKOFF_S
        assert fn.__kwdefaults__["backoff_cap"] == flower_tuning.PULL_BACKOFF_CAP_S
