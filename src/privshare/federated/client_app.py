"""The Flower ClientApp of one owner: messages in, :class:`OwnerSession` calls, messages out.

Referenced by the Flower app folder as ``privshare.federated.client_app:app``.

The owner's state lives in its checkpoint under its ``run-dir``, saved before
every reply leaves. By default nothing is kept in memory between messages:
Flower's own ``flwr-clientapp`` is a fresh process per message. The
long-lived ClientApp process (:mod:`privshare.federated.worker`) calls
:func:`keep_sessions` so that one :class:`OwnerSession` stays in memory
across messages; it is reused only while the checkpoint on disk is the one
it wrote last (same size, mtime and inode), and is dropped when a call fails,
so a warm owner never answers from a state its disk does not hold.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass

from flwr.app import ConfigRecord, Context, Message, RecordDict
from flwr.clientapp import ClientApp

from privshare.federated import records as rec
from privshare.federated import trace
from privshare.federated.owner import OwnerSession
from privshare.federated.settings import (
    CONFIG_KEY,
    PROTOCOL,
    FederationError,
    OwnerNodeConfig,
    parse_run_config,
)

app = ClientApp()
trace.event("clientapp_loaded", process_start=trace.process_start_time())


@dataclass
class _Warm:
    session: OwnerSession
    disk: tuple[int, int, int] | None  # the checkpoint's (size, mtime_ns, inode) after its last save


_SESSIONS: OrderedDict[tuple, _Warm] = OrderedDict()
_KEEP = {"on": False, "limit": 4}


def keep_sessions(on: bool = True, *, limit: int = 4) -> None:
    """Keep each owner's :class:`OwnerSession` in memory between messages (or stop)."""
    _KEEP.update(on=on, limit=limit)
    if not on:
        _SESSIONS.clear()


def kept_sessions() -> bool:
    """Whether sessions are kept in memory between messages."""
    return bool(_KEEP["on"])


def _disk(session: OwnerSession) -> tuple[int, int, int] | None:
    try:
        st = os.stat(session.checkpoint_path)
    except FileNotFoundError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ino


def _key(context: Context) -> tuple:
    return (context.run_id, str(context.run_config.get(CONFIG_KEY, "")),
            tuple(sorted((k, str(v)) for k, v in context.node_config.items())))


def _build(context: Context) -> OwnerSession:
    config, _ = parse_run_config(dict(context.run_config))
    node = OwnerNodeConfig.from_node_config(dict(context.node_config))
    session = OwnerSession(config=config, node=node, owners=len(config.data.fractions))
    trace.event("session_built", node=context.node_id)
    return session


def _call(context: Context, fn):
    """``fn(session)`` on a fresh session, or on the warm one while its disk is unchanged."""
    if not _KEEP["on"]:
        return fn(_build(context))
    key = _key(context)
    warm = _SESSIONS.pop(key, None)
    if warm is None or _disk(warm.session) != warm.disk:
        warm = _Warm(session=_build(context), disk=None)
    out = fn(warm.session)  # if this raises, the session is not put back: rebuilt from disk
    warm.disk = _disk(warm.session)
    _SESSIONS[key] = warm
    while len(_SESSIONS) > _KEEP["limit"]:
        _SESSIONS.popitem(last=False)
    return out


def _traced(message: Message, context: Context, fn):
    fields = {"type": message.metadata.message_type, "group": message.metadata.group_id,
              "node": context.node_id}
    trace.event("handler_start", **fields)
    try:
        return _call(context, fn)
    finally:
        trace.event("handler_end", **fields)


@app.query("setup")
def setup(message: Message, context: Context) -> Message:
    asked = message.content.config_records[rec.SETUP_RECORD]
    if int(asked["protocol"]) != PROTOCOL:
        raise FederationError(
            f"server speaks protocol {asked['protocol']}, this owner {PROTOCOL}: "
            "install the same privshare version on every node"
        )
    info = _traced(message, context, lambda session: session.describe())
    return Message(RecordDict({rec.OWNER: ConfigRecord(info)}), reply_to=message)


@app.train()
def train(message: Message, context: Context) -> Message:
    order = rec.RoundOrder.from_record(message.content.config_records[rec.ROUND])

    def run(session: OwnerSession):
        weights = rec.tensors(message.content.array_records[rec.CENTRAL], device=session.device)
        return session.train_round(weights, order)

    grads, metrics = _traced(message, context, run)
    content = RecordDict({rec.CENTRAL_GRAD: rec.weights_record(grads),
                          rec.METRICS: rec.scalar_metrics(metrics)})
    return Message(content, reply_to=message)


@app.train("finish")
def finish(message: Message, context: Context) -> Message:
    order = rec.RoundOrder.from_record(message.content.config_records[rec.ROUND])

    def run(session: OwnerSession):
        weights = rec.tensors(message.content.array_records[rec.CENTRAL], device=session.device)
        return session.finish(weights, order)

    metrics = _traced(message, context, run)
    return Message(RecordDict({rec.METRICS: rec.scalar_metrics(metrics)}), reply_to=message)
