"""Benchmark the Temporal Smooth filter on the shared dance clip with synthetic flicker.

python bench/temporal_smooth.py [--strength 0.5] [--flow-scale 1.0] [--seed 0]
Exits 1 when the result is worse than its row in bench/RESULTS.md (the README's figures).
Prints temporal warp error (flow from the clean clip, occlusions masked) and PSNR vs the clean clip,
before and after smoothing, how much smoothing an already clean clip changes it, and frames/s.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CLIP = ROOT.parent / "shared" / "data" / "clips" / "dance_fullbody_350.webp"


def add_flicker(frames: torch.Tensor, seed: int = 0, amount: float = 1.0) -> torch.Tensor:
    """Per-frame random global gain/offset/contrast plus low-frequency colour blotches ([T,H,W,3] 0..1),
    the kind of frame-to-frame instability diffusion video shows."""
    g = torch.Generator().manual_seed(seed)
    T, H, W, _ = frames.shape
    u = lambda *s: torch.rand(*s, generator=g) * 2 - 1  # noqa: E731
    gain = 1 + 0.12 * amount * u(T, 1, 1, 1)
    contrast = 1 + 0.12 * amount * u(T, 1, 1, 1)
    offset = 0.04 * amount * u(T, 1, 1, 3)
    blotch = 0.05 * amount * torch.randn(T, 3, 4, 4, generator=g)
    blotch = F.interpolate(blotch, size=(H, W), mode="bicubic", align_corners=False).permute(0, 2, 3, 1)
    mean = frames.mean(dim=(1, 2, 3), keepdim=True)
    out = ((frames - mean) * contrast + mean) * gain + offset + blotch
    return out.clamp(0, 1)


# bench/RESULTS.md's "Temporal Smooth" rows (the README quotes the first), for the default clip and seed 0:
# (strength, flow_scale, one_way) -> (flicker excess removed, PSNR smoothed vs clean dB, motion damage PSNR dB)
FIGURES = {(0.5, 1.0, False): (0.56, 28.08, 46.00), (0.75, 1.0, False): (0.77, 29.67, 41.78),
           (1.0, 1.0, False): (0.94, 30.47, 38.22), (0.5, 0.5, False): (0.54, 27.98, 45.75),
           (0.5, 1.0, True): (0.53, 27.72, 44.78)}
REMOVED_TOL, PSNR_TOL = 0.015, 0.15  # what tests/core/test_temporal_smooth.py allows around the same figures


def measure(args) -> dict:
    """Smooth the flickered clip and the clean one; the figures of one RESULTS.md row, plus timing."""
    from disco_core.smoothing.temporal_smooth import psnr, reference_flows, temporal_smooth, temporal_warp_error
    from disco_core.media.files import read_frames

    torch.set_num_threads(max(1, torch.get_num_threads()))
    clean = torch.from_numpy(read_frames(args.clip)[0]).float() / 255
    noisy = add_flicker(clean, seed=args.seed)
    flows = reference_flows(clean)  # same flow for every clip, so the errors compare fairly

    t0 = time.perf_counter()
    smooth = temporal_smooth(noisy, args.strength, flow_scale=args.flow_scale, bidirectional=not args.one_way)
    dt = time.perf_counter() - t0

    untouched = temporal_smooth(clean, args.strength, flow_scale=args.flow_scale, bidirectional=not args.one_way)

    e_clean, e_noisy, e_smooth = (temporal_warp_error(c, flows=flows) for c in (clean, noisy, smooth))
    return {"shape": tuple(clean.shape), "errors": (e_clean, e_noisy, e_smooth),
            "removed": (e_noisy - e_smooth) / (e_noisy - e_clean), "psnr_noisy": psnr(noisy, clean),
            "psnr_smooth": psnr(smooth, clean), "damage": psnr(untouched, clean), "seconds": dt}


def goal_misses(args, m: dict) -> list[str]:
    """How the measured row falls short of its RESULTS.md figures (nothing to compare: no misses)."""
    figures = FIGURES.get((args.strength, args.flow_scale, args.one_way))
    if figures is None or args.clip != DEFAULT_CLIP or args.seed != 0:
        print("no recorded figures for these options: nothing to check")
        return []
    removed, psnr_smooth, damage = figures
    misses = []
    if m["removed"] < removed - REMOVED_TOL:
        misses.append(f"flicker excess removed {m['removed']:.1%}, recorded {removed:.0%}")
    if m["psnr_smooth"] < psnr_smooth - PSNR_TOL:
        misses.append(f"PSNR smoothed vs clean {m['psnr_smooth']:.2f} dB, recorded {psnr_smooth:.2f} dB")
    if m["damage"] < damage - PSNR_TOL:
        misses.append(f"motion damage PSNR {m['damage']:.2f} dB, recorded {damage:.2f} dB")
    return misses


def main(argv=None) -> int:
    sys.path.insert(0, str(ROOT))
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clip", type=Path, default=DEFAULT_CLIP)
    p.add_argument("--strength", type=float, default=0.5)
    p.add_argument("--flow-scale", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--one-way", action="store_true", help="forward pass only")
    args = p.parse_args(argv)

    m = measure(args)
    T, H, W, _ = m["shape"]
    e_clean, e_noisy, e_smooth = m["errors"]
    print(f"clip {args.clip.name}: {T} frames {W}x{H}, strength {args.strength}, flow_scale {args.flow_scale}, "
          f"{'forward only' if args.one_way else 'bidirectional'}, threads {torch.get_num_threads()}")
    print(f"warp error (x255): clean {e_clean * 255:.2f}  flicker {e_noisy * 255:.2f}  smoothed {e_smooth * 255:.2f}"
          f"  -> {m['removed']:.0%} of the flicker excess removed")
    print(f"PSNR vs clean (dB): flicker {m['psnr_noisy']:.2f}  smoothed {m['psnr_smooth']:.2f}")
    print(f"PSNR of the smoothed clean clip vs itself (motion damage; higher is better): {m['damage']:.2f}")
    print(f"speed: {T / m['seconds']:.1f} frames/s ({m['seconds']:.2f} s)")
    misses = goal_misses(args, m)
    for miss in misses:
        print(f"below the recorded figures: {miss}")
    if misses:
        return 1
    print("the recorded figures hold")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
