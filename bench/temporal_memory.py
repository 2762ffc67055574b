"""Peak memory of the temporal sampler against video length (frames streamed out, poses made on demand).

  python bench/temporal_memory.py --compare 32 512      # each length in a fresh process, then the ratio
  python bench/temporal_memory.py --frames 512          # one length

Model: the temporal parity fixture's tiny config (random weights), CPU, fp32. Memory is the process's resident
set: `rss_before` after the model is loaded and one window has run (warm-up), `peak` the high-water mark while
the whole video is sampled and decoded chunk by chunk (VmHWM, reset just before). What may grow with length is
only the video's latents (4 x h/8 x w/8 floats per frame, a few copies); the windows run in batches and the
decoded frames leave as they are made; fitted poses are kept between steps up to `--pose-cache-mb` (default
256 MiB) and the ControlNet conditioning embeddings of the batches of windows up to 64 MiB (the sampler's
`embedding_cache_mb`), both bounded whatever the length. Results go to bench/RESULTS.md by hand.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from disco_core import DiscoConfig, build_model  # noqa: E402
from disco_core.sampling.animate_temporal import animate_windows  # noqa: E402
from disco_core.sampling.window_poses import DEFAULT_POSE_CACHE_MB  # noqa: E402

CONFIGS = ROOT / "tests" / "fixtures" / "parity" / "temporal" / "configs.json"


class SyntheticPoses:
    """Pose images made when a window asks for them (a stand-in for poses decoded from a video on demand)."""

    def __init__(self, n: int, size: int = 128):
        self.n, self.size = n, size

    def __len__(self):
        return self.n

    def __getitem__(self, s: slice) -> torch.Tensor:
        idx = torch.arange(s.start, s.stop, dtype=torch.float32)[:, None, None, None]
        y = torch.linspace(0, 1, self.size)[None, None, :, None]
        return ((torch.sin(idx * 0.3 + y * 6) + 1) / 2).expand(-1, 3, self.size, self.size).contiguous()


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])  # KiB
    raise RuntimeError(f"{field} not in /proc/self/status (Linux only)")


def reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS (Linux >= 4.0)


def run(frames: int, args) -> dict:
    torch.set_num_threads(args.threads)
    cfg = DiscoConfig.from_file(CONFIGS).replace(variant="temporal")
    model = build_model(cfg, seed=0)
    reference = torch.rand(1, 3, 160, 120, generator=torch.Generator().manual_seed(0))
    mask = torch.zeros(1, 1, 160, 120)
    mask[..., 20:150, 30:90] = 1
    kwargs = dict(height=args.size, width=args.size, num_inference_steps=args.steps, guidance_scale=1.5,
                  window=args.window, overlap=args.overlap, frames_per_batch=args.frames_per_batch,
                  pose_cache_mb=args.pose_cache_mb)
    for _ in animate_windows(model, reference, mask, SyntheticPoses(args.window), **kwargs):  # warm-up
        pass
    rss_before = _status("VmRSS")
    reset_peak()
    start, count = time.perf_counter(), 0
    for _, chunk in animate_windows(model, reference, mask, SyntheticPoses(frames), **kwargs):
        count += chunk.shape[0]  # a real caller encodes the chunk here; nothing is kept
    seconds = time.perf_counter() - start
    latent_bytes = frames * 4 * (args.size // 8) ** 2 * 4
    return {"frames": count, "rss_before_mib": rss_before / 1024, "peak_mib": _status("VmHWM") / 1024,
            "growth_mib": (_status("VmHWM") - rss_before) / 1024, "latents_mib": latent_bytes / 2**20,
            "seconds": seconds}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=32)
    p.add_argument("--compare", type=int, nargs="+", help="run these lengths, each in a fresh process")
    p.add_argument("--size", type=int, default=64, help="square output size in pixels")
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--window", type=int, default=16)
    p.add_argument("--overlap", type=int, default=4)
    p.add_argument("--frames-per-batch", type=int, default=16)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--pose-cache-mb", type=float, default=DEFAULT_POSE_CACHE_MB,
                   help="fitted poses kept between steps (bounded whatever the length; 0: fitted every step)")
    p.add_argument("--max-ratio", type=float, default=1.10,
                   help="--compare fails (exit 1) if the longest run's peak exceeds the shortest's by more")
    args = p.parse_args()
    if not args.compare:
        print(json.dumps(run(args.frames, args)))
        return
    rows = []
    for n in args.compare:
        cmd = [sys.executable, __file__, "--frames", str(n)] + [
            f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items()
            if k not in ("frames", "compare", "max_ratio")]
        rows.append(json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout))
    print(f"size {args.size}, window {args.window}, overlap {args.overlap}, steps {args.steps}, "
          f"frames_per_batch {args.frames_per_batch}, pose cache {args.pose_cache_mb:g} MiB, {args.threads} thread(s)")
    for r in rows:
        print(f"{r['frames']:5d} frames: peak {r['peak_mib']:.1f} MiB (before {r['rss_before_mib']:.1f}, growth "
              f"{r['growth_mib']:.1f}; latents {r['latents_mib']:.2f}) {r['seconds']:.1f} s")
    ratio = rows[-1]["peak_mib"] / rows[0]["peak_mib"]
    print(f"peak ratio {ratio:.3f} (goal: at most {args.max_ratio})")
    if ratio > args.max_ratio:
        raise SystemExit(f"FAILED: peak memory grows with length ({ratio:.3f} > {args.max_ratio})")


if __name__ == "__main__":
    main()
