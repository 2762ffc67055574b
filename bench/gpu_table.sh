#!/usr/bin/env bash
# The GPU table of bench/RESULTS.md, in one command, from the repository root on a CUDA machine:
#
#   bash bench/gpu_table.sh > bench/gpu_table.md
#
# Needs: python with torch (CUDA). The pack's other dependencies (diffusers, transformers, safetensors, einops)
# are installed if missing: from $WHEELS (a folder of wheels, for a machine without network: fill it elsewhere
# with `pip download diffusers transformers safetensors einops -d wheels`) or else from PyPI. Random full-size
# (SD1.5) weights are initialised on the GPU; nothing is downloaded. About 10 minutes on an H100/H200.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python -c "import diffusers, transformers, safetensors, einops" 2>/dev/null; then
  if [ -n "${WHEELS:-}" ]; then
    python -m pip install -q --no-index --find-links "$WHEELS" diffusers transformers safetensors einops >&2
  else
    python -m pip install -q diffusers transformers safetensors einops >&2
  fi
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >&2 || true
run() { python bench/sampler.py --model sd15 --device cuda "$@"; echo; }
# Eager: every technique's ratio against the official order, fp16 and bf16, 256^2 and 512^2.
run --dtypes fp16,bf16 --sizes 256 --batches 1,8,32,best --modes official,conditioning,context_kv,channels_last,default --steps 5
run --dtypes fp16 --sizes 512 --batches 1,8,best --modes official,default --steps 5
# Compiled (one compilation per shape, cached on the blocks): the batches that matter.
run --dtypes fp16,bf16 --sizes 256 --batches 1,32 --modes official,compiled,compiled-cudagraphs --steps 10
# Temporal model: 16-frame windows folded into the batch.
run --variant temporal --dtypes fp16 --sizes 256 --batches 16,32 --modes official,default --steps 5
# Temporal model: the windowed sampler over 64 frames (5 windows of 16 overlapping by 4), 2 windows per call.
run --variant temporal --dtypes fp16 --sizes 256 --batches 64 --window 16 --overlap 4 --windows-per-batch 2 --modes official,default --steps 5
