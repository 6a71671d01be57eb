"""Federated privGAN on Flower: one node per owner; only D_central's updates cross.

- :mod:`.owner` (plain PyTorch): an owner's round, calling the one-process
  step functions of :mod:`privshare.training.steps`.
- :mod:`.server`: D_central, its Adam, the rounds, timeouts and reply checks.
- :mod:`.client_app` / :mod:`.server_app`: the Flower apps (translation only).
- :mod:`.harness`: an in-process Grid that records every message on the wire;
  :mod:`.audit` checks such a record.
- :mod:`.deploy`: the Flower app folder and a localhost SuperLink + SuperNodes.
- :mod:`.worker`: the owner's long-lived ClientApp process
  (``privshare federated clientapp``); :mod:`.supernode`: Flower's SuperNode
  with a short idle pull (``privshare federated supernode``);
  :mod:`.flower_tuning`: the two patches of Flower's fixed waits they use.
- :mod:`.trace`: phase timestamps for the benchmark (off unless asked for).

The ``privshare federated`` commands are :mod:`privshare.cli.federated`. Names
below are imported on first use, so the command line (``privshare --help``)
stays free of torch and Flower at start-up.
"""

import os

from privshare.lazy import lazy_exports

# No telemetry and no update checks from Flower in any process that uses this package.
os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
os.environ.setdefault("FLWR_DISABLE_UPDATE_CHECK", "1")

_EXPORTS = {
    "FederatedSettings": "settings", "FederationError": "settings", "OwnerNodeConfig": "settings",
    "parse_run_config": "settings", "run_config": "settings",
    "OwnerRows": "data", "load_owner_rows": "data", "write_owner_files": "data",
    "ReplyRejected": "records", "RoundOrder": "records",
    "FederatedResult": "server", "run_server": "server",
    "Wire": "harness", "run_in_process": "harness",
    "AuditReport": "audit", "audit_wire": "audit",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
