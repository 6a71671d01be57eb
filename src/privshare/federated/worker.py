"""A long-lived ClientApp process for one owner, next to its SuperNode.

    privshare federated clientapp --runtime-api-address 127.0.0.1:9094 --insecure

Why: Flower 1.42 runs every message in a fresh ``flwr-clientapp`` process
(``--isolation subprocess``: the SuperNode's own SuperExec starts one per
message; ``--isolation process``: an external ``flower-superexec`` does the
same). Each one imports Flower, torch and privshare, unpacks the FAB and
rebuilds the owner from its checkpoint: seconds per round, whatever the
model size. This process is started once per owner, with the SuperNode in
``--isolation process`` mode (``flower-supernode --isolation process``). It
takes the place of ``flower-superexec`` + ``flwr-clientapp``: it claims the
SuperNode's ClientApp tasks over the SuperNode's Runtime API and runs each
one in this process with torch already imported and the owner's
:class:`~privshare.federated.owner.OwnerSession` kept in memory
(:func:`privshare.federated.client_app.keep_sessions`). The owner's state is
still saved to its own disk before every reply; nothing else changes on the
wire.

It only runs this package's ClientApp: a run whose FAB names another
``clientapp`` component is answered with an error.

Flower internals used (flwr 1.42.0; none is a documented API): the Runtime
API client and interceptors (``flwr.supercore.runtime``,
``flwr.supercore.interceptors``), ``AcquireTask`` as ``flower-superexec``
calls it (``flwr/supercore/superexec/run_superexec.py``), and the per-task
sequence of ``flwr-clientapp`` (``pull_task_input``, ``push_message``,
``push_task_output`` of ``flwr/supernode/runtime/run_clientapp.py``), here
in a loop instead of once per process, and the object-pull back-off patch
of :mod:`privshare.federated.flower_tuning`. Flower's own retry helper is not used:
it sends SIGINT to its process on an HTTP 401, which a long-lived process
must not do to itself.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("privshare.federated.worker")
APP_REF = "privshare.federated.client_app:app"
DEFAULT_TASK_POLL_INTERVAL = 0.2


@dataclass(frozen=True)
class WorkerOptions:
    """Where the SuperNode's Runtime API is and how to reach it."""

    runtime_api_address: str = "127.0.0.1:9094"
    insecure: bool = False
    root_certificates: Path | None = None  # CA of the Runtime API's certificate (TLS)
    superexec_auth_secret_file: Path | None = None  # as `flower-supernode --superexec-auth-secret-file`
    poll_interval: float = DEFAULT_TASK_POLL_INTERVAL  # seconds between AcquireTask calls while idle


class Worker:
    """Claims ClientApp tasks from one SuperNode and runs them in this process."""

    def __init__(self, options: WorkerOptions) -> None:
        from flwr.supercore.interceptors import (
            RuntimeVersionHttpInterceptor,
            SuperExecAuthHttpInterceptor,
        )
        from flwr.supercore.runtime import RuntimeHttpClient
        from flwr.supercore.tls import validate_and_resolve_root_certificates

        from privshare.federated import client_app  # torch, Flower and privshare, once
        from privshare.federated.flower_tuning import fast_object_pulls

        client_app.keep_sessions(True)
        fast_object_pulls()  # the task exists before its arrays do: retry after 0.02 s, not 1 s
        self.options = options
        self.stop = threading.Event()
        self.tasks = 0
        self._certs = validate_and_resolve_root_certificates(
            str(options.root_certificates) if options.root_certificates else None,
            options.insecure)
        interceptors = [RuntimeVersionHttpInterceptor(component_name="SuperExec")]
        if options.superexec_auth_secret_file is not None:
            from flwr.supercore.auth import load_superexec_auth_secret

            secret = load_superexec_auth_secret(secret_file=str(options.superexec_auth_secret_file))
            interceptors.append(SuperExecAuthHttpInterceptor(
                master_secret=secret, protected_methods=frozenset({"/flwr.proto.Runtime/AcquireTask"})))
        self._acquirer = RuntimeHttpClient.from_server_address(
            server_address=options.runtime_api_address, insecure=options.insecure,
            root_certificates=self._certs, interceptors=interceptors, retry_invoker=None)

    def serve(self, *, max_tasks: int | None = None) -> None:
        """Claim and run tasks until :attr:`stop` is set (or ``max_tasks`` have run)."""
        import httpx
        from flwr.proto.runtime_pb2 import AcquireTaskRequest
        from flwr.supercore.constant import TaskType

        request = AcquireTaskRequest(supported_task_types=[TaskType.CLIENT_APP])
        down_since: float | None = None
        log.info("serving ClientApp tasks of the SuperNode at %s", self.options.runtime_api_address)
        while not self.stop.is_set() and (max_tasks is None or self.tasks < max_tasks):
            try:
                res = self._acquirer.AcquireTask(request)
            except httpx.HTTPError as err:  # the SuperNode is not up (yet, or again)
                if down_since is None:
                    down_since = time.monotonic()
                    log.warning("SuperNode Runtime API at %s unreachable (%s); retrying",
                                self.options.runtime_api_address, err)
                self.stop.wait(min(2.0, 0.1 + (time.monotonic() - down_since) / 10))
                continue
            if down_since is not None:
                log.info("SuperNode Runtime API reachable again")
                down_since = None
            if res.HasField("task") and res.token:
                self.run_task(res.token)
                self.tasks += 1
            else:
                self.stop.wait(self.options.poll_interval)
        self._acquirer.close()

    def run_task(self, token: str) -> None:
        """One task, as ``flwr-clientapp`` runs it, but in this process."""
        from flwr.app import Error, Message
        from flwr.common.config import get_fab_config
        from flwr.common.constant import ErrorCode, SubStatus
        from flwr.supercore.heartbeat import HeartbeatSender
        from flwr.supercore.interceptors import (
            RuntimeTokenHttpInterceptor,
            RuntimeVersionHttpInterceptor,
        )
        from flwr.supercore.runtime import RuntimeHttpClient
        from flwr.supernode.runtime.run_clientapp import (
            pull_task_input,
            push_message,
            push_task_output,
        )

        from privshare.federated import trace
        from privshare.federated.client_app import app

        trace.event("worker_task_acquired")
        client = RuntimeHttpClient.from_server_address(
            server_address=self.options.runtime_api_address, insecure=self.options.insecure,
            root_certificates=self._certs,
            interceptors=[RuntimeVersionHttpInterceptor(component_name="flwr-clientapp"),
                          RuntimeTokenHttpInterceptor(token)],
            retry_invoker=_retry_invoker())
        heartbeat = HeartbeatSender(lambda: _heartbeat(client))
        message = context = reply = None
        status, details = SubStatus.FAILED, "ClientApp task failed due to unknown reason"
        try:
            heartbeat.start()
            message, context, run, fab = pull_task_input(client)
            trace.event("worker_task_input", type=message.metadata.message_type,
                        group=message.metadata.group_id)
            ref = get_fab_config(fab.content)["tool"]["flwr"]["app"]["components"]["clientapp"]
            if ref != APP_REF:
                reply = Message(Error(code=ErrorCode.LOAD_CLIENT_APP_EXCEPTION,
                                      reason=f"this ClientApp process runs only {APP_REF}, "
                                             f"the run asks for {ref}"), reply_to=message)
                details = reply.error.reason
            else:
                reply = app(message=message, context=context)
                status, details = SubStatus.COMPLETED, ""
        except Exception as ex:  # as flwr-clientapp: the server gets an Error reply
            log.exception("ClientApp raised an exception")
            details = f"{type(ex)}:<'{ex}'>"
            if message is not None:
                reply = Message(Error(code=ErrorCode.CLIENT_APP_RAISED_EXCEPTION, reason=details),
                                reply_to=message)
        finally:
            try:
                if reply is not None and context is not None:
                    push_message(client, reply, context)
                    trace.event("worker_reply_pushed", group=message.metadata.group_id)
            except Exception:  # the SuperNode went away: the server will ask again
                log.exception("could not hand the reply to the SuperNode")
            if heartbeat.is_running:
                heartbeat.stop()
            push_task_output(client=client, context=context, sub_status=status, details=details)
            client.close()


def _heartbeat(client) -> bool:
    import httpx
    from flwr.proto.runtime_pb2 import SendTaskHeartbeatRequest

    try:
        return bool(client.SendTaskHeartbeat(SendTaskHeartbeatRequest()).success)
    except httpx.HTTPError:
        return False


def _retry_invoker():
    """Retry transport errors a few times (the SuperNode is local); never signal."""
    import httpx
    from flwr.supercore.retry import RetryInvoker, exponential

    return RetryInvoker(lambda: exponential(max_delay=2), (httpx.TransportError,), max_tries=5,
                        max_time=30)


def serve(options: WorkerOptions) -> None:
    """Run a :class:`Worker` until SIGTERM or SIGINT (``privshare federated clientapp``)."""
    worker = Worker(options)
    signal.signal(signal.SIGTERM, lambda *_: worker.stop.set())
    signal.signal(signal.SIGINT, lambda *_: worker.stop.set())
    worker.serve()
