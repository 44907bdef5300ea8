#!/usr/bin/env bash
# The prepared GPU check: parity and timing of every task on the GPU (and the CPU beside it),
# then the scaling study on both devices. Writes JSON and Markdown reports into one folder.
# Usage: bash gpu_check.sh [OUT_DIR]   (default results/gpu). Takes a few minutes on one GPU.
# Uses the python3 on PATH (PYTHON=... to choose): a machine with CUDA builds of PyTorch and
# JAX needs nothing else; a library that is missing there is reported as skipped.
set -u
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
out=${1:-results/gpu}
mkdir -p "$out"
status=0
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" || true
"$PY" -c "import jax; print('jax', jax.__version__, jax.devices())" || true
for dtype in float32 float64; do  # float32 first: the TF32 question
  "$PY" compare.py --task xor --device all --dtype "$dtype" --json "$out/xor-$dtype.json" --markdown "$out/xor-$dtype.md" || status=1
done
for task in linear logistic softmax sine; do
  "$PY" compare.py --task "$task" --device gpu --dtype float32 --repeat 2 --json "$out/$task-float32.json" \
    --markdown "$out/$task-float32.md" || status=1
done
# One library at a time, so a run cut short by a time limit still leaves the finished ones' reports.
for fw in jax torch numpy; do
  "$PY" compare.py scale --frameworks "$fw" --device all --json "$out/scale-$fw.json" --markdown "$out/scale-$fw.md" \
    --plots "$out/scale-$fw" || status=1
done
exit $status
