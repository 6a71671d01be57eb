"""Training-step time of the utility classifiers, in the layout used and the plain one.

    python -m benchmarks.classifier_step [--threads 2] [--batch 256] [--steps 30]

For each network (small, reference) times one Adam step at batch
``--batch`` on 28x28 inputs in two layouts: ``plain`` (ReLU before each
max-pool, contiguous NCHW tensors, as the layers are usually written) and
``used`` (the project's :mod:`privshare.evaluation.classifier`: pool before
ReLU, channels-last). The two compute the same function; the script checks
that their logits agree on the same weights before timing. Prints ms per
step and images per second; writes a JSON file under benchmarks/results/.
"""

from __future__ import annotations

import argparse
import platform
import time
from datetime import datetime, timezone

import torch
from torch import nn

from benchmarks.results import write_result
from privshare.evaluation.classifier import NETWORKS


def _plain(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with ReLU back before each pool and NCHW weights."""
    body = list(model.body)
    for i, layer in enumerate(body[:-1]):
        if isinstance(layer, nn.MaxPool2d) and isinstance(body[i + 1], nn.ReLU):
            body[i], body[i + 1] = body[i + 1], body[i]
    plain = nn.Module()
    plain.body = nn.Sequential(*body)
    plain.head = model.head
    pad = getattr(model, "pad", (0, 0, 0, 0))
    plain.forward = lambda x: plain.head(plain.body(nn.functional.pad(x, pad).contiguous()))
    for p in plain.parameters():
        p.data = p.data.contiguous()
    return plain


def _time(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int) -> float:
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    for i in range(steps + 5):
        if i == 5:
            start = time.perf_counter()
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(args.batch, 1, 28, 28, generator=gen)
    y = torch.randint(0, 10, (args.batch,), generator=gen)
    rows = []
    for name, cls in NETWORKS.items():
        torch.manual_seed(0)
        used = cls(image_shape=(28, 28), classes=10).eval()
        plain = _plain(cls(image_shape=(28, 28), classes=10).eval())
        plain.load_state_dict(used.state_dict())
        with torch.no_grad():
            gap = (used(x) - plain(x)).abs().max().item()
        if gap > 1e-4:
            raise SystemExit(f"{name}: layouts disagree by {gap:.2e}; the benchmark is invalid")
        used.train(), plain.train()
        for layout, model in (("plain", plain), ("used", used)):
            dt = _time(model, x, y, args.steps)
            rows.append({"network": name, "layout": layout, "ms_per_step": dt * 1e3,
                         "images_per_s": args.batch / dt})
            print(f"{name:9s} {layout:5s} {dt * 1e3:7.1f} ms/step {args.batch / dt:7.0f} img/s",
                  flush=True)
    doc = {"when": datetime.now(timezone.utc).isoformat(), "threads": args.threads,
           "batch": args.batch, "cpu": platform.processor() or platform.machine(), "rows": rows}
    print(f"written {write_result(doc, stem='classifier_step')}")


if __name__ == "__main__":
    main()
