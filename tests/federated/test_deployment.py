"""A real SuperLink and two SuperNodes on localhost, with TLS and node authentication."""

from __future__ import annotations

import json
import time

import pytest
import torch

from privshare.artifacts import load_run
from privshare.federated import FederatedSettings, write_owner_files
from privshare.federated.deploy import LocalFederation, write_app
from privshare.federated.harness import simulation_owners
from privshare.federated.settings import OwnerNodeConfig

from tests.federated.certs import make_node_key, make_tls
from tests.federated.conftest import one_process, tiny

pytestmark = pytest.mark.slow


def _wait_for_file(path, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.is_file():
        assert time.monotonic() < deadline, f"{path} did not appear within {timeout} s"
        time.sleep(0.2)


def test_tls_node_auth_crash_and_restart_end_to_end(tmp_path):
    """Two owners train 4 rounds through TLS; an unregistered node is turned away; owner 0's
    SuperNode is SIGKILLed (with its ClientApp) after its first round, restarted, and the run
    ends on the one-process weights (to float rounding)."""
    config = tiny(tmp_path, "train.epochs_privgan=1", 'train.steps_per_epoch="4"')
    run_dir = tmp_path / "fed"
    files = write_owner_files(config, folder=tmp_path / "private", partition_path=run_dir / "partition.npz")
    owners = simulation_owners(run_dir, owner_files=files)
    settings = FederatedSettings(run_dir=str(run_dir), round_timeout=30, retries=3,
                                 connect_timeout=120)
    app = write_app(tmp_path / "app", config=config, settings=settings)
    tls = make_tls(tmp_path / "certs")
    keys = [make_node_key(tmp_path / "keys" / f"owner_{j}") for j in range(2)]
    with LocalFederation(home=tmp_path / "flower", tls=tls, node_keys=keys) as fed:
        fed.start_all(owners)
        # a node whose key was never registered is turned away by the SuperLink
        stranger = make_node_key(tmp_path / "keys" / "stranger")
        intruder = OwnerNodeConfig(owner=1, data=files[1], run_dir=tmp_path / "intruder")
        name = fed.start_supernode(9, intruder, key=stranger)
        assert fed.processes[name].wait(timeout=120) != 0
        log = (tmp_path / "flower" / "superlink.log").read_text()
        assert "No SuperNode found with the given public key" in log
        start = time.monotonic()
        run_id = fed.submit(app)
        _wait_for_file(run_dir / "checkpoints" / "privgan_owner_0.pt", timeout=300)
        fed.kill("supernode_0")  # owner 0 crashes mid-run, its ClientApp with it
        fed.restart_supernode(0, owners[0], key=keys[0])
        info = fed.wait(run_id, timeout=600)
        elapsed = time.monotonic() - start
    assert info["status"] == "finished:completed"
    node_log = (tmp_path / "flower" / "supernode_0.log").read_text()
    assert node_log.count("SuperNode ID:") >= 2  # it really ran twice
    run = load_run(run_dir)
    manifest = run.manifest["federated"]
    assert manifest["rounds"] == 4 and [o["name"] for o in manifest["owners"]] == ["owner_0", "owner_1"]
    # the one-process run's weights, through TLS, two SuperNodes and a crash. Up to float
    # rounding only: one run in three of this test (on a loaded 2-core machine) ended with
    # 10 of D_central's 6144 weights of one layer off by up to 6.3e-6, the rest exact; the
    # cause is not found (a step computed against wrong weights moves nearly every weight by
    # about the learning rate, 2e-4, which this tolerance still catches)
    reference = one_process(config)
    central = run.central_discriminator().state_dict()
    for k, v in reference.trainer.central.network.state_dict().items():
        torch.testing.assert_close(central[k], v, rtol=1e-4, atol=2e-5)
    for j in range(2):
        g = run.generator("privgan", j).state_dict()
        for k, v in reference.trainer.owners[j].generator.state_dict().items():
            torch.testing.assert_close(g[k], v, rtol=1e-4, atol=2e-5)
    assert not (tmp_path / "intruder").exists()
    print(json.dumps({"seconds": round(elapsed, 1), "traffic": info["network-traffic"]}))


def test_warm_owners_answer_every_message_from_one_process(tmp_path):
    """The default localhost deployment (privshare's SuperNode wrapper, --isolation process,
    one long-lived ClientApp per owner): every message of an owner is handled by one process
    that built its session once, no flwr-clientapp is started, and the weights are exactly
    the one-process run's."""
    from privshare.federated import trace

    config = tiny(tmp_path, "train.epochs_privgan=1", 'train.steps_per_epoch="4"')
    run_dir = tmp_path / "fed"
    files = write_owner_files(config, folder=tmp_path / "private", partition_path=run_dir / "partition.npz")
    owners = simulation_owners(run_dir, owner_files=files)
    settings = FederatedSettings(run_dir=str(run_dir), round_timeout=60, connect_timeout=120)
    app = write_app(tmp_path / "app", config=config, settings=settings)
    trace_file = tmp_path / "trace.jsonl"
    with LocalFederation(home=tmp_path / "flower", extra_env={trace.ENV: str(trace_file)}) as fed:
        assert fed.mode == "warm"
        fed.start_all(owners)
        info = fed.run_app(app, timeout=600)
        workers = {j: fed.processes[f"clientapp_{j}"].pid for j in range(2)}
    assert info["status"] == "finished:completed"
    events = trace.read(trace_file)
    handled = [e for e in events if e["event"] == "handler_start"]
    assert len(handled) == 2 * (1 + 4 + 1)  # setup, 4 rounds, finish
    assert {e["pid"] for e in handled} == set(workers.values())
    assert sorted(e["pid"] for e in events if e["event"] == "session_built") == sorted(workers.values())
    for j in range(2):
        assert "flwr-clientapp" not in (tmp_path / "flower" / f"supernode_{j}.log").read_text()
    reference = one_process(config)
    central = load_run(run_dir).central_discriminator().state_dict()
    for k, v in reference.trainer.central.network.state_dict().items():
        torch.testing.assert_close(central[k], v, rtol=1e-6, atol=1e-7)


def test_the_clientapp_process_rides_out_a_supernode_restart(tmp_path):
    """Owner 0's SuperNode alone is SIGKILLed mid-run and started again with the same
    command (a restart policy); its ClientApp process keeps running, serves the new
    SuperNode with the session it already holds, and the run completes."""
    import os
    import signal

    from privshare.federated import trace

    config = tiny(tmp_path, "train.epochs_privgan=1", 'train.steps_per_epoch="4"')
    run_dir = tmp_path / "fed"
    files = write_owner_files(config, folder=tmp_path / "private", partition_path=run_dir / "partition.npz")
    owners = simulation_owners(run_dir, owner_files=files)
    settings = FederatedSettings(run_dir=str(run_dir), round_timeout=20, retries=4,
                                 connect_timeout=120)
    app = write_app(tmp_path / "app", config=config, settings=settings)
    trace_file = tmp_path / "trace.jsonl"
    with LocalFederation(home=tmp_path / "flower", extra_env={trace.ENV: str(trace_file)}) as fed:
        fed.start_all(owners)
        run_id = fed.submit(app)
        _wait_for_file(run_dir / "checkpoints" / "privgan_owner_0.pt", timeout=300)
        node = fed.processes.pop("supernode_0")
        os.killpg(node.pid, signal.SIGKILL)
        node.wait(timeout=15)
        worker = fed.processes["clientapp_0"]
        assert worker.poll() is None
        fed._start("supernode_0", list(node.args))  # same command, same Runtime API port
        info = fed.wait(run_id, timeout=600)
        assert worker.poll() is None
    assert info["status"] == "finished:completed"
    events = trace.read(trace_file)
    assert [e["event"] for e in events if e["pid"] == worker.pid].count("session_built") == 1
    assert sum(e["event"] == "handler_start" and e["pid"] == worker.pid for e in events) >= 6
    reference = one_process(config)
    central = load_run(run_dir).central_discriminator().state_dict()
    for k, v in reference.trainer.central.network.state_dict().items():
        torch.testing.assert_close(central[k], v, rtol=1e-6, atol=1e-7)
