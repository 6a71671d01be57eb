"""The CUDA path: same networks as on the CPU, a whole run and an evaluation on the GPU.

Skipped where no CUDA device is visible (CI); `benchmarks/device_check.sh`
runs them on a lent GPU machine.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from privshare.training import PrivGANTrainer, RealRows
from tests.training.helpers import tiny_config, tiny_rows

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device visible")
CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def _rows_on(device: torch.device) -> list[RealRows]:
    rng = np.random.default_rng(0)
    return [RealRows.from_arrays([rng.integers(0, 256, (n + c, 8, 8), dtype=np.uint8)
                                  for c in range(3)], device=device, dtype=torch.float32)
            for n in (5, 9)]


@pytest.mark.parametrize("kind", ["mlp", "conv"])
def test_the_gpu_builds_the_cpu_s_networks_and_computes_the_same_function(kind):
    extra = [f'model.kind="{kind}"'] + (["model.conv_channels=[4, 8]"] if kind == "conv" else [])
    cfg = tiny_config(*extra)
    cpu = PrivGANTrainer(config=cfg, rows=tiny_rows(), device=CPU)
    gpu = PrivGANTrainer(config=cfg, rows=_rows_on(CUDA), device=CUDA)
    for a, b in zip(cpu.owners, gpu.owners):  # weights are drawn on the CPU: identical
        for (ka, va), (kb, vb) in zip(a.generator.state_dict().items(),
                                      b.generator.state_dict().items()):
            assert ka == kb and torch.equal(va, vb.cpu())
        z = a.noise(16)
        out_cpu = a.generator(z)
        out_gpu = b.generator(z.to(CUDA)).cpu()
        assert torch.allclose(out_cpu, out_gpu, rtol=1e-4, atol=1e-4)
        logits_cpu = a.discriminator(out_cpu)
        logits_gpu = b.discriminator(out_gpu.to(CUDA)).cpu()
        assert torch.allclose(logits_cpu, logits_gpu, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_privgan_steps_on_the_gpu_are_finite_and_move_every_network(precision):
    t = PrivGANTrainer(config=tiny_config(f'train.precision="{precision}"'),
                       rows=_rows_on(CUDA), device=CUDA)
    before = [p.detach().clone() for p in t.owners[0].generator.parameters()]
    for _ in range(3):
        t.train_step()
    after = list(t.owners[0].generator.parameters())
    assert all(p.is_cuda for p in after)
    assert all(torch.isfinite(p).all() for p in after)
    assert any(not torch.equal(a, b) for a, b in zip(after, before))


def test_a_whole_run_and_its_evaluation_on_the_gpu(tmp_path):
    from privshare.config import load_config
    from privshare.evaluation import load_eval_config
    from privshare.experiments import run_experiment
    from privshare.experiments.evaluate import evaluate_run

    config = load_config(preset="tiny", overrides=[
        f'out_dir="{tmp_path}"', 'name="gpu"', 'train.device="cuda"', 'train.precision="auto"'])
    run = run_experiment(config)
    manifest = json.loads((run.root / "run.json").read_text())
    assert manifest["device"].startswith("cuda") and manifest["precision"] == "bf16"
    x = np.load(run.root / "owner_0" / "synthetic_privgan.npz")["x"]
    assert x.dtype == np.uint8 and x.std() > 0
    ev = evaluate_run(run, config=load_eval_config(preset="tiny", overrides=[
        'device="cuda"', "seeds=[0]"]))
    accuracy = [r["value"] for r in ev.rows
                if r["metric"] == "accuracy" and r["source"] == "real_own" and r["class"] == "all"]
    assert accuracy and min(accuracy) > 0.5  # the tiny digits' own rows, classified on the GPU


def test_packed_cells_on_the_gpu_train_as_each_cell_alone():
    # float64 on the GPU too: the pack's weights equal those of the cells stepped one by one
    from privshare.training.packing import PackedPrivGAN

    def cells():
        return [PrivGANTrainer(config=tiny_config("train.precision='fp64'", "train.batch_size=6",
                                                  f"seed={s}", f"train.privacy_weight={w}"),
                               rows=[RealRows(r.x.double(), r.counts) for r in _rows_on(CUDA)],
                               device=CUDA) for s, w in ((0, 1.0), (1, 3.0))]

    alone = cells()
    for cell in alone:
        for _ in range(3):
            cell.train_step()
    pack = PackedPrivGAN(cells())
    for _ in range(3):
        pack.train_step()
    for packed, lone in zip(pack.unpack(), alone):
        for a, b in zip(packed.owners, lone.owners):
            for k, v in a.generator.state_dict().items():
                torch.testing.assert_close(v, b.generator.state_dict()[k], rtol=1e-7, atol=1e-9)
