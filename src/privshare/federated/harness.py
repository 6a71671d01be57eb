"""An in-process Flower Grid: the real ServerApp logic and ClientApp, no network.

:class:`InProcessGrid` implements :class:`flwr.serverapp.Grid`. Every message,
in both directions, is serialised into the objects Flower puts on the wire
(``Message`` -> RecordDict -> records -> array chunks, each deflated to bytes),
recorded in a :class:`Wire` log, and inflated again before it is handed on,
so the apps only ever see what survived Flower's own serialisation. Replies
are produced synchronously when a message is pushed; a message that a test
drops is never answered, so the server waits out its round timeout (keep it
short in tests).

Used by the tests (equivalence, wire audit, faults), the benchmark and
``privshare federated simulate --engine inprocess``.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from flwr.app import Context, Error, Message, RecordDict
from flwr.clientapp import ClientApp
from flwr.common.constant import SUPERLINK_NODE_ID, ErrorCode
from flwr.serverapp import Grid
from flwr.supercore.inflatable.inflatable_object import get_all_nested_objects
from flwr.supercore.inflatable.inflatable_utils import inflate_object_from_contents
from flwr.supercore.run import Run
from flwr.supercore.task_identity import TaskIdentity

from privshare.config import RunConfig
from privshare.federated.client_app import app as owner_app
from privshare.federated.server import FederatedResult, run_server
from privshare.federated.settings import (
    FederatedSettings,
    OwnerNodeConfig,
    parse_run_config,
    run_config,
)

log = logging.getLogger(__name__)
TO_OWNER, TO_SERVER = "server->owner", "owner->server"

# deliver(node_id, message, call) -> reply or None: wraps the call of the ClientApp
# (a test drops, delays or corrupts messages here); ``call(message)`` runs the app.
Deliver = Callable[[int, Message, Callable[[Message], Message]], "Message | None"]


@dataclass(frozen=True)
class WireMessage:
    """One message as it crossed: its direction, peer, type and deflated objects."""

    direction: str  # TO_OWNER or TO_SERVER
    node_id: int  # the owner's node at the other end
    message_type: str
    group_id: str
    objects: dict[str, bytes]  # object id -> bytes Flower transmits
    message: Message  # the message as the receiver got it (inflated)

    @property
    def size(self) -> int:
        return sum(len(b) for b in self.objects.values())


@dataclass
class Wire:
    """Everything that crossed, in order."""

    messages: list[WireMessage] = field(default_factory=list)

    def bytes_by(self, *, direction: str, message_type: str | None = None) -> dict[int, int]:
        out: dict[int, int] = {}
        for m in self.messages:
            if m.direction == direction and message_type in (None, m.message_type):
                out[m.node_id] = out.get(m.node_id, 0) + m.size
        return out


def transfer(message: Message) -> tuple[dict[str, bytes], Message]:
    """Deflate ``message`` to Flower's wire objects and inflate it back."""
    objects = {oid: obj.deflate() for oid, obj in get_all_nested_objects(message).items()}
    copy = inflate_object_from_contents(message.object_id, dict(objects))
    assert isinstance(copy, Message)
    copy.metadata.__dict__["_message_id"] = message.metadata.message_id
    return objects, copy


class InProcessGrid(Grid):
    """A Grid whose nodes are ClientApp calls in this process."""

    def __init__(
        self,
        *,
        client_app: ClientApp,
        contexts: dict[int, Context],
        wire: Wire | None = None,
        deliver: Deliver | None = None,
    ) -> None:
        self.client_app, self.contexts = client_app, contexts
        self.wire = wire if wire is not None else Wire()
        self.deliver = deliver
        self._run: Run | None = None
        self._replies: dict[str, Message] = {}

    def set_run(self, run: Run) -> None:
        self._run = run

    @property
    def run(self) -> Run:
        assert self._run is not None, "set_run first"
        return self._run

    def create_message(self, content: RecordDict, message_type: str, dst_node_id: int,
                       group_id: str, ttl: float | None = None) -> Message:
        return Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

    def get_node_ids(self) -> Iterable[int]:
        return list(self.contexts)

    def restart_node(self, node_id: int) -> int:
        """The node comes back under a new id, with a fresh Context (as a SuperNode
        restarted without node authentication); its owner keeps its disk."""
        old = self.contexts.pop(node_id)
        new = max([*self.contexts, node_id]) + 1
        self.contexts[new] = Context(run_id=old.run_id, node_id=new, node_config=old.node_config,
                                     state=RecordDict(), run_config=old.run_config)
        return new

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        ids = []
        for msg in messages:
            msg.metadata.__dict__["_message_id"] = uuid.uuid4().hex
            node = msg.metadata.dst_node_id
            objects, received = transfer(msg)
            self.wire.messages.append(WireMessage(TO_OWNER, node, msg.metadata.message_type,
                                                  msg.metadata.group_id, objects, received))
            reply = self._deliver(node, received)
            if reply is not None:
                reply.metadata.__dict__["_message_id"] = uuid.uuid4().hex
                objects, back = transfer(reply)
                self.wire.messages.append(WireMessage(TO_SERVER, node, msg.metadata.message_type,
                                                      msg.metadata.group_id, objects, back))
                self._replies[msg.metadata.message_id] = back
            ids.append(msg.metadata.message_id)
        return ids

    def _deliver(self, node: int, message: Message) -> Message | None:
        context = self.contexts.get(node)
        if context is None:
            return None

        def call(m: Message) -> Message:
            try:
                return self.client_app(m, context)
            except Exception as err:  # as Flower's ClientApp runtime turns it into an Error
                log.error("node %d: ClientApp raised %r", node, err)
                reason = f"{type(err)}:<'{err}'>"
                return Message(Error(code=ErrorCode.CLIENT_APP_RAISED_EXCEPTION, reason=reason),
                               reply_to=m)

        return self.deliver(node, message, call) if self.deliver else call(message)

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return [self._replies.pop(i) for i in list(message_ids) if i in self._replies]

    def send_and_receive(self, messages: Iterable[Message], *,
                         timeout: float | None = None) -> Iterable[Message]:
        return self.pull_messages(self.push_messages(messages))


@contextlib.contextmanager
def _server_identity(run_id: int) -> Iterator[None]:
    """Message() reads the sender's identity from TaskIdentity, as in a ServerApp process."""
    saved = (TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id)
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = run_id, SUPERLINK_NODE_ID, 1
    try:
        yield
    finally:
        TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id = saved


def run_in_process(
    config: RunConfig,
    *,
    settings: FederatedSettings,
    owners: list[OwnerNodeConfig],
    wire: Wire | None = None,
    deliver: Deliver | None = None,
    on_grid: Callable[[InProcessGrid], None] | None = None,
    warm: bool = False,
) -> FederatedResult:
    """Run the ServerApp logic against one ClientApp per owner, in this process.

    ``owners[j]`` is owner j's node config (its data file and folder). Node ids
    are 10001, 10002, ... in owner order. ``on_grid`` is handed the grid before
    the server starts (a test that restarts a node holds on to it). ``warm``
    keeps each owner's session in memory between messages, as the long-lived
    ClientApp process does (:func:`privshare.federated.client_app.keep_sessions`);
    by default every message starts from the owner's checkpoint, as a fresh
    ``flwr-clientapp`` process does.
    """
    flwr_run_config = run_config(config, settings)
    run_id = 1
    contexts = {
        10001 + i: Context(run_id=run_id, node_id=10001 + i, node_config=o.to_node_config(),
                           state=RecordDict(), run_config=dict(flwr_run_config))
        for i, o in enumerate(owners)
    }
    grid = InProcessGrid(client_app=owner_app, contexts=contexts, wire=wire, deliver=deliver)
    if on_grid is not None:
        on_grid(grid)
    server_config, server_settings = parse_run_config(flwr_run_config)  # as the ServerApp does
    from privshare.federated import client_app

    before = client_app.kept_sessions()
    if warm:
        client_app.keep_sessions(True)
    try:
        with _server_identity(run_id):
            return run_server(grid, config=server_config, settings=server_settings)
    finally:
        if warm and not before:
            client_app.keep_sessions(False)


def simulation_owners(folder: str | Path, *, owner_files: list[Path]) -> list[OwnerNodeConfig]:
    """Node configs of owners that all write into one run folder (one machine)."""
    return [OwnerNodeConfig(owner=j, data=Path(p), run_dir=Path(folder))
            for j, p in enumerate(owner_files)]
