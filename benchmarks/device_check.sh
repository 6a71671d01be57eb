#!/usr/bin/env bash
# The GPU check: one command on a lent GPU machine (an H200 with Python 3.12 and
# torch + CUDA already there, no network), about 5-8 minutes.
#
# Here, once per checkout (puts what that machine lacks into .device/, which git ignores):
#     bash benchmarks/device_check.sh --prepare
# There (the device tool): command "bash benchmarks/device_check.sh", carry [".device"],
# timeout_s 540. What it measures comes back under $OUT:
#   tests.log             the CUDA tests (tests/training/test_cuda.py) and the precision tests
#   train_step_cuda.json  the privGAN step on the GPU against its measured matmul peaks
#   pack_cuda.json        8 paper cells stepped one after the other, and packed into one ensemble
#   cell_run.json, cell_metrics.json
#                         one paper cell (owners 1 % / 25 %, the paper's networks and batch,
#                         bf16) at 20 privGAN / 25 GAN epochs, trained and evaluated on the GPU
#   summary.txt           the figures, and the paper grid's wall time estimated from them
set -uo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--prepare" ]; then
  grep -qx '/.device/' .git/info/exclude 2>/dev/null || echo '/.device/' >> .git/info/exclude
  mkdir -p .device/whl .device/cache/privshare
  python3 -m pip download -q --no-deps --only-binary=:all: -d .device/whl tomli-w==1.2.0
  privshare fetch-data >/dev/null  # real MNIST into the local cache, once
  cp "${XDG_CACHE_HOME:-$HOME/.cache}"/privshare/mnist.* .device/cache/privshare/
  du -sh .device
  exit 0
fi

OUT="${OUT:-/tmp/device_check}"
mkdir -p "$OUT"
[ -d .device/whl ] || { echo "no .device/: run 'bash benchmarks/device_check.sh --prepare' here first"; exit 2; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site \
  .device/whl/*.whl || exit 2
export PYTHONPATH="/tmp/site:$PWD/src:$PWD" XDG_CACHE_HOME="$PWD/.device/cache" PYTHONUNBUFFERED=1
export FLWR_TELEMETRY_ENABLED=0 RAY_USAGE_STATS_ENABLED=0
summary="$OUT/summary.txt"
{ nvidia-smi -L; python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))"; } \
  | tee "$summary"

echo "== 1. CUDA tests" | tee -a "$summary"
timeout 180 python3 -m pytest -p no:cacheprovider -o addopts="" tests/training/test_cuda.py \
  tests/training/test_precision.py 2>&1 | tee "$OUT/tests.log" | tail -3 | tee -a "$summary"

echo "== 2. privGAN step on the GPU" | tee -a "$summary"
timeout 200 python3 -m benchmarks.train_step --device cuda --classes 1 10 --precisions fp32 bf16 \
  --no-looped --steps 20 --warmup 5 --out "$OUT/train_step_cuda.json" 2>&1 | tee -a "$summary"

echo "== 2b. cell packing: 8 ten-digit paper cells, one by one and packed, bf16" | tee -a "$summary"
timeout 150 python3 -m benchmarks.train_step --device cuda --classes 10 --precisions bf16 \
  --no-looped --pack 8 --steps 10 --warmup 3 --out "$OUT/pack_cuda.json" 2>&1 | tee -a "$summary"

echo "== 3. one paper cell, 1 % / 25 %, 20 privGAN / 25 GAN epochs, bf16" | tee -a "$summary"
start=$(date +%s)
timeout 240 python3 -m privshare run --preset paper --name cell --out-dir /tmp/device_runs \
  --set 'data.fractions=[0.01, 0.25]' --set 'train.device="cuda"' --set 'train.precision="bf16"' \
  --set train.epochs_privgan=20 --set train.epochs_gan=25 \
  --eval-set 'device="cuda"' --eval-set 'seeds=[0]' > "$OUT/cell.log" 2>&1
echo "exit $? after $(( $(date +%s) - start )) s" | tee -a "$summary"
cp /tmp/device_runs/cell/run.json "$OUT/cell_run.json" 2>/dev/null
cp /tmp/device_runs/cell/metrics.json "$OUT/cell_metrics.json" 2>/dev/null
tail -40 "$OUT/cell.log" >> "$summary"

python3 - "$OUT" <<'EOF' | tee -a "$summary"
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
try:
    doc = json.loads((out / "train_step_cuda.json").read_text())
except (OSError, ValueError):
    sys.exit("no step benchmark result: no estimate")
step = {(c["precision"], c["classes"]): c["seconds_per_step"] for c in doc["cases"]
        if c["layout"] == "batched"}
privgan_steps, gan_steps = 142_000, 12_500  # the paper grid, counted in README "Performance"
for pr in ("fp32", "bf16"):
    s = step.get((pr, 10))
    if s:
        hours = (privgan_steps * s + gan_steps * s / 2) / 3600
        print(f"paper grid, {pr}, cell by cell: {s:.4f} s a ten-digit step -> about {hours:.2f} h "
              "of training (GAN steps counted at half a privGAN step; evaluation not included)")
try:
    packed = next(c for c in json.loads((out / "pack_cuda.json").read_text())["cases"]
                  if c["layout"] == "packed")
except (OSError, ValueError, StopIteration):
    sys.exit("no packing result: no packed estimate")
s = packed["seconds_per_step"] / packed["pack"]  # one cell's share of a packed step
hours = (privgan_steps * s + gan_steps * s / 2) / 3600
print(f"paper grid, bf16, packed {packed['pack']} cells at a time: {s:.4f} s a cell's step -> "
      f"about {hours:.2f} h of training")
EOF
