"""Settings of a federated run and the two configs Flower hands to the apps.

- The **run config** (``[tool.flwr.app.config]`` of the Flower app, the same
  for the server and every owner) carries the resolved privshare
  :class:`~privshare.config.RunConfig` as TOML text plus the
  :class:`FederatedSettings` below.
- The **node config** (``flower-supernode --node-config``) is private to one
  owner: its index, where its data file is and where it writes.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import tomli_w

from privshare.config import ConfigError, RunConfig, config_from_dict, config_to_dict
from privshare.config.loading import build_settings
from privshare.config.rules import rule, rule_problems, written_key

CONFIG_KEY = "privshare-config"  # run-config key holding the RunConfig as TOML text
PROTOCOL = 2  # bumped when the message layout changes


class FederationError(RuntimeError):
    """A federated run cannot go on: an owner is missing, misconfigured or misbehaving."""


@dataclass(frozen=True)
class FederatedSettings:
    """How the server drives the rounds. Keys are the run-config names with '-'."""

    # K: privGAN steps per owner per round (1 = the one-process step)
    local_steps: int = field(default=1, metadata=rule(">= 1", key="local-steps"))
    # seconds to wait for every owner's reply to one round
    round_timeout: float = field(default=300.0, metadata=rule("> 0", key="round-timeout"))
    # seconds to wait for all owners to come online
    connect_timeout: float = field(default=300.0, metadata=rule("> 0", key="connect-timeout"))
    # re-sends of a round to a silent or rejected owner before giving up
    retries: int = field(default=2, metadata=rule(">= 0", key="retries"))
    # a reply whose D_central gradient L2 norm exceeds this is rejected
    max_grad_norm: float = field(default=1e4, metadata=rule("> 0", key="max-grad-norm"))
    # server's run folder ("" = <out_dir>/<name> of the privshare config)
    run_dir: str = field(default="", metadata={"key": "run-dir"})

    def __post_init__(self) -> None:
        problems = rule_problems(self)
        if problems:  # the same rules the loader applies, for settings built in code
            raise ConfigError(f"federated setting {problems[0]}")

    def to_run_config(self) -> dict[str, Any]:
        return {written_key(f): getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_run_config(cls, run_config: dict[str, Any]) -> FederatedSettings:
        keys = {written_key(f) for f in fields(cls)}
        return build_settings(cls, {k: v for k, v in run_config.items() if k in keys},
                              what="federated setting")


def check_federable(config: RunConfig) -> None:
    """Refuse settings that would need something other than D_central updates to cross."""
    t = config.train
    if t.noise != "per_owner":
        raise ConfigError(
            f"train.noise={t.noise!r}: a shared z stream would have to cross between owners; "
            "set train.noise=\"per_owner\" for a federated run"
        )
    if t.central_pretrain_epochs:
        raise ConfigError(
            f"train.central_pretrain_epochs={t.central_pretrain_epochs}: pre-training the central "
            "discriminator on real rows would send gradients of real rows; set it to 0 for a "
            "federated run"
        )


def run_config(config: RunConfig, settings: FederatedSettings) -> dict[str, Any]:
    """The Flower run config of a federated run: privshare config + settings."""
    check_federable(config)
    return {CONFIG_KEY: tomli_w.dumps(config_to_dict(config)), **settings.to_run_config()}


def parse_run_config(run_config: dict[str, Any]) -> tuple[RunConfig, FederatedSettings]:
    """Inverse of :func:`run_config`, as read by either app from ``context.run_config``."""
    if CONFIG_KEY not in run_config:
        raise ConfigError(
            f"the Flower run config has no {CONFIG_KEY!r}; build the app folder with "
            "`privshare federated app` so the privshare config travels with it"
        )
    config = config_from_dict(tomllib.loads(str(run_config[CONFIG_KEY])))
    check_federable(config)
    return config, FederatedSettings.from_run_config(run_config)


@dataclass(frozen=True)
class OwnerNodeConfig:
    """One owner's private settings, from ``flower-supernode --node-config``.

    Example: ``--node-config 'owner=0 data="/srv/a/rows.npz" run-dir="/srv/a/run"'``.
    """

    owner: int  # this owner's index j: its label in D_central and its seed slot
    data: Path  # .npz with x (uint8 (n, H, W)) and y (labels) of this owner's rows only
    run_dir: Path  # where this owner writes its checkpoint, G_j, D_j and synthetic data
    name: str = ""  # how the server and logs call this owner ("" = owner_<j>)
    seed: int | None = None  # private root seed (None = the run's seed, as one-process)
    device: str = ""  # overrides train.device on this node ("" = keep)

    @property
    def label(self) -> str:
        return self.name or f"owner_{self.owner}"

    @classmethod
    def from_node_config(cls, node_config: dict[str, Any]) -> OwnerNodeConfig:
        missing = [k for k in ("owner", "data", "run-dir") if k not in node_config]
        if missing:
            raise ConfigError(
                f"node config {dict(node_config)} lacks {missing}; start the SuperNode with "
                "--node-config 'owner=<j> data=\"<rows.npz>\" run-dir=\"<folder>\"'"
            )
        owner = node_config["owner"]
        if not isinstance(owner, int) or isinstance(owner, bool) or owner < 0:
            raise ConfigError(f"node config owner={owner!r} must be an integer >= 0")
        seed = node_config.get("seed")
        return cls(
            owner=owner,
            data=Path(str(node_config["data"])).expanduser(),
            run_dir=Path(str(node_config["run-dir"])).expanduser(),
            name=str(node_config.get("name", "")),
            seed=None if seed is None else int(seed),
            device=str(node_config.get("device", "")),
        )

    def to_node_config(self) -> dict[str, Any]:
        out: dict[str, Any] = {"owner": self.owner, "data": str(self.data),
                               "run-dir": str(self.run_dir)}
        if self.name:
            out["name"] = self.name
        if self.seed is not None:
            out["seed"] = self.seed
        if self.device:
            out["device"] = self.device
        return out

    def to_flag(self) -> str:
        """The ``--node-config`` value of ``flower-supernode`` for this owner."""
        return " ".join(
            f"{k}={v}" if isinstance(v, int) else f'{k}="{v}"'
            for k, v in self.to_node_config().items()
        )
