"""Two fixed waits inside Flower that cost seconds per round, and how they are shortened.

Neither is a CLI flag, an environment variable or a run-config key in
flwr 1.42.0, so both are patched in the processes privshare starts itself.
Both patches were written and tested against flwr 1.42.0 (``TESTED_FLWR``);
on another version each checks that what it patches still exists, logs a
warning and leaves Flower alone if it does not.

1. **The SuperNode's idle pull** (:func:`cap_supernode_sleeps`).
   ``flwr/supernode/start_client_internal.py`` sleeps a fixed 3 s after each
   pull from the SuperLink that finds no message, and 0.5 s between looks
   for the ClientApp's reply. In a privGAN round every SuperNode replies,
   pulls at once, finds nothing (the server is still waiting for the other
   owners) and sleeps 3 s. The patch replaces the ``time`` name that one
   module looks up with an object whose ``sleep`` is capped at the pull
   interval and whose every other attribute is the real ``time`` module's.
   Used by ``privshare federated supernode`` (:mod:`.supernode`).

2. **The back-off of object pulls** (:func:`fast_object_pulls`).
   A message is listed before its arrays are uploaded: the SuperLink hands
   the SuperNode an instruction (and the ServerApp a reply) as soon as its
   header is pushed, and a SuperNode creates the ClientApp's task before it
   has downloaded the arrays. Whoever pulls an array that is not there yet
   waits 1 s, then 2 s, up to 10 s (``initial_backoff`` and ``backoff_cap``
   of ``pull_objects`` and ``pull_and_inflate_object_from_tree`` in
   ``flwr/supercore/inflatable/inflatable_utils.py``, defaults from
   ``PULL_INITIAL_BACKOFF`` and ``PULL_BACKOFF_CAP``). On localhost that
   race is lost most rounds, three times per round (SuperNode, ClientApp,
   ServerApp). The patch sets those keyword defaults to 0.02 s and 1 s:
   the retries double from 0.02 s, so a slow upload is polled at most once
   a second (Flower still gives up after 500 tries per object). Used by the
   SuperNode wrapper, the long-lived ClientApp (:mod:`.worker`) and the
   ServerApp (:mod:`.server_app`).
"""

from __future__ import annotations

import inspect
import logging
import time
from importlib.metadata import version

log = logging.getLogger(__name__)
TESTED_FLWR = "1.42.0"
PULL_INITIAL_BACKOFF_S = 0.02
PULL_BACKOFF_CAP_S = 1.0


def _warn(what: str) -> None:
    log.warning("flwr %s: %s (this patch was written for flwr %s); left as Flower has it",
                version("flwr"), what, TESTED_FLWR)


class _CappedTime:
    """The ``time`` module, with ``sleep`` capped at ``cap`` seconds."""

    def __init__(self, cap: float) -> None:
        self._cap = cap

    def sleep(self, seconds: float) -> None:
        time.sleep(min(seconds, self._cap))

    def __getattr__(self, name: str):
        return getattr(time, name)


def cap_supernode_sleeps(cap: float) -> bool:
    """Cap the sleeps of Flower's SuperNode loop at ``cap`` s; return whether it applied."""
    from flwr.supernode import start_client_internal as loop

    current = getattr(loop, "time", None)
    if isinstance(current, _CappedTime):
        current._cap = cap
        return True
    if current is not time or "time.sleep(" not in inspect.getsource(loop):
        _warn("the SuperNode loop no longer sleeps through time.sleep")
        return False
    loop.time = _CappedTime(cap)
    return True


def fast_object_pulls(initial: float = PULL_INITIAL_BACKOFF_S,
                      cap: float = PULL_BACKOFF_CAP_S) -> bool:
    """Retry an object that is not uploaded yet after ``initial`` s (doubling, at most ``cap``)."""
    from flwr.supercore.inflatable import inflatable_utils as utils

    fns = [getattr(utils, n, None) for n in ("pull_objects", "pull_and_inflate_object_from_tree")]
    if any(f is None or not {"initial_backoff", "backoff_cap"} <= set(f.__kwdefaults__ or {})
           for f in fns):
        _warn("pull_objects no longer takes initial_backoff/backoff_cap keywords")
        return False
    for f in fns:
        f.__kwdefaults__.update(initial_backoff=initial, backoff_cap=cap)
    return True
