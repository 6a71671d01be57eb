"""The Flower ServerApp: reads the run config, hands the Grid to :func:`run_server`.

Referenced by the Flower app folder as ``privshare.federated.server_app:app``.
"""

from __future__ import annotations

import logging

from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

from privshare.federated.server import run_server
from privshare.federated.settings import parse_run_config

log = logging.getLogger(__name__)

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    config, settings = parse_run_config(dict(context.run_config))
    result = run_server(grid, config=config, settings=settings)
    log.warning(
        "federated privGAN done: %d rounds of K=%d in %s (%.3f s a round)",
        result.rounds, result.local_steps, result.run_dir, result.seconds_per_round,
    )
