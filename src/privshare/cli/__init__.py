"""The ``privshare`` command line: parse, build config, call the library, print.

One module per command group, every command registered here (in the order
``privshare --help`` lists them):

- :mod:`.run`: ``fetch-data``, ``train``, ``run``, ``generate``, ``evaluate``;
- :mod:`.sweep`: ``sweep`` (trains a grid) and ``report`` (reads stored results only);
- :mod:`.federated`: ``privshare federated ...``;
- :mod:`.errors`: how every command fails (exit 2: bad input, 3: the machine refused);
  :mod:`.common`: the console and the options the groups share.

Heavy modules (torch, Flower, the trainers) are imported inside the commands,
so ``privshare --help`` is instant.
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from privshare.cli import federated, run, sweep
from privshare.cli.errors import CommandGroup

__all__ = ["app"]

app = typer.Typer(
    help="Train privGAN across data owners, export labelled synthetic data, measure it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=CommandGroup,
)


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


app.command("fetch-data")(run.fetch_data)
app.command("train")(run.train)
app.command("run")(run.run)
app.command("generate")(run.generate)
app.command("sweep")(sweep.sweep)
app.command("report")(sweep.report_command)
app.command("evaluate")(run.evaluate)

federated_app = typer.Typer(
    help="Federated privGAN on Flower: one node per owner, only the central discriminator's updates cross.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
federated_app.command("simulate")(federated.simulate)
federated_app.command("app")(federated.write_app)
federated_app.command("split")(federated.split)
federated_app.command("supernode", context_settings=federated.PASS_THROUGH,
                      add_help_option=False)(federated.supernode)
federated_app.command("clientapp", context_settings={"help_option_names": ["-h", "--help"]})(
    federated.clientapp)
app.add_typer(federated_app, name="federated")
