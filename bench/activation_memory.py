"""Activation memory of one DisCo Sampler chunk, measured on the CPU as peak RSS above the loaded weights.

  python bench/make_random_checkpoint.py /tmp/disco_sd15_random.safetensors      # once, ~4.6 GB
  flock /work/wt/.heavy.lock python bench/activation_memory.py /tmp/disco_sd15_random.safetensors

For each (frames per batch, output size, CFG) it runs one 1-step `animate` chunk (CLIP + background VAE encode,
both ControlNets and the UNet, VAE decode) while a thread samples VmRSS every 2 ms, and prints the peak above
the RSS before the call (freed heap is handed back with malloc_trim first, so earlier runs do not hide it), next
to `disco_core.sampling.memory.activation_bytes`; it exits 1 if the estimate is below a peak or above twice it. A
least-squares fit of the peaks to that function's form (fixed part, per latent pixel of the CFG-doubled denoising
batch, per latent pixel of decoded frames) checks or replaces the coefficients it counts from the architecture.
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.load_memory import rss  # noqa: E402
CASES = [(1, 128, 1.0), (1, 128, 1.5), (2, 128, 1.5), (1, 192, 1.5), (4, 128, 1.5), (2, 192, 1.0), (2, 192, 1.5),
         (4, 192, 1.5)]


def release_freed_memory() -> None:
    """Hand freed heap pages back to the OS, so RSS before a run is weights + interpreter only."""
    import ctypes
    import gc

    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)


def peak_during(fn) -> int:
    release_freed_memory()
    base, top, stop = rss(), [0], threading.Event()

    def watch():
        while not stop.is_set():
            top[0] = max(top[0], rss())
            time.sleep(0.002)
    t = threading.Thread(target=watch)
    t.start()
    try:
        fn()
    finally:
        stop.set()
        t.join()
    return max(top[0], rss()) - base


MAX_OVER = 2.0  # the estimate may ask for at most this many times the measured peak (tests/core/test_memory_estimate.py)


def measure(args) -> list[tuple[int, int, float, int, int]]:
    """(frames, size, cfg, measured peak bytes, estimated bytes) for each of CASES."""
    from disco_core import animate, load_model
    from disco_core.sampling.memory import activation_bytes

    dtype = {"bf16": torch.bfloat16, "fp32": torch.float32}[args.dtype]
    torch.manual_seed(0)
    model = load_model(args.checkpoint, dtype=dtype)
    photo, mask = torch.rand(1, 3, 256, 192), torch.ones(1, 1, 256, 192)
    rows = []
    animate(model, photo, mask, torch.rand(1, 3, 64, 64), height=64, width=64, num_inference_steps=1)  # lazy init
    for batch, size, cfg in CASES:
        poses = torch.rand(batch, 3, size, size)
        measured = peak_during(lambda: animate(model, photo, mask, poses, height=size, width=size,
                                               num_inference_steps=1, guidance_scale=cfg, frames_per_batch=batch))
        est = activation_bytes(batch, size, size, dtype, cfg)
        rows.append((batch, size, cfg, measured, est))
        print(f"frames {batch} size {size} cfg {cfg}: peak above weights {measured / 2**20:8.1f} MiB   "
              f"estimate {est / 2**20:8.1f} MiB", flush=True)
    return rows


def check(rows, dtype) -> int:
    """0 when the estimate covers every measured peak and asks for at most MAX_OVER times it, else 1."""
    from disco_core.sampling.memory import fit_terms

    terms = np.array([fit_terms(b, s, s, dtype, c) for b, s, c, *_ in rows])
    coef, *_ = np.linalg.lstsq(terms, np.array([m for _, _, _, m, _ in rows], float), rcond=None)
    print("least-squares coefficients (fixed bytes, per denoise latent px-byte, per decoded latent px-byte):",
          [round(float(c), 1) for c in coef])
    under = [r[:3] for r in rows if r[4] < r[3]]
    over = [r[:3] for r in rows if r[4] > MAX_OVER * r[3]]
    if under:  # the estimate is what ComfyUI keeps free: it must cover every measured peak
        print(f"FAIL: activation_bytes is below the measured peak for (frames, size, cfg) {under}")
    if over:  # ... without evicting other models for room that is never used
        print(f"FAIL: activation_bytes is above {MAX_OVER}x the measured peak for (frames, size, cfg) {over}")
    if under or over:
        return 1
    print(f"activation_bytes covers every measured peak, within {MAX_OVER}x")
    return 0


def main(argv=None) -> int:
    sys.path.insert(0, str(ROOT))
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--dtype", default="bf16", choices=["bf16", "fp32"])
    args = p.parse_args(argv)
    return check(measure(args), {"bf16": torch.bfloat16, "fp32": torch.float32}[args.dtype])


if __name__ == "__main__":
    raise SystemExit(main())
