"""The Flower ClientApp of one owner: messages in, :class:`OwnerSession` calls, messages out.

Referenced by the Flower app folder as ``privshare.federated.client_app:app``.
Nothing is kept in memory between messages (Flower may start a new process
for each): the owner's state lives in its checkpoint under its ``run-dir``.
"""

from __future__ import annotations

from flwr.app import ConfigRecord, Context, Message, RecordDict
from flwr.clientapp import ClientApp

from privshare.federated import records as rec
from privshare.federated.owner import OwnerSession
from privshare.federated.settings import (
    PROTOCOL,
    FederationError,
    OwnerNodeConfig,
    parse_run_config,
)

app = ClientApp()


def _session(context: Context) -> OwnerSession:
    config, _ = parse_run_config(dict(context.run_config))
    node = OwnerNodeConfig.from_node_config(dict(context.node_config))
    return OwnerSession(config=config, node=node, owners=len(config.data.fractions))


@app.query("setup")
def setup(message: Message, context: Context) -> Message:
    asked = message.content.config_records[rec.SETUP_RECORD]
    if int(asked["protocol"]) != PROTOCOL:
        raise FederationError(
            f"server speaks protocol {asked['protocol']}, this owner {PROTOCOL}: "
            "install the same privshare version on every node"
        )
    info = _session(context).describe()
    return Message(RecordDict({rec.OWNER: ConfigRecord(info)}), reply_to=message)


@app.train()
def train(message: Message, context: Context) -> Message:
    session = _session(context)
    order = rec.RoundOrder.from_record(message.content.config_records[rec.ROUND])
    weights = rec.tensors(message.content.array_records[rec.DP], device=session.device)
    grads, metrics = session.train_round(weights, order)
    content = RecordDict({rec.DP_GRAD: rec.weights_record(grads),
                          rec.METRICS: rec.scalar_metrics(metrics)})
    return Message(content, reply_to=message)


@app.train("finish")
def finish(message: Message, context: Context) -> Message:
    session = _session(context)
    order = rec.RoundOrder.from_record(message.content.config_records[rec.ROUND])
    weights = rec.tensors(message.content.array_records[rec.DP], device=session.device)
    metrics = session.finish(weights, order)
    return Message(RecordDict({rec.METRICS: rec.scalar_metrics(metrics)}), reply_to=message)
