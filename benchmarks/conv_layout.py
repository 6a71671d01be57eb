"""Memory layout of the batched convolutions: NCHW against channels-last (NHWC).

    python -m benchmarks.conv_layout                     # 1 thread, batch 128, bf16 and fp32
    python -m benchmarks.conv_layout --threads 2 --channels 16 32

The convolutional ensembles (``privshare.models.conv``) run the M class
networks of a layer as one grouped convolution. This times, for each layer of
the discriminator and the generator at the given channels, the forward plus
backward pass (input and weight gradients) of that grouped convolution with
its input laid out NCHW and channels-last, and prints seconds per pass and the
ratio. The values are the same either way; only the speed differs. Random
inputs of MNIST's shape; the models use channels-last.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.nn import functional as F

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def _timed(fn, *, reps: int) -> float:
    for _ in range(2):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def layer_pass(*, transposed: bool, models: int, batch: int, cin: int, cout: int, side: int,
               dtype: torch.dtype, channels_last: bool):
    """A closure running one grouped (transposed) convolution forward and backward."""
    x = torch.randn(batch, models * cin, side, side, dtype=dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    shape = (models * cin, cout, 4, 4) if transposed else (models * cout, cin, 4, 4)
    w = torch.randn(*shape, dtype=dtype, requires_grad=True)
    op = F.conv_transpose2d if transposed else F.conv2d

    def run() -> None:
        op(x, w, stride=2, padding=1, groups=models).sum().backward()
    return run


def layers(channels: tuple[int, int]) -> list[tuple[str, bool, int, int, int]]:
    """(name, transposed, cin, cout, input side) of each layer of D and G on 28x28 images."""
    a, b = channels
    return [("D conv 1->%d 28x28" % a, False, 1, a, 28), ("D conv %d->%d 14x14" % (a, b), False, a, b, 14),
            ("G up %d->%d 7x7" % (b, a), True, b, a, 7), ("G up %d->1 14x14" % a, True, a, 1, 14)]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--models", type=int, default=10, help="class networks per ensemble")
    p.add_argument("--batch", type=int, default=128, help="rows per class network (D_i's real + fake)")
    p.add_argument("--channels", type=int, nargs=2, default=[32, 64])
    p.add_argument("--precisions", nargs="+", default=["bf16", "fp32"], choices=sorted(DTYPES))
    p.add_argument("--reps", type=int, default=5)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"{args.threads} thread(s), {args.models} models, batch {args.batch}, "
          f"channels {args.channels}; median of {args.reps} forward+backward passes")
    print(f"{'layer':24s} {'precision':9s} {'NCHW s':>8s} {'NHWC s':>8s} {'speed-up':>8s}")
    for name, transposed, cin, cout, side in layers(tuple(args.channels)):
        for precision in args.precisions:
            secs = [_timed(layer_pass(transposed=transposed, models=args.models, batch=args.batch,
                                      cin=cin, cout=cout, side=side, dtype=DTYPES[precision],
                                      channels_last=last), reps=args.reps)
                    for last in (False, True)]
            print(f"{name:24s} {precision:9s} {secs[0]:8.4f} {secs[1]:8.4f} {secs[0] / secs[1]:8.2f}")


if __name__ == "__main__":
    main()
