"""The Flower app folder, and a SuperLink with SuperNodes on this machine.

:func:`write_app` writes the folder that ``flwr run`` bundles: a
``pyproject.toml`` whose components are this package's apps and whose
``[tool.flwr.app.config]`` carries the privshare config and the federated
settings. Every node must have privshare installed; runtime dependency
installation is switched off on both sides (``flower-superlink
--disable-runtime-dependency-installation``; a SuperNode installs nothing
unless started with ``--allow-runtime-dependency-installation``).

:class:`LocalFederation` starts ``flower-superlink`` and one SuperNode per
owner as subprocesses (TLS and node authentication when given certificates
and keys), submits the app with ``flwr run`` and waits for the run to
finish, with a timeout. It is what ``privshare federated simulate --engine
local``, the end-to-end test and the benchmark use; an operator runs the
same commands by hand (see docs/federated.md). Two ways to run an owner:

- ``mode="warm"`` (the default): ``privshare federated supernode`` (Flower's
  SuperNode with its idle pull capped at ``pull_interval`` s, see
  :mod:`.supernode`) with ``--isolation process``, plus one long-lived
  ``privshare federated clientapp`` (:mod:`.worker`) next to it, which keeps
  torch imported and the owner's session in memory.
- ``mode="stock"``: plain ``flower-supernode`` (``--isolation subprocess``):
  Flower's 3 s idle pull and a fresh ``flwr-clientapp`` process per message.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from privshare.config import RunConfig
from privshare.federated.supernode import DEFAULT_PULL_INTERVAL
from privshare.federated.worker import DEFAULT_TASK_POLL_INTERVAL
from privshare.federated.settings import (
    FederatedSettings,
    FederationError,
    OwnerNodeConfig,
    run_config,
)

log = logging.getLogger(__name__)
QUIET_ENV = {"FLWR_TELEMETRY_ENABLED": "0", "FLWR_DISABLE_UPDATE_CHECK": "1"}
MODES = ("warm", "stock")


def write_app(folder: str | Path, *, config: RunConfig, settings: FederatedSettings) -> Path:
    """Write the Flower app folder (``pyproject.toml`` only) and return it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    project = {
        "project": {"name": "privshare-federated", "version": "1.0.0", "license": "Apache-2.0",
                    "description": "Federated privGAN: only the central discriminator's updates cross",
                    "dependencies": []},
        "tool": {"flwr": {"app": {
            "publisher": "privshare",
            "components": {"serverapp": "privshare.federated.server_app:app",
                           "clientapp": "privshare.federated.client_app:app"},
            "config": run_config(config, settings),
        }}},
    }
    (folder / "pyproject.toml").write_text(tomli_w.dumps(project))
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Tls:
    """PEM files: the CA that signed the SuperLink's certificate, the certificate, its key."""

    ca: Path
    cert: Path
    key: Path


@dataclass
class LocalFederation:
    """A SuperLink and SuperNodes on localhost, each a process group of its own.

    Parameters
    ----------
    home : folder for logs and ``FLWR_HOME`` (the ``flwr`` CLI's connection file).
    tls : certificates; None runs everything insecure on the loopback interface.
    node_keys : per owner, an OpenSSH EC private key whose ``.pub`` is registered
        with the SuperLink before the node starts (requires ``tls``).
    mode : "warm" (a long-lived ClientApp per owner, short idle pulls) or
        "stock" (Flower's defaults); see the module docstring.
    pull_interval : the SuperNodes' idle pull interval in "warm" mode, seconds.
    task_poll_interval : how often a ClientApp process asks its SuperNode for a
        task while idle ("warm" mode), seconds.
    extra_env : more environment variables for every process (the benchmark's
        trace file and Flower's DEBUG log with timestamps).
    """

    home: Path
    tls: Tls | None = None
    node_keys: list[Path] | None = None
    mode: str = "warm"
    pull_interval: float = DEFAULT_PULL_INTERVAL
    task_poll_interval: float = DEFAULT_TASK_POLL_INTERVAL
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise FederationError(f"mode {self.mode!r}: choose {' or '.join(MODES)}")
        self.home = Path(self.home)
        (self.home / "flwr").mkdir(parents=True, exist_ok=True)
        if self.node_keys and self.tls is None:
            raise FederationError("node authentication needs TLS: pass tls= as well as node_keys=")
        conn: dict[str, Any] = {"address": f"127.0.0.1:{self.port}"}
        conn.update({"root-certificates": str(self.tls.ca)} if self.tls else {"insecure": True})
        (self.home / "flwr" / "config.toml").write_text(
            tomli_w.dumps({"superlink": {"default": "local", "local": conn}}))

    @property
    def env(self) -> dict[str, str]:
        bin_dir = str(Path(sys.executable).parent)  # privshare, superexec & apps: by name
        return {**os.environ, **QUIET_ENV, "FLWR_HOME": str(self.home / "flwr"),
                "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""), **self.extra_env}

    def _start(self, name: str, args: list[str]) -> subprocess.Popen:
        with open(self.home / f"{name}.log", "ab") as out:  # the child keeps its own copy
            proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=self.env,
                                    start_new_session=True)
        self.processes[name] = proc
        return proc

    def start_superlink(self) -> None:
        args = ["flower-superlink", "--port", str(self.port),
                "--disable-runtime-dependency-installation", "--isolation", "subprocess"]
        if self.tls:
            args += ["--ssl-ca-certfile", str(self.tls.ca), "--ssl-certfile", str(self.tls.cert),
                     "--ssl-keyfile", str(self.tls.key)]
        else:
            args += ["--insecure"]
        if self.node_keys:
            args += ["--enable-supernode-auth"]
        self._start("superlink", args)
        self._wait_for("Uvicorn running on", "superlink", timeout=60)

    def register(self, public_key: Path, *, name: str) -> int:
        """``flwr supernode register`` a node's public key; return its node id."""
        out = self.flwr(["supernode", "register", str(public_key), "local", "--name", name,
                         "--format", "json"], timeout=60)
        return int(json.loads(out[out.index("{"):])["node-id"])

    def start_supernode(self, index: int, node: OwnerNodeConfig, *, key: Path | None = None) -> str:
        """Start owner ``index``'s SuperNode (and, in "warm" mode, its ClientApp process).

        :meth:`kill` and :meth:`stop` of ``supernode_<index>`` take both down,
        as a crash of the owner's machine would.
        """
        name, runtime_port = f"supernode_{index}", free_port()
        flags = ["--superlink", f"127.0.0.1:{self.port}", "--node-config", node.to_flag(),
                 "--port", str(runtime_port)]
        flags += ["--root-certificates", str(self.tls.ca)] if self.tls else ["--insecure"]
        if key is not None:
            flags += ["--auth-supernode-private-key", str(key)]
        if self.mode == "stock":
            self._start(name, ["flower-supernode", *flags])
            return name
        # the commands of docs/federated.md; the Runtime API is the SuperNode's local
        # port: plain HTTP on the loopback interface, as between a SuperNode and the
        # SuperExec it starts itself in subprocess mode
        self._start(name, ["privshare", "federated", "supernode", "--pull-interval",
                           str(self.pull_interval), "--isolation", "process", *flags])
        self._start(f"clientapp_{index}", ["privshare", "federated", "clientapp",
                                           "--runtime-api-address", f"127.0.0.1:{runtime_port}",
                                           "--insecure", "--poll-interval",
                                           str(self.task_poll_interval)])
        return name

    def start_all(self, owners: list[OwnerNodeConfig]) -> None:
        self.start_superlink()
        for j, node in enumerate(owners):
            key = self.node_keys[j] if self.node_keys else None
            if key is not None:
                self.register(Path(str(key) + ".pub"), name=node.label)
            self.start_supernode(j, node, key=key)

    def flwr(self, args: list[str], *, timeout: float) -> str:
        done = subprocess.run(["flwr", *args], capture_output=True, text=True, env=self.env,
                              timeout=timeout)
        if done.returncode != 0:
            raise FederationError(f"`flwr {' '.join(args)}` failed ({done.returncode}): "
                                  f"{(done.stdout + done.stderr)[-2000:]}")
        return done.stdout

    def run_app(self, app: Path, *, timeout: float) -> dict[str, Any]:
        """``flwr run`` the app folder; wait for the run to finish; return ``flwr ls`` of it."""
        return self.wait(self.submit(app), timeout=timeout)

    def submit(self, app: Path) -> int:
        """``flwr run`` the app folder; return the run id at once."""
        out = self.flwr(["run", str(app), "local", "--format", "json"], timeout=120)
        return int(json.loads(out[out.index("{"):])["run-id"])

    def wait(self, run_id: int, *, timeout: float, poll: float = 10.0) -> dict[str, Any]:
        """Poll ``flwr ls`` until the run finishes (at most ``timeout`` s); return its entry.

        Every ``flwr ls`` is a new Python process importing Flower (about a CPU
        second): the first polls come 1 s apart, later ones at most ``poll`` s,
        so the polling does not take a core from the run it waits for.
        """
        deadline, pause = time.monotonic() + timeout, 1.0
        while time.monotonic() < deadline:
            ls = self.flwr(["ls", "local", "--run-id", str(run_id), "--format", "json"], timeout=60)
            info = json.loads(ls[ls.index("{"):])["runs"][0]
            if info["status"].startswith("finished"):
                if info["status"] != "finished:completed":
                    raise FederationError(f"run {run_id} ended {info['status']}: "
                                          f"{info.get('status-details')}; logs in {self.home}")
                return info
            self._check_alive()
            time.sleep(min(pause, max(deadline - time.monotonic(), 0.0)))
            pause = min(pause * 1.5, poll)
        raise FederationError(f"run {run_id} did not finish within {timeout:g} s; logs in {self.home}")

    def _check_alive(self) -> None:
        dead = [n for n, p in self.processes.items() if p.poll() is not None and n == "superlink"]
        if dead:
            raise FederationError(f"the SuperLink exited; see {self.home / 'superlink.log'}")

    def _wait_for(self, text: str, name: str, *, timeout: float) -> None:
        deadline, path = time.monotonic() + timeout, self.home / f"{name}.log"
        while time.monotonic() < deadline:
            if path.is_file() and text in path.read_text(errors="replace"):
                return
            if self.processes[name].poll() is not None:
                raise FederationError(f"{name} exited; see {path}")
            time.sleep(0.2)
        raise FederationError(f"{name} did not start within {timeout:g} s; see {path}")

    def _group(self, name: str) -> list[subprocess.Popen]:
        """``name``'s process and, for a SuperNode, its ClientApp process (each a group)."""
        procs = [self.processes.pop(name, None)]
        if name.startswith("supernode_"):
            procs.append(self.processes.pop(name.replace("supernode_", "clientapp_"), None))
        return [p for p in procs if p is not None]

    def kill(self, name: str) -> None:
        """SIGKILL a process and everything it started: a crash, no goodbye to the SuperLink."""
        procs = self._group(name)
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        for proc in procs:
            proc.wait(timeout=15)

    def restart_supernode(self, index: int, node: OwnerNodeConfig, *, key: Path | None = None,
                          timeout: float = 180.0) -> str:
        """Start a SuperNode again after a crash; retry until the SuperLink takes it back.

        The SuperLink counts a crashed node online until it misses two heartbeats
        (up to a minute) and refuses to activate its key again meanwhile (the new
        SuperNode exits with code 305); an operator's restart policy does the
        same as this loop: start it again every few seconds.
        """
        name, path = f"supernode_{index}", self.home / f"supernode_{index}.log"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            offset = path.stat().st_size if path.is_file() else 0
            proc = self.processes[self.start_supernode(index, node, key=key)]
            while proc.poll() is None and time.monotonic() < deadline:
                with open(path, "rb") as f:
                    f.seek(offset)
                    if b"SuperNode ID:" in f.read():
                        return name
                time.sleep(0.5)
            if proc.poll() is None:
                self.stop(name)
                break
            self.stop(name)  # its ClientApp process too
            time.sleep(5.0)
        raise FederationError(f"{name} was not taken back within {timeout:g} s; see {path}")

    def stop(self, name: str) -> None:
        procs = self._group(name)
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):  # each and what it started
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)

    def close(self) -> None:
        for name in [n for n in self.processes if n.startswith("supernode_")] + ["superlink"]:
            self.stop(name)
        for name in list(self.processes):  # anything left (a ClientApp whose node is gone)
            self.stop(name)

    def __enter__(self) -> LocalFederation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
