#!/usr/bin/env bash
# What one lent-GPU session runs for issue 15 item 6 (the GPU table and the cluster with one GPU worker), the most
# needed first, each under its own time limit so that a slow one cannot eat the rest; outputs in $OUT.
# The GPU machine has torch/transformers but not diffusers or Ray, and no network. Prepare on this machine
# (from the repository root; .whl is git-ignored through .git/info/exclude):
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux2014_x86_64 -d .whl diffusers==0.42.1 importlib_metadata==8.7.0 jsonschema==4.26.0 \
#     referencing jsonschema-specifications rpds-py
#   Ray's wheel (79 MB) is over the 64 MiB a call carries: unpack ray-2.60.0-cp312 manylinux2014, delete
#   ray/{jars,dashboard/client/build,rllib,llm,data,serve,train,tune} and `tar -cJf .whl/ray_stripped.tar.xz` it
#   (28 MB; bench/cluster_gpu.py and the cluster tests ran on such a stripped copy here).
# Then: run `bash bench/gpu_session.sh` there, carrying .whl.
export PYTHONUNBUFFERED=1
t0=$(date +%s)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
tar -C /tmp/site -xJf .whl/ray_stripped.tar.xz || exit 1
export PYTHONPATH=/tmp/site
echo "setup $(( $(date +%s) - t0 )) s" | tee $OUT/log.txt
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a $OUT/log.txt
python3 -c "import torch, transformers, diffusers, ray; print(torch.__version__, transformers.__version__, diffusers.__version__, ray.__version__)" 2>&1 | tee -a $OUT/log.txt
step() { local limit=$1 name=$2; shift 2; local s=$(date +%s)
  timeout $limit "$@" > $OUT/$name.md 2> $OUT/$name.err; echo "$name rc=$? $(( $(date +%s) - s )) s" | tee -a $OUT/log.txt; }
S="python3 bench/sampler.py --model sd15 --device cuda"
step 150 eager256 $S --dtypes fp16,bf16 --sizes 256 --batches 1,8,32,best --modes official,conditioning,context_kv,channels_last,default --steps 5
step 130 cluster python3 bench/cluster_gpu.py
step 50 temporal16 $S --variant temporal --dtypes fp16 --sizes 256 --batches 16,32 --modes official,default --steps 5
step 50 temporal64 $S --variant temporal --dtypes fp16 --sizes 256 --batches 64 --window 16 --overlap 4 --windows-per-batch 2 --modes official,default --steps 5
step 45 eager512 $S --dtypes fp16 --sizes 512 --batches 1,8,best --modes official,default --steps 5
step 110 compiled $S --dtypes fp16 --sizes 256 --batches 1,32 --modes official,compiled,compiled-cudagraphs --steps 10
echo "total $(( $(date +%s) - t0 )) s" | tee -a $OUT/log.txt
