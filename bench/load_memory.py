"""Resident memory of loading a checkpoint and of sampling a few frames on the CPU (Linux RSS).

  python bench/make_random_checkpoint.py /tmp/disco_sd15_random.safetensors      # once, ~4.6 GB
  flock /work/wt/.heavy.lock python bench/load_memory.py /tmp/disco_sd15_random.safetensors --frames 2 --steps 2
  python bench/load_memory.py CKPT --code DIR   # the same, with the disco_core of another checkout (before/after)

Prints RSS after the imports, after loading (and how much of it the weights are), whether any mapping of the file
is left, and the process's peak RSS after loading and after sampling `--frames` frames (CFG 1.5, 256x256).
"""
from __future__ import annotations

import argparse
import gc
import resource
import sys
import time
from pathlib import Path

GB = 1e9


def rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--code", type=Path, default=Path(__file__).resolve().parents[1],
                   help="checkout whose disco_core is measured (default: this one)")
    p.add_argument("--frames", type=int, default=0, help="frames to sample after loading (0: load only)")
    p.add_argument("--frames-per-batch", type=int, default=2)
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--max-growth", type=float, default=1.05,
                   help="exit non-zero if loading grows RSS by more than this times the weights' bytes, or leaves "
                        "a mapping of the file")
    p.add_argument("--max-peak-gb", type=float, default=None,
                   help="exit non-zero if the process's peak RSS after sampling exceeds this (GB, 1e9 bytes)")
    args = p.parse_args()
    sys.path.insert(0, str(args.code.resolve()))
    import torch
    from disco_core import animate, load_model
    torch.manual_seed(0)
    base = rss()
    start = time.perf_counter()
    model = load_model(args.checkpoint)
    load_s = time.perf_counter() - start
    gc.collect()
    weights = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    after = rss()
    mapped = sum(str(args.checkpoint.resolve()) in line for line in Path("/proc/self/maps").read_text().splitlines())
    print(f"code={args.code} checkpoint={args.checkpoint.name} ({args.checkpoint.stat().st_size / GB:.2f} GB), "
          f"{torch.get_num_threads()} threads")
    print(f"load: {load_s:.1f} s; weights {weights / GB:.2f} GB; RSS after imports {base / GB:.2f} GB, after load "
          f"{after / GB:.2f} GB (+{(after - base) / GB:.2f} GB = {(after - base) / weights:.3f} x weights); "
          f"peak so far {peak() / GB:.2f} GB; file mappings left: {mapped}")
    if (after - base) / weights > args.max_growth or mapped:
        raise SystemExit(f"loading grew RSS by {(after - base) / weights:.3f} x the weights (limit "
                         f"{args.max_growth}) or left {mapped} file mappings")
    if args.frames:
        reference, mask = torch.rand(1, 3, 512, 384), torch.zeros(1, 1, 512, 384)
        mask[..., 100:450, 100:300] = 1
        poses = torch.rand(args.frames, 3, 512, 384)
        phases = []

        def after(name):
            def hook(*_):
                phases.append(f"{name} {peak() / GB:.2f}")
            return hook
        for name, module in (("clip", model.clip_image_encoder), ("vae-encode", model.vae.encoder),
                             ("vae-decode", model.vae.decoder)):
            module.register_forward_hook(after(name))
        start = time.perf_counter()
        animate(model, reference, mask, poses, on_step=lambda info: phases.append(f"step{info.step} {peak() / GB:.2f}"), height=args.size, width=args.size, num_inference_steps=args.steps,
                guidance_scale=1.5, frames_per_batch=args.frames_per_batch)
        seconds = time.perf_counter() - start
        print(f"sample: {args.frames} frames x {args.steps} steps at {args.size}^2, CFG 1.5, batch "
              f"{args.frames_per_batch}: {seconds:.1f} s ({seconds / (args.frames * args.steps):.2f} s per "
              f"frame-step incl. encode/decode); RSS now {rss() / GB:.2f} GB; peak RSS {peak() / GB:.2f} GB "
              f"({peak() / 2**30:.2f} GiB)")
        print("peak RSS (GB) after each phase: " + ", ".join(phases))
        if args.max_peak_gb is not None and peak() / GB > args.max_peak_gb:
            raise SystemExit(f"peak RSS {peak() / GB:.2f} GB exceeds --max-peak-gb {args.max_peak_gb}")


if __name__ == "__main__":
    main()
