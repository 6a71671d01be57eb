"""The server's side: D_central and its Adam, the rounds, and every wait bounded.

The server holds the only authoritative copy of D_central. A round sends D_central's
weights to every owner, waits (at most ``round-timeout`` seconds, re-sending
up to ``retries`` times to a silent or rejected owner), checks every reply
(:func:`privshare.federated.records.check_gradients`), sums the owners'
gradients in owner order into ``D_central.grad`` and takes one Adam step. With
K = 1 that sum is exactly the gradient ``PrivGANTrainer.train_step``
accumulates, so D_central follows the one-process trajectory.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flwr.app import ConfigRecord, Message, RecordDict
from flwr.common.constant import ErrorCode
from flwr.serverapp import Grid

from privshare.config import RunConfig
from privshare.training import build_central_state, privgan_steps_per_epoch, resolve_device
from privshare.federated import records as rec
from privshare.federated import trace
from privshare.federated.records import ReplyRejected, RoundOrder
from privshare.federated.run_folder import ServerRunFolder
from privshare.federated.settings import PROTOCOL, FederatedSettings, FederationError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OwnerInfo:
    """An owner as the server knows it: nothing but what it chose to report."""

    index: int
    name: str
    node_id: int
    classes: tuple[int, ...]
    counts: tuple[int, ...]
    image_shape: tuple[int, int]


@dataclass
class Traffic:
    """Payload bytes per owner: array bytes plus the text of settings and metrics.

    An estimate without Flower's framing; the benchmark counts the wire itself.
    """

    sent: dict[int, int] = field(default_factory=dict)
    received: dict[int, int] = field(default_factory=dict)

    def add(self, owner: int, *, sent: int = 0, received: int = 0) -> None:
        self.sent[owner] = self.sent.get(owner, 0) + sent
        self.received[owner] = self.received.get(owner, 0) + received


def _payload_bytes(content: RecordDict) -> int:
    return sum(r.count_bytes() for r in content.array_records.values()) + sum(
        len(str(dict(r))) for r in (*content.config_records.values(), *content.metric_records.values())
    )


POLL_S = 0.05  # how often the server asks the SuperLink for replies (Flower's own loop: 3 s)
RESEND_S = 5.0  # pause before re-sending to a node the SuperLink reports offline
_LINK_ERRORS = {ErrorCode.NODE_UNAVAILABLE, ErrorCode.MESSAGE_UNAVAILABLE,
                ErrorCode.REPLY_MESSAGE_UNAVAILABLE}


def _send_and_receive(
    grid: Grid,
    targets: dict[int, int],
    *,
    content: RecordDict,
    message_type: str,
    label: str,
    timeout: float,
) -> tuple[dict[int, Message], dict[int, str]]:
    """Send ``content`` to ``targets`` (key -> node id); collect replies for ``timeout`` s.

    Polls every :data:`POLL_S` seconds. A message the SuperLink answers itself
    (the node is offline, the message expired) is sent again after
    :data:`RESEND_S` seconds, so a node that restarts within the window is
    asked again. Returns ``({key: reply}, {key: why there is none})``.
    """
    deadline = time.monotonic() + timeout
    in_flight: dict[str, int] = {}  # message id -> key
    resend: dict[int, float] = {}  # key -> when
    why: dict[int, str] = {}
    replies: dict[int, Message] = {}

    def push(keys: list[int]) -> None:
        messages = [Message(content, targets[k], message_type, group_id=label) for k in keys]
        trace.event("server_pushing", group=label, nodes=[targets[k] for k in keys])
        ids = list(grid.push_messages(messages)) if messages else []
        trace.event("server_pushed", group=label, nodes=[targets[k] for k in keys])
        for k, mid in zip(keys, ids + [None] * (len(keys) - len(ids))):
            if mid is None:
                why[k] = "the SuperLink did not accept the message"
                resend[k] = time.monotonic() + RESEND_S
            else:
                in_flight[mid] = k

    push(list(targets))
    while True:
        for reply in grid.pull_messages(list(in_flight)) if in_flight else []:
            k = in_flight.pop(reply.metadata.reply_to_message_id, None)
            if k is None:
                continue
            trace.event("server_got_reply", group=label, node=targets[k])
            if reply.has_error() and reply.error.code in _LINK_ERRORS:
                why[k] = f"the SuperLink answered: {reply.error.reason}"
                log.info("%s: node %d: %s; sending again in %g s", label, targets[k],
                         reply.error.reason, RESEND_S)
                resend[k] = time.monotonic() + RESEND_S
                continue
            replies[k] = reply
        now = time.monotonic()
        if (not in_flight and not resend) or now >= deadline:
            break
        due = [k for k, t in resend.items() if t <= now]
        for k in due:
            del resend[k]
        push(due)
        time.sleep(POLL_S)
    missing = set(targets) - set(replies)
    return replies, {k: why.get(k, f"no reply within {timeout:g} s") for k in missing}


def _exchange(
    grid: Grid,
    owners: list[OwnerInfo],
    *,
    message_type: str,
    content: RecordDict,
    label: str,
    settings: FederatedSettings,
    check: Callable[[Message], Any],
    traffic: Traffic | None = None,
) -> dict[int, Any]:
    """Send ``content`` to every owner; return ``{owner index: check(reply)}``.

    Owners that stay silent for ``round_timeout`` seconds, or whose reply
    ``check`` rejects, are asked again up to ``retries`` times; then the
    round fails with a :class:`FederationError` naming each missing owner.
    Before asking again, an owner whose SuperNode came back under a new node
    id is found by :func:`_rejoin` (``owners`` is updated in place).
    """
    pending = {o.index: o for o in owners}
    results: dict[int, Any] = {}
    reasons: dict[int, str] = {}
    size = _payload_bytes(content)
    for attempt in range(settings.retries + 1):
        if attempt:
            _rejoin(grid, owners, pending=pending, settings=settings)
        if traffic is not None:
            for j in pending:
                traffic.add(j, sent=size)
        replies, silent = _send_and_receive(
            grid, {j: o.node_id for j, o in pending.items()}, content=content,
            message_type=message_type, label=label, timeout=settings.round_timeout)
        reasons.update(silent)
        for j, reply in replies.items():
            owner = pending[j]
            if traffic is not None and reply.has_content():
                traffic.add(j, received=_payload_bytes(reply.content))
            try:
                results[j] = check(reply)
            except ReplyRejected as err:
                reasons[j] = f"reply rejected: {err}"
                log.warning("%s: rejected the reply of %r (owner %d): %s",
                            label, owner.name, j, err)
                continue
            del pending[j]
        if not pending:
            return results
        if attempt < settings.retries:
            log.warning("%s: asking %s again (attempt %d of %d): %s", label,
                        ", ".join(repr(o.name) for o in pending.values()), attempt + 2,
                        settings.retries + 1, "; ".join(reasons[j] for j in pending))
    missing = "; ".join(
        f"owner {o.name!r} (index {o.index}, node {o.node_id}): {reasons[o.index]}"
        for o in pending.values()
    )
    raise FederationError(f"{label}: gave up after {settings.retries + 1} attempts: {missing}")


def _rejoin(grid: Grid, owners: list[OwnerInfo], *, pending: dict[int, OwnerInfo],
            settings: FederatedSettings) -> None:
    """Ask nodes the server has not met who they are; rebind pending owners to them.

    A SuperNode restarted without node authentication registers under a new
    node id; its owner answers setup from its checkpoint, as before the crash.
    """
    known = {o.node_id for o in owners}
    new = [n for n in grid.get_node_ids() if n not in known]
    if not new:
        return
    content = RecordDict({rec.SETUP_RECORD: ConfigRecord({"protocol": PROTOCOL,
                                                          "owners": len(owners)})})
    replies, _ = _send_and_receive(grid, {n: n for n in new}, content=content,
                                   message_type=rec.SETUP, label="setup", timeout=min(
                                       settings.round_timeout, settings.connect_timeout))
    for node, reply in replies.items():
        try:
            info = _owner_info(reply, len(owners), node_id=node)
        except FederationError as err:
            log.warning("node %d asked to join mid-run and failed: %s", node, err)
            continue
        old = owners[info.index]
        if info.index not in pending or (info.classes, info.image_shape) != (
                old.classes, old.image_shape):
            log.warning("node %d claims owner %d (%r), which is not missing; ignored",
                        node, info.index, info.name)
            continue
        log.warning("owner %r is back as node %d (was node %d)", info.name, node, old.node_id)
        owners[info.index] = pending[info.index] = info


def _owner_info(reply: Message, owners: int, *, node_id: int) -> OwnerInfo:
    if reply.has_error():
        raise FederationError(f"node {node_id} failed to set up: {reply.error.reason}")
    r = reply.content.config_records[rec.OWNER]
    info = OwnerInfo(
        index=int(r["owner"]), name=str(r["name"]), node_id=node_id,
        classes=tuple(int(c) for c in r["classes"]), counts=tuple(int(n) for n in r["counts"]),
        image_shape=(int(r["image_shape"][0]), int(r["image_shape"][1])),
    )
    if not 0 <= info.index < owners:
        raise FederationError(f"node {info.node_id} says it is owner {info.index}; "
                              f"this run has owners 0..{owners - 1}")
    return info


def discover(grid: Grid, *, owners: int, settings: FederatedSettings) -> list[OwnerInfo]:
    """Wait (at most ``connect_timeout`` s) until owners 0..N-1 have each answered setup."""
    deadline = time.monotonic() + settings.connect_timeout
    found: dict[int, OwnerInfo] = {}
    asked: set[int] = set()
    content = RecordDict({rec.SETUP_RECORD: ConfigRecord({"protocol": PROTOCOL, "owners": owners})})
    while len(found) < owners:
        new = [n for n in grid.get_node_ids() if n not in asked]
        if new:
            wait = max(1.0, min(settings.round_timeout, deadline - time.monotonic()))
            replies, _ = _send_and_receive(grid, {n: n for n in new}, content=content,
                                           message_type=rec.SETUP, label="setup", timeout=wait)
            for node, reply in replies.items():
                asked.add(node)
                info = _owner_info(reply, owners, node_id=node)
                if info.index in found:
                    other = found[info.index]
                    raise FederationError(
                        f"nodes {other.node_id} ({other.name!r}) and {info.node_id} ({info.name!r}) "
                        f"both claim owner index {info.index}; give each node its own owner=<j>"
                    )
                found[info.index] = info
                log.info("owner %d %r is node %d", info.index, info.name, info.node_id)
        if len(found) < owners and time.monotonic() > deadline:
            missing = sorted(set(range(owners)) - set(found))
            raise FederationError(
                f"{len(found)} of {owners} owners answered within {settings.connect_timeout:g} s "
                f"({', '.join(repr(o.name) for o in found.values()) or 'none'}); owner indices "
                f"{missing} are missing: start their SuperNodes (registered, with owner=<j>)"
            )
        if len(found) < owners:
            time.sleep(0.5)
    infos = [found[j] for j in range(owners)]
    for o in infos[1:]:
        if (o.classes, o.image_shape) != (infos[0].classes, infos[0].image_shape):
            raise FederationError(
                f"owner {o.name!r} has classes {o.classes} of {o.image_shape} images, owner "
                f"{infos[0].name!r} {infos[0].classes} of {infos[0].image_shape}: all must agree"
            )
    return infos


@dataclass(frozen=True)
class FederatedResult:
    """What a finished federated run reports (the run folder holds the rest)."""

    run_dir: str
    rounds: int
    steps: int
    local_steps: int
    owners: tuple[str, ...]
    seconds_per_round: float
    bytes_sent_per_round: dict[int, float]  # server -> owner j, per round
    bytes_received_per_round: dict[int, float]  # owner j -> server, per round

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any], *, run_dir: str) -> FederatedResult:
        """Read back the summary the server stored in ``run.json``."""
        f = manifest["federated"]
        return cls(
            run_dir=run_dir, rounds=int(f["rounds"]), steps=int(f["steps"]),
            local_steps=int(f["local_steps"]), owners=tuple(o["name"] for o in f["owners"]),
            seconds_per_round=float(f["seconds_per_round"]),
            bytes_sent_per_round={int(k): v for k, v in f["bytes_sent_per_round"].items()},
            bytes_received_per_round={int(k): v for k, v in f["bytes_received_per_round"].items()},
        )


def run_server(grid: Grid, *, config: RunConfig, settings: FederatedSettings) -> FederatedResult:
    """Drive a whole federated privGAN run over ``grid``; write the server's run folder."""
    n = len(config.data.fractions)
    owners = discover(grid, owners=n, settings=settings)
    t, device = config.train, resolve_device(config.train.device)
    first = owners[0]
    central = build_central_state(  # D_central is stepped and sent here, never run: not compiled
        config, classes=len(first.classes), data_dim=first.image_shape[0] * first.image_shape[1],
        owners=n, device=device, compile_forward=False,
    )
    spe = privgan_steps_per_epoch(config, counts=[c for o in owners for c in o.counts])
    total, k = t.epochs_privgan * spe, settings.local_steps
    rounds = math.ceil(total / k)
    folder = ServerRunFolder(config=config, settings=settings, owners=owners, device=device)
    folder.open(steps_per_epoch=spe, rounds=rounds)
    traffic, start = Traffic(), time.perf_counter()
    params = dict(central.network.named_parameters())
    for r in range(rounds):
        order = RoundOrder(round=r, first_step=r * k, steps=min(k, total - r * k),
                           central_from_step=t.central_delay * spe, steps_per_epoch=spe)
        content = RecordDict({rec.CENTRAL: rec.weights_record(central.network.state_dict()),
                              rec.ROUND: order.to_record()})
        replies = _exchange(
            grid, owners, message_type=rec.TRAIN, content=content, label=f"round {r}",
            settings=settings, traffic=traffic,
            check=lambda m, r=r: (rec.check_gradients(
                m, expected=params, max_norm=settings.max_grad_norm, round_index=r),
                dict(m.content.metric_records[rec.METRICS])),
        )
        if order.first_step + order.steps > order.central_from_step:
            central.optimizer.zero_grad(set_to_none=True)
            for name, p in params.items():  # owner order: the one-process accumulation order
                p.grad = sum((replies[j][0][name] for j in range(1, n)), replies[0][0][name].clone())
            central.optimizer.step()
        folder.record_round(order, {j: replies[j][1] for j in range(n)})
    seconds = (time.perf_counter() - start) / max(rounds, 1)  # train rounds only
    final = RoundOrder(round=rounds, first_step=total, steps=0, central_from_step=total,
                       steps_per_epoch=spe)
    content = RecordDict({rec.CENTRAL: rec.weights_record(central.network.state_dict()),
                          rec.ROUND: final.to_record()})
    done = _exchange(grid, owners, message_type=rec.FINISH, content=content, label="finish",
                     settings=settings, check=_finish_metrics)
    folder.record_round(final, done)
    result = FederatedResult(
        run_dir=str(folder.layout.root), rounds=rounds, steps=total, local_steps=k,
        owners=tuple(o.name for o in owners), seconds_per_round=seconds,
        bytes_sent_per_round={j: v / rounds for j, v in traffic.sent.items()},
        bytes_received_per_round={j: v / rounds for j, v in traffic.received.items()},
    )
    folder.close(central=central, result=result)
    return result


def _finish_metrics(message: Message) -> dict[str, float]:
    if message.has_error():
        raise ReplyRejected(f"the owner reported an error: {message.error.reason}")
    return dict(message.content.metric_records[rec.METRICS])
