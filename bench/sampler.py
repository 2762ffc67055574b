"""Sampler speed: frames/s, ms per frame-step, achieved TFLOP/s and fraction of the device peak, peak memory;
each speed-up measured against the official execution order in the same run.

  python bench/sampler.py --model tiny --device cpu                      # CI-size model, every mode, batch 1/8
  python bench/sampler.py --model sd15 --device cpu --batches 1 --steps 2 --modes official,default
  python bench/sampler.py --model sd15 --device cuda --dtypes fp16,bf16 --batches 1,8,32,best --sizes 256,512
  python bench/sampler.py --model sd15 --device cuda --variant temporal --batches 16,32   # 16-frame windows
  python bench/sampler.py --model tiny --variant temporal --sizes 64 --batches 40 --window 16 --overlap 4
                                          # the windowed sampler over a 40-frame video (3 windows, fused per step)

What is timed: the denoising loop (UNet + both ControlNets + scheduler, CFG 1.5, DDIM) on a batch of frames with
random inputs and random weights (speed does not depend on their values), after a warm-up call of the same shape.
Temporal model: its networks on clips of min(batch, 16) frames, or with `--window` the windowed sampler
(disco_core/sampling/windowed.py) over a video of `batch` frames (one background image, as the pipeline runs it);
frames/s and ms per frame-step count the video's frames (overlapping windows compute some frames twice, and
TFLOP/s counts only one evaluation per frame).
`--steps` steps are timed and frames/s is reported for `--report-steps` (50, the official count) steps.
Useful FLOP per frame-step are counted once with torch's FLOP counter in the official order (conditioning
embeddings and cross-attention K/V recomputed every step, both CFG halves); achieved TFLOP/s divides those
useful FLOP by the time, so a mode that skips work shows a higher rate. Device peak: `--peak-tflops`, else a
known dense fp16/bf16 figure for the GPU, else (CPU) a measured fp32 matmul rate.

Modes (see disco_core/sampling/fast): official = recompute per step (the official order; CFG halves batched as the
official code does); conditioning / context_kv / channels_last = official plus that one technique;
default = `Speed()` (what the pack runs); compiled = default + torch.compile of the UNet/ControlNet blocks.
"""
from __future__ import annotations

import argparse
import dataclasses
import platform
import resource
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from disco_core import DiscoConfig, build_model, load_model  # noqa: E402
from disco_core.sampling.fast import COMPILED, OFFICIAL_ORDER, Speed  # noqa: E402
from disco_core.sampling.steps import Conditioning, denoise, make_scheduler  # noqa: E402

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
# Dense (no sparsity) fp16/bf16 tensor-core peaks, TFLOP/s, from the vendors' datasheets (SXM parts).
GPU_PEAKS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "4090": 165.0, "A10": 125.0}
MODES = {
    "official": OFFICIAL_ORDER,
    "conditioning": dataclasses.replace(OFFICIAL_ORDER, cache_conditioning=True),
    "context_kv": dataclasses.replace(OFFICIAL_ORDER, cache_context_kv=True),
    "channels_last": dataclasses.replace(OFFICIAL_ORDER, channels_last=True),
    "default": Speed(),
    "compiled": COMPILED,                                             # + torch.compile, no K/V cache
    "compiled-cudagraphs": dataclasses.replace(COMPILED, compile="reduce-overhead"),
}


def tiny_configs(case: str = "image") -> Path:
    for path in (ROOT / "tests" / "fixtures" / "parity" / case / "configs.json",
                 ROOT.parent / "shared" / "reference" / "parity" / case / "configs.json"):
        if path.is_file():
            return path
    raise SystemExit(f"tiny model configs not found (tests/fixtures/parity/{case} or ../shared/reference)")


def model_config(args) -> DiscoConfig:
    """sd15: full size; tiny: the parity fixtures' model (the temporal fixture's for the temporal variant)."""
    cfg = DiscoConfig.sd_image_variations() if args.model == "sd15" else DiscoConfig.from_file(tiny_configs(
        "temporal" if args.variant == "temporal" else "image"))
    return cfg.replace(variant=args.variant)


def num_tokens(cfg: DiscoConfig) -> int:
    return (cfg.clip_image_size // cfg.image_encoder["patch_size"]) ** 2 + 1


def clip_frames(model, batch: int) -> int:
    """Temporal model: frames per clip (16-frame windows, or the whole batch if smaller)."""
    return min(batch, 16)


def step_flops(cfg: DiscoConfig, size: int, guidance: float) -> float:
    """Useful FLOP of one frame-step in the official order, counted on the meta device (allocates nothing)."""
    from torch.utils.flop_counter import FlopCounterMode
    model = build_model(cfg, device="meta")
    temporal = getattr(model, "is_temporal", False)
    frames = 16 if temporal else 1
    n = (2 if guidance > 1 else 1) * frames
    h = size // cfg.vae_scale_factor
    x = torch.empty(n, model.unet.config.in_channels, h, h, device="meta")
    t = torch.tensor(981, device="meta")
    ehs = torch.empty(n, num_tokens(cfg), cfg.unet["cross_attention_dim"], device="meta")
    pose = torch.empty(n, 3, size, size, device="meta")
    with FlopCounterMode(display=False) as counter, (model.frames(frames) if temporal else _null()):
        model.pose_controlnet(x, t, encoder_hidden_states=ehs, controlnet_cond=pose)
        model.background_controlnet(x, t, encoder_hidden_states=ehs, controlnet_cond=x)
        model.unet(x, t, encoder_hidden_states=ehs)
    return float(counter.get_total_flops()) / frames


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def device_peak_tflops(device: str, dtype: torch.dtype, override: float | None) -> tuple[float, str]:
    if override:
        return override, "given"
    if device.startswith("cuda"):
        name = torch.cuda.get_device_name()
        for key, peak in GPU_PEAKS.items():
            if key in name:
                return (peak if dtype != torch.float32 else peak / 2), f"{name} datasheet"
        return float("nan"), f"{name}: unknown peak (pass --peak-tflops)"
    n = 2048  # CPU: what a large fp32 matmul achieves on this machine (best of 5)
    a, b = torch.randn(n, n), torch.randn(n, n)
    best = float("inf")
    for _ in range(6):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best / 1e12, "measured fp32 matmul, best of 6"


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def peak_memory(device: str) -> str:
    if device.startswith("cuda"):
        return f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB alloc"
    return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB RSS (process)"


def inputs(model, batch: int, size: int, device: str, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    cfg = model.config
    n, c = num_tokens(cfg), model.unet.config.cross_attention_dim
    h = size // cfg.vae_scale_factor
    tokens = torch.randn(1, n, c, generator=g).to(device).expand(batch, -1, -1)
    uncond = torch.randn(1, n, c, generator=g).to(device).expand(batch, -1, -1)
    cond = Conditioning(tokens, uncond, torch.rand(batch, 3, size, size, generator=g).to(device),
                        torch.randn(batch, 4, h, h, generator=g).to(device))
    return torch.randn(batch, 4, h, h, generator=g).to(device), cond


def run(model, args, speed, batch: int, size: int, steps: int):
    if args.window:
        return run_windows(model, args, speed, batch, size, steps)
    latents, cond = inputs(model, batch, size, args.device)
    scheduler = make_scheduler("ddim", model.config.scheduler)
    frames = model.frames(clip_frames(model, batch)) if getattr(model, "is_temporal", False) else _null()
    with frames:
        return denoise(model, latents, cond, scheduler=scheduler, num_inference_steps=steps,
                       guidance_scale=args.cfg, speed=speed)


def run_windows(model, args, speed, num_frames: int, size: int, steps: int):
    """The windowed temporal sampler over a video of `num_frames` frames (padded to one window if shorter)."""
    from disco_core.sampling.windowed import denoise_windows
    from disco_core.sampling.windows import plan_windows
    plan = plan_windows(num_frames, args.window, args.overlap)
    latents, cond = inputs(model, plan.length, size, args.device)
    return denoise_windows(model, latents, plan, tokens=cond.tokens[:1], uncond=cond.uncond[:1],
                           pose_for=lambda frames: cond.pose[frames], background=cond.background[:1],
                           scheduler=make_scheduler("ddim", model.config.scheduler), num_inference_steps=steps,
                           guidance_scale=args.cfg, windows_per_batch=args.windows_per_batch, speed=speed)


def timed(model, args, mode: str, batch: int, size: int) -> tuple[float, str]:
    """Seconds per step of one timed run (after a warm-up call elsewhere), and the peak memory during it."""
    sync(args.device)
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    run(model, args, MODES[mode], batch, size, args.steps)
    sync(args.device)
    return (time.perf_counter() - start) / args.steps, peak_memory(args.device)


def measure_batch(model, args, modes: list[str], batch: int, size: int) -> dict[str, tuple[float, str]]:
    """Every mode at one batch size, interleaved (mode A, B, ..., A, B, ...) so that load on the machine that
    changes over time hits all modes alike; the fastest of `--repeats` runs is kept."""
    for mode in modes:  # warm-up (and compilation)
        run(model, args, MODES[mode], batch, size, 2 if MODES[mode].compile else 1)
    best = {mode: (float("inf"), "") for mode in modes}
    for _ in range(args.repeats):
        for mode in modes:
            step_s, mem = timed(model, args, mode, batch, size)
            if step_s < best[mode][0]:
                best[mode] = (step_s, mem)
    return best


def find_best_batch(model, args, mode: str, start: int, size: int) -> list[int]:
    """Double the batch from `start` while `mode`'s frames/s improves by > 2 % and memory lasts."""
    tried, b = {}, start
    while True:
        try:
            run(model, args, MODES[mode], b, size, 1)
            tried[b] = b / timed(model, args, mode, b, size)[0]
        except torch.OutOfMemoryError:
            torch.cuda.empty_cache()
            break
        if len(tried) > 1 and tried[b] <= max(v for k, v in tried.items() if k < b) * 1.02:
            break
        b *= 2
    return [max(tried, key=tried.get)] if tried else []


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=("tiny", "sd15"), default="tiny")
    p.add_argument("--variant", choices=("image", "temporal"), default="image")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--dtypes", default="fp32", help="comma list of fp32/fp16/bf16")
    p.add_argument("--sizes", default="256", help="comma list of square output sizes")
    p.add_argument("--batches", default="1,8", help="comma list; 'best' doubles from the largest until "
                                                     "frames/s stops improving or memory runs out")
    p.add_argument("--window", type=int, default=0,
                   help="temporal variant: time the windowed sampler over `batch` frames in windows of this many "
                        "frames (0: the networks alone on one clip)")
    p.add_argument("--overlap", type=int, default=4, help="with --window: frames shared by neighbouring windows")
    p.add_argument("--windows-per-batch", type=int, default=1, help="with --window: windows per model call")
    p.add_argument("--modes", default="official,conditioning,context_kv,channels_last,default")
    p.add_argument("--steps", type=int, default=3, help="timed steps (per-step time is constant for DDIM)")
    p.add_argument("--report-steps", type=int, default=50)
    p.add_argument("--repeats", type=int, default=1, help="timed runs per measurement; the fastest is kept")
    p.add_argument("--cfg", type=float, default=1.5)
    p.add_argument("--peak-tflops", type=float, default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="load these weights (e.g. from bench/make_random_checkpoint.py) instead of random init")
    p.add_argument("--widen-weights", action="store_true",
                   help="with --checkpoint: convert fp16 file weights to the compute dtype at load instead of "
                        "keeping them and widening per layer (keep_file_precision=False)")
    args = p.parse_args()
    if args.window and args.variant != "temporal":
        raise SystemExit("--window times the temporal model's windowed sampler: add --variant temporal")
    if args.threads:
        torch.set_num_threads(args.threads)
    modes = args.modes.split(",")
    for mode in modes:
        if MODES.get(mode) is None:
            raise SystemExit(f"mode {mode!r} is not available; choose from "
                             f"{[m for m, s in MODES.items() if s is not None]}")
    cfg = model_config(args)
    device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else \
        f"{platform.processor() or 'cpu'}, {torch.get_num_threads()} threads"
    source = f"weights {args.checkpoint.name}{' widened at load' if args.widen_weights else ''}" \
        if args.checkpoint else "random init"
    windows = (f", windowed sampler: window {args.window}, overlap {args.overlap}, {args.windows_per_batch} "
               "window(s) per call" if args.window else "")
    print(f"# {args.model} {args.variant} model ({source}), {device_name}, torch {torch.__version__}, DDIM, "
          f"CFG {args.cfg}, {args.steps} timed steps, frames/s at {args.report_steps} steps{windows}")
    print("| size | dtype | mode | batch | frames/s | ms per frame-step | TFLOP/s | % of peak | peak memory "
          "| vs official |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for dtype_name in args.dtypes.split(","):
        dtype = DTYPES[dtype_name]
        if args.checkpoint:
            model = load_model(args.checkpoint, device=args.device, dtype=dtype,
                               keep_file_precision=not args.widen_weights)
            cfg = model.config
        else:
            model = build_model(cfg, device=args.device, dtype=dtype)
        peak, peak_src = device_peak_tflops(args.device, dtype, args.peak_tflops)
        for size in (int(s) for s in args.sizes.split(",")):
            flops = step_flops(cfg, size, args.cfg)
            print(f"<!-- {size}x{size}: {flops / 1e9:.1f} GFLOP per frame-step (official order); peak "
                  f"{peak:.2f} TFLOP/s ({peak_src}) -->")
            batches = [int(b) for b in args.batches.split(",") if b != "best"]
            best_batch = None
            if "best" in args.batches.split(","):
                found = find_best_batch(model, args, modes[-1], max(batches or [1]), size)
                best_batch = found[0] if found else None
                batches = sorted(set(batches + found))
            for b in batches:
                results = measure_batch(model, args, modes, b, size)
                official = results.get("official")
                for mode, (step_s, mem) in results.items():
                    tflops = flops * b / step_s / 1e12
                    ratio = f"{official[0] / step_s:.2f}x" if official else "-"
                    label = f"{b} (best for {modes[-1]})" if b == best_batch else str(b)
                    print(f"| {size} | {dtype_name} | {mode} | {label} | {b / (step_s * args.report_steps):.3f} | "
                          f"{step_s / b * 1000:.1f} | {tflops:.3f} | {100 * tflops / peak:.1f} % | {mem} | "
                          f"{ratio} |", flush=True)
        del model
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
