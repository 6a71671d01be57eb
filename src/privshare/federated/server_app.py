"""The Flower ServerApp: reads the run config, hands the Grid to :func:`run_server`.

Referenced by the Flower app folder as ``privshare.federated.server_app:app``.
"""

from __future__ import annotations

import logging

from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

from privshare.federated.flower_tuning import fast_object_pulls
from privshare.federated.server import run_server
from privshare.federated.settings import parse_run_config

log = logging.getLogger(__name__)

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    # replies are listed before their arrays are uploaded; Flower retries such an
    # array after 1 s, 2 s, ...: retry after 0.02 s (undocumented; see flower_tuning)
    fast_object_pulls()
    config, settings = parse_run_config(dict(context.run_config))
    result = run_server(grid, config=config, settings=settings)
    log.warning(
        "federated privGAN done: %d rounds of K=%d in %s (%.3f s a round)",
        result.rounds, result.local_steps, result.run_dir, result.seconds_per_round,
    )
