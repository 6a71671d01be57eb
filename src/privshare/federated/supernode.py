"""``flower-supernode`` with a short idle pull and quick object-pull retries.

    privshare federated supernode [--pull-interval 0.1] <flower-supernode arguments>

Runs Flower's own ``flower-supernode`` entry point with every argument other
than ``--pull-interval`` passed on as is, after two patches of Flower's
fixed waits (:mod:`privshare.federated.flower_tuning`; undocumented, written
for flwr 1.42.0): the SuperNode loop's sleeps (3 s after an empty pull,
0.5 s between looks for the ClientApp's reply) are capped at
``--pull-interval`` seconds, and an array that is not uploaded yet is asked
for again after 0.02 s instead of 1 s.

Cost: while idle, each SuperNode sends one small PullMessages request to the
SuperLink per interval (10 a second at 0.1 s) instead of one per 3 s.
"""

from __future__ import annotations

import argparse
import logging
import sys

from privshare.federated.flower_tuning import cap_supernode_sleeps, fast_object_pulls

DEFAULT_PULL_INTERVAL = 0.1


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--pull-interval", type=float, default=DEFAULT_PULL_INTERVAL)
    ours, rest = p.parse_known_args(argv)
    if not 0 < ours.pull_interval <= 3:
        raise SystemExit(f"--pull-interval {ours.pull_interval}: choose 0 < s <= 3 (Flower's own)")
    logging.getLogger("flwr").propagate = False  # Flower prints its own lines, once
    cap_supernode_sleeps(ours.pull_interval)
    fast_object_pulls()
    from flwr.supernode.cli.flower_supernode import flower_supernode

    sys.argv = ["flower-supernode", *rest]
    flower_supernode()


if __name__ == "__main__":
    main()
