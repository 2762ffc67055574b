"""The cluster path with one GPU worker (issue 15, item 6): the same video with no Ray and with one Ray worker
that owns the GPU, full-size (SD1.5) random weights in fp16, so the Ray overhead is measured where users render.
Prints frames/s of both, the overhead, and the round trip of a Ray call carrying 1 MB on this machine:

    python bench/cluster_gpu.py [--frames 64 --size 256 --steps 20 --frames-per-batch 16 --repeats 2]
    python bench/cluster_gpu.py --model tiny --device cpu --frames 4 --size 64 --steps 2   # smoke run, no GPU

States no goal (one GPU cannot show scaling); the figures go to bench/RESULTS.md with the machine's name.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from cluster import _best, _checkpoint, _inputs  # noqa: E402


def _sd15_checkpoint(folder: Path, variant: str) -> Path:
    from make_random_checkpoint import write

    from disco_core.model.config import DiscoConfig
    return write(folder / f"sd15_{variant}.safetensors", DiscoConfig.sd_image_variations().replace(variant=variant),
                 torch.float16)


def _ray_round_trip(ray, calls: int = 20) -> float:
    """Seconds for one call to an actor carrying 1 MB there and 1 MB back (median of `calls`)."""
    @ray.remote(num_cpus=0)
    class Echo:
        def echo(self, x):
            return x

    actor = Echo.remote()
    payload = bytes(1 << 20)
    ray.get(actor.echo.remote(payload))
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        ray.get(actor.echo.remote(payload))
        times.append(time.perf_counter() - start)
    ray.kill(actor)
    return sorted(times)[len(times) // 2]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=("sd15", "tiny"), default="sd15")
    p.add_argument("--device", default="cuda")
    p.add_argument("--variant", choices=("image", "temporal"), default="image")
    p.add_argument("--frames", type=int, default=64)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--frames-per-batch", type=int, default=16)
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args(argv)
    import ray

    from disco_core import animate, load_model
    from disco_core.cluster import Cluster, ModelSource, animate_chunks_on

    dtype = "fp16" if args.device.startswith("cuda") else "fp32"
    folder = Path(tempfile.mkdtemp(prefix="disco_cluster_gpu_"))
    made = time.perf_counter()
    ckpt = (_sd15_checkpoint(folder, args.variant) if args.model == "sd15" else _checkpoint(args.variant, folder))
    print(f"random {args.model} {args.variant} checkpoint: {ckpt.stat().st_size / 1e9:.2f} GB in "
          f"{time.perf_counter() - made:.0f} s", flush=True)
    reference, mask, poses = _inputs(args.frames)
    opts = dict(height=args.size, width=args.size, num_inference_steps=args.steps,
                frames_per_batch=args.frames_per_batch, seed=1)

    def synced(fn):
        def run():
            fn()
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
        return run

    model = load_model(ckpt, device=args.device, dtype={"fp16": torch.float16, "fp32": torch.float32}[dtype])
    local_run = synced(lambda: animate(model, reference, mask, poses, **opts))
    local_run()  # warm-up
    local = _best(local_run, args.repeats)
    del model
    if args.device.startswith("cuda"):
        torch.cuda.empty_cache()
    print(f"no Ray: {local:.2f} s", flush=True)

    gpus = 1 if args.device.startswith("cuda") else 0
    started_ray = not ray.is_initialized()  # a test's Ray session is reused
    if started_ray:
        ray.init(num_cpus=4, num_gpus=gpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        trip = _ray_round_trip(ray)
        cluster = Cluster("local", workers=1, gpus_per_worker=gpus)
        started = time.perf_counter()
        pool = cluster.pool(ModelSource(str(ckpt), device=args.device, dtype=dtype))
        print(f"worker loaded in {time.perf_counter() - started:.0f} s", flush=True)
        remote_run = lambda: list(animate_chunks_on(pool, reference, mask, poses, **opts))  # noqa: E731
        remote_run()  # warm-up
        remote = _best(remote_run, args.repeats)
        cluster.shutdown()
    finally:
        if started_ray:
            ray.shutdown()

    name = torch.cuda.get_device_name() if gpus else "CPU"
    print(f"{name}, {args.model} {args.variant} model {dtype}, {args.frames} frames at {args.size}^2, "
          f"{args.steps} steps, {args.frames_per_batch} frames per chunk, best of {args.repeats}:")
    print(f"  no Ray:                 {local:7.2f} s  {args.frames / local:7.2f} frames/s")
    print(f"  Ray, 1 worker x {gpus} GPU: {remote:7.2f} s  {args.frames / remote:7.2f} frames/s   "
          f"overhead {(remote / local - 1) * 100:+.1f} %")
    print(f"  Ray call with 1 MB there and back: {trip * 1e3:.1f} ms (median of 20)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
