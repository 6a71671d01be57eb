"""What the machine computes natively: the one rule behind every ``precision = "auto"``.

Both the GAN trainers and the utility classifiers use it, so training and
evaluation resolve ``auto`` the same way on a given machine. The allocator
setting that keeps freed memory for reuse lives here too, for the same two users.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import logging
import os

import torch

log = logging.getLogger(__name__)

CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")  # /proc/cpuinfo flags of native bf16 matrix products
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
_allocator_note: str | None = None  # what keep_freed_memory did, once per process


@functools.lru_cache(maxsize=1)
def _cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo") as fh:
            text = fh.read()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def cpu_flags() -> frozenset[str]:
    """This CPU's /proc/cpuinfo flags (empty where there is no such file)."""
    return _cpu_flags()


def native_bf16(device: torch.device) -> bool:
    """True where bf16 matrix products run in hardware (CUDA with bf16, AMX or AVX512-BF16 CPUs).

    Elsewhere PyTorch emulates bf16 on the CPU, about 100 times slower than
    fp32 on an AVX2-only core (measured: 0.9 against 77 GFLOP/s on one core).
    """
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(set(CPU_BF16_FLAGS) & _cpu_flags())


def resolve_precision(device: torch.device, precision: str) -> str:
    """``auto`` -> ``bf16`` where :func:`native_bf16`, else ``fp32``; other names unchanged."""
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return precision


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast for ``bf16`` (and ``auto`` where bf16 is native), else a no-op context.

    Wrap forward passes only, and never an optimiser step: inside one context
    each weight's bf16 copy is cached, so a forward after an in-place update
    in the same context would still see the old weights.
    """
    if resolve_precision(device, precision) == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def keep_freed_memory() -> str:
    """Ask the C allocator to keep freed blocks for reuse instead of returning them to the OS.

    A training step frees and re-allocates tens of megabytes of activations
    and gradients. By default glibc gives large freed blocks back to the OS
    (munmap, heap trimming) and the next step page-faults them in again:
    measured 20-25 % of a ten-digit bf16 step on this CPU
    (``benchmarks/train_step``). This raises glibc's mmap and trim
    thresholds (``mallopt``) for the whole process, once; resident memory then
    stays at its peak instead of shrinking between steps, which the peak does
    not change. Under a preloaded jemalloc the same effect needs
    ``MALLOC_CONF=dirty_decay_ms:-1,muzzy_decay_ms:-1`` in the environment.
    Off with ``train.tune_allocator = false``; the evaluation's worker
    processes call it too.

    Returns
    -------
    str
        What was done, for the log.
    """
    global _allocator_note
    if _allocator_note is not None:
        return _allocator_note
    if "jemalloc" in os.environ.get("LD_PRELOAD", ""):
        conf = os.environ.get("MALLOC_CONF", "")
        _allocator_note = (f"jemalloc preloaded, MALLOC_CONF={conf!r}"
                           + ("" if "decay_ms:-1" in conf else
                              "; dirty_decay_ms:-1,muzzy_decay_ms:-1 keeps freed pages"))
        return _allocator_note
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c")).mallopt
        ok = mallopt(M_MMAP_THRESHOLD, 1 << 30) == 1 and mallopt(M_TRIM_THRESHOLD, 2**31 - 1) == 1
    except (OSError, AttributeError, TypeError):  # not glibc: leave the allocator alone
        ok = False
    _allocator_note = ("glibc keeps freed memory (mallopt)" if ok
                       else "allocator unchanged (no glibc mallopt)")
    log.info("allocator: %s", _allocator_note)
    return _allocator_note
