"""Sampler throughput and peak memory: frames/s for a model size, output size, dtype and batch.

  python bench/sampler.py --model tiny --device cpu                        # the parity fixture's tiny model
  python bench/sampler.py --model sd15 --device cuda --dtype fp16 --frames 16 --frames-per-batch 8
Random weights: speed does not depend on their values. Results go to bench/RESULTS.md by hand.
"""
from __future__ import annotations

import argparse
import platform
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from disco_core import DiscoConfig, animate, build_model  # noqa: E402

TINY_CONFIGS = Path(__file__).resolve().parents[2] / "shared" / "reference" / "parity" / "image" / "configs.json"
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def peak_memory_mb(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=("tiny", "sd15"), default="tiny")
    p.add_argument("--configs", default=str(TINY_CONFIGS), help="configs.json of the tiny model")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--dtype", choices=sorted(DTYPES), default="fp32")
    p.add_argument("--size", type=int, default=256, help="square output size in pixels")
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--frames-per-batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--cfg", type=float, default=1.5)
    p.add_argument("--scheduler", default="ddim")
    args = p.parse_args()

    cfg = DiscoConfig.sd_image_variations() if args.model == "sd15" else DiscoConfig.from_file(args.configs)
    model = build_model(cfg, device=args.device, dtype=DTYPES[args.dtype])
    reference = torch.rand(1, 3, 512, 384)
    mask = torch.zeros(1, 1, 512, 384)
    mask[..., 100:450, 100:300] = 1
    poses = torch.rand(args.frames, 3, 512, 384)
    kwargs = dict(height=args.size, width=args.size, num_inference_steps=args.steps, guidance_scale=args.cfg,
                  scheduler=args.scheduler, frames_per_batch=args.frames_per_batch)
    animate(model, reference, mask, poses[: min(args.frames_per_batch, args.frames)], **{**kwargs, "num_inference_steps": 1})  # warm-up
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    frames = animate(model, reference, mask, poses, **kwargs)
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor() or "cpu"
    print(f"model={args.model} device={args.device} ({device_name}, {torch.get_num_threads()} threads) "
          f"dtype={args.dtype} size={args.size} frames={frames.shape[0]} batch={args.frames_per_batch} "
          f"steps={args.steps} cfg={args.cfg} scheduler={args.scheduler}")
    print(f"{frames.shape[0] / seconds:.3f} frames/s  {seconds:.2f} s total  "
          f"{seconds / (frames.shape[0] * args.steps) * 1000:.1f} ms per frame-step  "
          f"peak memory {peak_memory_mb(args.device):.0f} MiB")


if __name__ == "__main__":
    main()
