"""Fine-tuning throughput and peak memory, per trainable set (one process per measurement).

  python bench/finetune.py --model tiny --device cpu                      # tiny fixture model, every set
  python bench/finetune.py --model sd15 --device cuda --dtype fp16 --batch 8 --size 256    # full size, GPU
  flock /work/wt/.heavy.lock python bench/finetune.py --model sd15 --device cpu --dtype bf16 --batch 1 2 \\
        --sets official --steps 1 --warmup 0 --size 256        # full size on CPU: memory per sample, projected
                                                                 # to a GPU at --project-batch 8 (fits --fits-gib?)
Random weights (norms at 1, biases 0): speed and memory do not depend on the values. Peak memory: CUDA
max_memory_allocated on a GPU; on the CPU the process's peak RSS (includes Python, libraries and the model).
Prints one JSON line per (set, batch); results go to bench/RESULTS.md by hand.
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TINY = ROOT / "tests" / "fixtures" / "parity" / "train_crossattn"
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def peak_memory_mb(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def model_config(kind: str):
    from disco_core import DiscoConfig
    return DiscoConfig.sd_image_variations() if kind == "sd15" else DiscoConfig.from_file(TINY / "configs.json")


def random_model(kind: str, device: str, dtype: torch.dtype):
    """Full-size (or tiny) model with random weights, made directly in `dtype` (no fp32 copy on the way)."""
    from disco_core.model.networks import DiscoModel
    with torch.device("meta"):
        model = DiscoModel(model_config(kind))
    model.to(dtype=dtype)
    model.clip_image_encoder.to(dtype=torch.float32)
    model.to_empty(device=device)
    g = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.zero_()
            elif "norm" in name and p.ndim == 1:
                p.fill_(1.0)
            else:
                p.normal_(0, 0.02, generator=g)
        for module in model.modules():  # non-persistent buffers (CLIP position_ids)
            for bname, buf in module.named_buffers(recurse=False):
                if bname == "position_ids":
                    buf.copy_(torch.arange(buf.shape[-1], device=device).expand(buf.shape))
    model.base_path = None
    return model.eval().requires_grad_(False)


def person(n: int = 8, size: int = 320):
    from disco_core.training.data import PersonFrames
    g = torch.Generator().manual_seed(0)
    frames = torch.rand(n, 3, size, size * 3 // 4, generator=g)
    masks = torch.zeros(n, 1, size, size * 3 // 4)
    masks[..., size // 8:-size // 8, size // 6:-size // 6] = 1
    return PersonFrames(frames, masks, torch.rand(n, 3, size, size * 3 // 4, generator=g))


def measure(args, trainable: str, batch: int) -> dict:
    from disco_core.training.trainable import count, official_trainable_names
    from disco_core.training.trainer import FineTuneSettings, FineTuner
    dtype = DTYPES[args.dtype]
    model = random_model(args.model, args.device, dtype)
    tensors, elements = (count(model, official_trainable_names(model, trainable)) if trainable != "lora"
                         else (None, None))
    settings = FineTuneSettings(steps=args.warmup + args.steps, trainable=trainable, rank=args.rank,
                                batch_size=batch, height=args.size, width=args.size,
                                gradient_checkpointing=not args.no_checkpointing)
    tuner = FineTuner(model, person(), settings, device=args.device)
    if trainable == "lora":
        tensors, elements = len(tuner.params), sum(p.numel() for p in tuner.params.values())
    times = []

    def on_step(report):
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter())

    start = time.perf_counter()
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    tuner.run(on_step=on_step)
    timed = times[args.warmup:] if args.warmup else times
    first = times[args.warmup - 1] if args.warmup else start
    seconds = timed[-1] - first
    return {"model": args.model, "device": args.device, "dtype": args.dtype, "trainable": trainable,
            "batch": batch, "size": args.size, "checkpointing": not args.no_checkpointing,
            "trained_tensors": tensors, "trained_elements": elements, "steps_timed": len(timed),
            "steps_per_s": round(len(timed) / seconds, 4), "samples_per_s": round(batch * len(timed) / seconds, 3),
            "peak_memory_mb": round(peak_memory_mb(args.device)), "torch": torch.__version__,
            "cpu_threads": torch.get_num_threads(), "machine": platform.machine()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=("tiny", "sd15"), default="tiny")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--dtype", choices=sorted(DTYPES), default="fp32")
    p.add_argument("--sets", nargs="+", default=["official", "crossattn-kv", "lora"])
    p.add_argument("--batch", type=int, nargs="+", default=[2])
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--steps", type=int, default=10, help="timed steps")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    p.add_argument("--rank", type=int, default=4)
    p.add_argument("--no-checkpointing", action="store_true")
    p.add_argument("--project-batch", type=int, default=8,
                   help="CPU runs at 2+ batch sizes: project GPU memory at this batch and check it fits --fits-gib")
    p.add_argument("--fits-gib", type=float, default=22.35, help="a 24 GB card's usable memory")
    p.add_argument("--one", nargs=2, metavar=("SET", "BATCH"), help=argparse.SUPPRESS)  # child process
    args = p.parse_args()
    if args.one:
        print(json.dumps(measure(args, args.one[0], int(args.one[1]))), flush=True)
        return
    failed = False
    for trainable in args.sets:  # a fresh process each, so peak memory is that run's alone
        rows = []
        for batch in args.batch:
            child = [a for a in sys.argv[1:]]
            done = subprocess.run([sys.executable, __file__, *child, "--one", trainable, str(batch)], check=True,
                                  capture_output=True, text=True)
            line = done.stdout.strip().splitlines()[-1]
            print(line, flush=True)
            rows.append(json.loads(line))
        if args.project_batch and len(rows) >= 2 and not args.device.startswith("cuda"):
            failed |= not project(args, rows)
    if failed:
        sys.exit(1)


# What a GPU holds besides weights, trained state and activations (CUDA context, cuBLAS/cuDNN workspaces): an
# allowance, not a measurement.
GPU_CONTEXT_GIB = 1.0


def project(args, rows: list[dict]) -> bool:
    """GPU memory at --project-batch from CPU runs at two or more batch sizes: the weights in the GPU dtype (CLIP
    in fp32) and 18 bytes per trained value (fp32 master, fp32 gradient, two AdamW moments, the autocast copy
    in fp16), counted; per-sample activations measured as the slope of peak RSS over the batch size (CPU
    autocast in bf16 has the fp16 element size); plus GPU_CONTEXT_GIB. True when it fits --fits-gib."""
    from disco_core.model.networks import DiscoModel
    with torch.device("meta"):
        meta = DiscoModel(model_config(args.model))
    weights = sum(p.numel() * (4 if name.startswith("clip_image_encoder.") else 2)
                  for name, p in meta.named_parameters())
    (b0, m0), (b1, m1) = (rows[0]["batch"], rows[0]["peak_memory_mb"]), (rows[-1]["batch"], rows[-1]["peak_memory_mb"])
    per_sample = max(0.0, (m1 - m0) / (b1 - b0)) * 2**20
    trained = rows[0]["trained_elements"] * 18
    total = weights + trained + args.project_batch * per_sample + GPU_CONTEXT_GIB * 2**30
    fits = total <= args.fits_gib * 2**30
    print(f"{rows[0]['trainable']}: activations {per_sample / 2**20:.0f} MiB per sample (CPU peak RSS {m0} MiB at "
          f"batch {b0}, {m1} MiB at batch {b1}); projected GPU memory at batch {args.project_batch}: weights "
          f"{weights / 2**30:.2f} GiB + trained state {trained / 2**30:.2f} GiB + activations "
          f"{args.project_batch * per_sample / 2**30:.2f} GiB + context {GPU_CONTEXT_GIB:.2f} GiB = "
          f"{total / 2**30:.2f} GiB: {'fits' if fits else 'DOES NOT FIT'} {args.fits_gib} GiB", flush=True)
    return fits


if __name__ == "__main__":
    main()
