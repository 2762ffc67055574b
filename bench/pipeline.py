"""The whole dance_basic path on a long 1080x1920 30 fps clip with a song, stage by stage: peak RSS growth and
seconds per frame for decoding, pose detection, skeleton rendering, sampling, smoothing and encoding.

  python bench/pipeline.py --seconds 5 20 60                # the bench in bench/RESULTS.md (run it under
                                                            #   flock /work/wt/.heavy.lock on shared machines)
  python bench/pipeline.py --frames 120 --json               # one run, machine-readable (the CI memory test)

The clip is generated (tests/media.py: real 1080x1920 frames of ../shared/data/sequences/001 played back and
forth when present, else synthetic frames; a 440 Hz tone with rising loudness as its song). The nodes run as
ComfyUI runs them (Load Video's VIDEO -> Pose Sequence -> Disentangle Image -> DisCo Sampler -> Temporal Smooth),
with the parity fixture's tiny model converted to a checkpoint, 1 step; the result is encoded with its sound
(disco_core.media.VideoWriter: PyAV, H.264 + AAC, what Create Video -> Save Video does). Each size runs in its
own process, so one size's peak does not hide the next one's.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(ROOT))
PACK = "disco_bench_pack"
PARITY_DIRS = [ROOT / "tests" / "fixtures" / "parity" / "image", SHARED / "reference" / "parity" / "image"]
REAL_FRAMES = SHARED / "data" / "sequences" / "001" / "frames"
PHOTO = SHARED / "data" / "disco_demo" / "images" / "00035.png"
PHOTO_MASK = SHARED / "data" / "disco_demo" / "masks" / "00035.png"
MiB = 2 ** 20
# growth allowed over two copies of the output frames (measured 205-412 MiB at 5-60 s: bench/RESULTS.md)
FOLLOW_SLACK_MIB = 512


def parity_dir() -> Path | None:
    return next((d for d in PARITY_DIRS if (d / "weights.safetensors").is_file()), None)


def rss() -> int:
    """Current resident set size, bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak() -> int:
    """Peak resident set size of this process so far, bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def make_clip(path: Path, frames: int, fps: float, size=(1080, 1920)) -> Path:
    """A `frames`-long clip with the test song; real dance frames when the shared data is there."""
    import numpy as np
    from PIL import Image

    from tests.media import write_clip

    real = sorted(REAL_FRAMES.glob("*.png")) if REAL_FRAMES.is_dir() else []
    if real and size == (1080, 1920):
        images = [np.asarray(Image.open(p).convert("RGB")) for p in real]
        cycle = images + images[-2:0:-1]  # back and forth
        return write_clip(path, frames / fps, fps, size, frames=lambda i: cycle[i % len(cycle)])
    return write_clip(path, frames / fps, fps, size)


def load_pack():
    spec = importlib.util.spec_from_file_location(PACK, ROOT / "__init__.py", submodule_search_locations=[str(ROOT)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACK] = module
    spec.loader.exec_module(module)
    return importlib.import_module(f"{PACK}.nodes")


class Video:
    """What Load Video hands on: ComfyUI's VideoFromFile, a path behind get_stream_source()."""

    def __init__(self, path):
        self.path = str(path)

    def get_stream_source(self):
        return self.path


def run(clip: Path, out: Path, out_size: int, steps: int, detector: str, warmup: Path | None) -> dict:
    """One process, one clip: every stage's seconds and the RSS it leaves / peaks at, over the baseline taken
    after the model is loaded and a short warm-up clip has been through every stage."""
    import numpy as np
    import torch

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    nodes = load_pack()
    core = importlib.import_module(f"{PACK}.disco_core")
    pose_frames = importlib.import_module(f"{PACK}.disco_core.media.reader")
    writer_mod = importlib.import_module(f"{PACK}.disco_core.media.writer")
    glue = importlib.import_module(f"{PACK}.nodes.comfy_glue")
    n = {k: v() for k, v in nodes.NODE_CLASS_MAPPINGS.items()}
    models = Path(tempfile.mkdtemp()) / "disco"
    models.mkdir()
    fixture = parity_dir()
    core.convert_checkpoint(fixture / "weights.safetensors", models / "tiny.safetensors",
                            configs=fixture / "configs.json")
    os.environ["DISCO_MODELS_DIR"] = str(models)
    (model,) = n["DisCoModelLoader"].load("tiny.safetensors", "fp32", "auto")
    if PHOTO.is_file():
        from PIL import Image
        photo = torch.from_numpy(np.asarray(Image.open(PHOTO).convert("RGB"), np.float32) / 255)[None]
        mask = torch.from_numpy((np.asarray(Image.open(PHOTO_MASK).convert("L")) > 0).astype(np.float32))[None]
    else:
        g = torch.Generator().manual_seed(0)
        photo, mask = torch.rand(1, 1080, 604, 3, generator=g), torch.zeros(1, 1080, 604)
        mask[:, 200:900, 150:450] = 1
    (reference, *_) = n["DisCoDisentangleImage"].disentangle(photo, mask)
    sample = dict(seed=1, steps=steps, cfg=1.5, scheduler="ddim", width=out_size, height=out_size, fit="crop",
                  frames_per_batch=8)

    def pipeline(path, record):
        t = time.perf_counter()
        for _ in pose_frames.iter_frames(str(path), 640):  # decoding alone, at the detection working size
            pass
        record("decode", t)
        t = time.perf_counter()
        poses, _, fps, audio = n["DisCoPoseSequence"].build(detector, 30.0, 0.0, 0, 0.3, False, video=Video(path),
                                                             reference=reference)
        record("decode+detect", t)
        t = time.perf_counter()
        for s in range(0, len(poses), 8):  # the skeletons the sampler draws, at its size
            poses.frames.model_input(s, min(len(poses), s + 8), out_size, out_size, "crop")
        record("render", t)
        t = time.perf_counter()
        frames, fps = n["DisCoSampler"].sample(model, reference, poses, **sample)
        record("sample(+render)", t)
        t = time.perf_counter()
        (smooth,) = n["DisCoTemporalSmooth"].smooth(frames, 0.5)
        record("smooth", t)
        t = time.perf_counter()
        with writer_mod.VideoWriter(out, fps, glue.audio_from_comfy(audio)) as w:
            for s in range(0, len(smooth), 16):
                w.write(smooth[s:s + 16])
        record("encode", t)
        return len(poses), fps, audio, frames, smooth

    if warmup is not None:  # the first run of each stage allocates what every later run reuses
        pipeline(warmup, lambda name, t: None)
    base_rss, base_peak = rss(), peak()
    stages = {}

    def record(name, t):
        stages[name] = {"seconds": time.perf_counter() - t, "rss_growth_mib": (rss() - base_rss) / MiB,
                        "peak_growth_mib": (max(peak(), base_peak) - base_rss) / MiB}
    count, fps, audio, frames, smooth = pipeline(clip, record)
    out_bytes = frames.numel() * frames.element_size()
    return {"frames": count, "fps": fps, "audio_seconds": audio["waveform"].shape[-1] / audio["sample_rate"],
            "output_frames_mib": out_bytes / MiB, "baseline_rss_mib": base_rss / MiB,
            "peak_growth_mib": (peak() - base_rss) / MiB, "stages": stages}


def child(args) -> None:
    work = Path(args.work)
    clip = work / f"clip_{args.frames}.mp4"
    if not clip.is_file():
        make_clip(clip, args.frames, args.fps, tuple(args.size))
    warm = work / "warmup.mp4"
    if not warm.is_file():
        make_clip(warm, 8, args.fps, tuple(args.size))
    result = run(clip, work / f"out_{args.frames}.mp4", args.out_size, args.steps, args.detector, warm)
    print(json.dumps(result))


def measure(frames: int, args) -> dict:
    """Run one size in a fresh process and return its JSON result."""
    cmd = [sys.executable, __file__, "--child", "--frames", str(frames), "--fps", str(args.fps), "--size",
           *map(str, args.size), "--out-size", str(args.out_size), "--steps", str(args.steps), "--detector",
           args.detector, "--work", str(args.work)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"bench child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(results: list[dict]) -> str:
    names = ["decode", "decode+detect", "render", "sample(+render)", "smooth", "encode"]
    lines = ["| clip | frames | output frames | peak RSS growth | " + " | ".join(f"{k} s/frame" for k in names) + " |",
             "|---|---|---|---|" + "---|" * len(names)]
    for r in results:
        per = [r["stages"][k]["seconds"] / r["frames"] for k in names]
        lines.append(f"| {r['frames'] / r['fps']:.0f} s | {r['frames']} | {r['output_frames_mib']:.0f} MiB | "
                     f"{r['peak_growth_mib']:.0f} MiB | " + " | ".join(f"{v:.4f}" for v in per) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, nargs="*", default=[5, 20, 60])
    p.add_argument("--frames", type=int, help="one run of this many frames instead of --seconds")
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--size", type=int, nargs=2, default=[1080, 1920], metavar=("W", "H"))
    p.add_argument("--out-size", type=int, default=256, help="square output size in pixels")
    p.add_argument("--steps", type=int, default=1)
    p.add_argument("--detector", default="builtin")
    p.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "disco_bench_pipeline"))
    p.add_argument("--json", action="store_true", help="print the raw results as JSON")
    p.add_argument("--goal-ms", type=float, default=50.0, help="per-frame goal of every stage but sampling")
    p.add_argument("--goal-growth-gib", type=float, default=3.0, help="peak RSS growth goal for clips up to 20 s")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if parity_dir() is None:
        sys.exit(f"the tiny model fixture is missing (looked in {', '.join(map(str, PARITY_DIRS))})")
    Path(args.work).mkdir(parents=True, exist_ok=True)
    if args.child:
        return child(args)
    sizes = [args.frames] if args.frames else [int(round(s * args.fps)) for s in args.seconds]
    results = []
    for frames in sizes:
        results.append(measure(frames, args))
        print(json.dumps(results[-1]) if args.json else f"{frames} frames done", file=sys.stdout, flush=True)
    if not args.json:
        print(table(results))
    if not meets_goals(results, args.goal_ms, args.goal_growth_gib):
        sys.exit(1)


def meets_goals(results: list[dict], goal_ms: float, goal_growth_gib: float) -> bool:
    """Issue 7's goals, at every length run: every stage but sampling under `goal_ms` per frame (decode+detect
    counts as one stage: detection cannot run without decoding); peak RSS growth at most `goal_growth_gib` for
    clips up to 20 s; and at any length at most the two copies of the output the workflow keeps (the sampler's
    frames and the smoothed ones) plus FOLLOW_SLACK_MIB: memory follows the output, not the source."""
    ok = True
    for r in results:
        at = f"at {r['frames']} frames ({r['frames'] / r['fps']:.0f} s)"
        for name in ("decode+detect", "render", "smooth", "encode"):
            ms = 1000 * r["stages"][name]["seconds"] / r["frames"]
            if ms > goal_ms:
                print(f"over the goal: {name} {ms:.1f} ms/frame {at} (goal {goal_ms} ms)")
                ok = False
        growth = r["peak_growth_mib"]
        if r["frames"] / r["fps"] <= 20 and growth > goal_growth_gib * 1024:
            print(f"over the goal: peak RSS growth {growth:.0f} MiB {at} (goal {goal_growth_gib} GiB up to 20 s)")
            ok = False
        follows = 2 * r["output_frames_mib"] + FOLLOW_SLACK_MIB
        if growth > follows:
            print(f"over the goal: peak RSS growth {growth:.0f} MiB {at} is more than twice the output frames "
                  f"({r['output_frames_mib']:.0f} MiB) + {FOLLOW_SLACK_MIB} MiB")
            ok = False
    print("goals met" if ok else "goals NOT met (on a loaded machine the seconds are not the code's)")
    return ok


if __name__ == "__main__":
    main()
