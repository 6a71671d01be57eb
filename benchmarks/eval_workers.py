"""Classifier throughput: one process with N threads against N processes of one thread.

    python -m benchmarks.eval_workers [--workers 2] [--batch 256] [--steps 60]

Times Adam steps of the evaluation's small CNN (28x28 inputs) in three ways,
each with the C allocator as the system leaves it and with freed memory kept
for reuse (:func:`privshare.hardware.keep_freed_memory`, what training and
the evaluation's workers set): one process at one thread, one process at
``--workers`` threads, and ``--workers`` processes of one thread each
started at once (the evaluation's ``workers`` setting). Prints ms per step
per process and the combined time per step; writes a JSON file under
benchmarks/results/.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import platform
import time
from datetime import datetime, timezone


def _time_steps(threads: int, keep: bool, batch: int, steps: int, start=None) -> float:
    """Seconds per Adam step of the small CNN in this process."""
    import torch

    from privshare.evaluation.classifier import SmallCNN
    from privshare.hardware import keep_freed_memory

    if keep:
        keep_freed_memory()
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = SmallCNN(image_shape=(28, 28), classes=10)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    x, y = torch.rand(batch, 1, 28, 28), torch.randint(0, 10, (batch,))

    def step() -> None:
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(10):
        step()
    if start is not None:
        start.wait()  # every process times the same stretch
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t) / steps


def _in_child(args) -> float:
    threads, keep, batch, steps, start = args
    return _time_steps(threads, keep, batch, steps, start)


def _fresh(threads: int, keep: bool, batch: int, steps: int) -> float:
    """One spawned process (the allocator setting cannot be undone in this one)."""
    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(_time_steps, (threads, keep, batch, steps))


def _parallel(workers: int, keep: bool, batch: int, steps: int) -> list[float]:
    ctx = mp.get_context("spawn")
    start = ctx.Manager().Barrier(workers)
    with ctx.Pool(workers) as pool:
        return pool.map(_in_child, [(1, keep, batch, steps, start)] * workers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=60)
    a = parser.parse_args()
    from benchmarks.results import write_result

    rows = []
    for keep in (False, True):
        allocator = "kept" if keep else "system"
        one = _fresh(1, keep, a.batch, a.steps)
        many = _fresh(a.workers, keep, a.batch, a.steps)
        each = _parallel(a.workers, keep, a.batch, a.steps)
        combined = max(each) / a.workers
        rows += [dict(allocator=allocator, way="1 process, 1 thread", ms_per_step=1e3 * one),
                 dict(allocator=allocator, way=f"1 process, {a.workers} threads",
                      ms_per_step=1e3 * many),
                 dict(allocator=allocator, way=f"{a.workers} processes, 1 thread each",
                      ms_per_step=1e3 * combined,
                      per_process_ms=[round(1e3 * t, 1) for t in each])]
    for r in rows:
        extra = f"  (each process {r['per_process_ms']} ms)" if "per_process_ms" in r else ""
        print(f"{r['allocator']:>6} allocator  {r['way']:<28} {r['ms_per_step']:6.1f} ms a step"
              f"{extra}")
    path = write_result({"when": datetime.now(timezone.utc).isoformat(),
                         "cpu": platform.processor(), "batch": a.batch, "steps": a.steps,
                         "workers": a.workers, "rows": rows}, stem="eval_workers")
    print(f"written: {path}")


if __name__ == "__main__":
    main()
