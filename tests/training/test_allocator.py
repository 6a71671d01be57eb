"""train.tune_allocator: fit asks the C allocator to keep freed memory, once, and only if told."""

from __future__ import annotations

import ctypes.util
import platform

import pytest
import torch

import privshare.training.loop as loop_mod
import privshare.hardware as runtime  # the allocator rule lives there (training re-exports it)
from privshare.training import PrivGANTrainer, fit
from tests.training.helpers import tiny_config, tiny_rows

CPU = torch.device("cpu")


@pytest.fixture
def fresh(monkeypatch):
    monkeypatch.setattr(runtime, "_allocator_note", None)
    monkeypatch.delenv("LD_PRELOAD", raising=False)


def test_glibc_thresholds_are_raised_once(fresh, monkeypatch):
    calls = []

    class FakeLibc:
        def mallopt(self, param, value):
            calls.append((param, value))
            return 1

    monkeypatch.setattr(runtime.ctypes, "CDLL", lambda name: FakeLibc())
    assert runtime.keep_freed_memory() == "glibc keeps freed memory (mallopt)"
    assert runtime.keep_freed_memory() == "glibc keeps freed memory (mallopt)"
    assert calls == [(runtime.M_MMAP_THRESHOLD, 1 << 30), (runtime.M_TRIM_THRESHOLD, 2**31 - 1)]


def test_a_refused_or_missing_mallopt_leaves_the_allocator_alone(fresh, monkeypatch):
    class NoMallopt:  # e.g. musl or macOS
        pass

    monkeypatch.setattr(runtime.ctypes, "CDLL", lambda name: NoMallopt())
    assert runtime.keep_freed_memory() == "allocator unchanged (no glibc mallopt)"


def test_jemalloc_is_left_to_its_environment(fresh, monkeypatch):
    monkeypatch.setenv("LD_PRELOAD", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2")
    monkeypatch.setenv("MALLOC_CONF", "")
    assert "dirty_decay_ms:-1,muzzy_decay_ms:-1" in runtime.keep_freed_memory()


@pytest.mark.skipif(platform.system() != "Linux" or not ctypes.util.find_library("c"),
                    reason="the real mallopt exists on glibc Linux only")
def test_the_real_glibc_accepts_the_thresholds(fresh):
    assert runtime.keep_freed_memory() == "glibc keeps freed memory (mallopt)"


@pytest.mark.parametrize("tune", [True, False])
def test_fit_tunes_the_allocator_only_when_configured(monkeypatch, tune):
    calls = []
    monkeypatch.setattr(loop_mod, "keep_freed_memory", lambda: calls.append(1) or "")
    cfg = tiny_config(f"train.tune_allocator={str(tune).lower()}")
    fit(PrivGANTrainer(config=cfg, rows=tiny_rows(), device=CPU), epochs=1)
    assert len(calls) == (1 if tune else 0)
