"""A song's length does not grow the memory the kernel cannot drop: DisCo Sampler + Temporal Smooth on N and 4N
frames (tiny model, 1 step, 256x256, as ComfyUI calls them, previews included), each in a fresh process, and the
anonymous + shared memory (RssAnon + RssShmem in /proc/self/status) still held with both outputs alive.

In memory, every extra frame costs two frames (the sampler's and the smoothed one: 2 x 0.75 MiB); in files
(disco_core/media/frame_file.py) their pages are page cache the kernel can write back. The test allows less than one
frame per extra frame: half of one (a regression that keeps one of the two outputs in memory adds a whole one,
and the noise is absolute, so a larger N separates the two further). glibc is held to two malloc arenas, as in test_memory_shape.py (per-thread arenas move
the figures by tens of MiB from run to run). Measured with N = 32 (loaded machine): -38.9, +12.7 and +40.3 MiB
for the 96 extra frames (then limit 72 MiB, one frame each), and once over it while two other test runs shared the 2
cores; with buffer_dir not passed by the sampler node +114.5 MiB. At N = 64: +57.0 MiB for 192 frames, the
mutation +152.2 MiB (one frame each would be 144 MiB: too close), hence N = 96 and half a frame.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
N = 96  # 288 extra frames: the tens of MiB of noise seen under load stay well apart from the limit
SIZE = 256
FRAME_MIB = SIZE * SIZE * 3 * 4 / 2 ** 20


def anon_shmem_mib() -> float:
    with open("/proc/self/status") as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    return sum(int(fields[k].split()[0]) for k in ("RssAnon", "RssShmem")) / 1024


def child(frames: int, models: str, temp: str) -> dict:
    import gc

    sys.path.insert(0, str(ROOT))
    from tests.nodes.conftest import load_pack
    from tests.synthetic_inputs import dance_json, person_photo

    pack = load_pack()
    glue = sys.modules[pack.__name__ + ".comfy_glue"]
    glue.temp_folder = lambda: temp
    os.environ["DISCO_MODELS_DIR"] = models
    nodes = {k: v() for k, v in pack.NODE_CLASS_MAPPINGS.items()}
    model = nodes["DisCoModelLoader"].load("tiny.safetensors", "fp32", "auto")[0]
    reference = nodes["DisCoDisentangleImage"].disentangle(*person_photo())[0]
    pose = dict(detector="builtin", fps=30.0, target_fps=0.0, max_frames=0, smoothing=0.0, retarget=False,
                canvas_width=160, canvas_height=240)
    sample = dict(seed=1, steps=1, cfg=1.5, scheduler="ddim", width=SIZE, height=SIZE, fit="crop",
                  frames_per_batch=8)

    def run(count):
        poses = nodes["DisCoPoseSequence"].build(**pose, pose_json=dance_json(count, (160, 240)))[0]
        out = nodes["DisCoSampler"].sample_with_preview(model=model, reference=reference, poses=poses, **sample)
        frames = out["result"][0]
        return frames, nodes["DisCoTemporalSmooth"].smooth(frames, 0.5)[0]

    run(8)  # warm-up: every stage allocates once what later runs reuse
    gc.collect()
    base = anon_shmem_mib()
    frames, smooth = run(frames)
    gc.collect()
    return {"frames": len(frames), "growth_mib": anon_shmem_mib() - base, "smooth_frames": len(smooth)}


def _run(frames: int, models: Path, temp: Path) -> dict:
    env = {**os.environ, "MALLOC_ARENA_MAX": "2", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, __file__, str(frames), str(models), str(temp)], capture_output=True,
                          text=True, cwd=ROOT, timeout=1800, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_anonymous_memory_does_not_follow_the_number_of_frames(models_dir, tmp_path):
    short, long = _run(N, models_dir, tmp_path / "a"), _run(4 * N, models_dir, tmp_path / "b")
    assert (short["frames"], long["frames"], long["smooth_frames"]) == (N, 4 * N, 4 * N)
    extra = 3 * N
    growth = long["growth_mib"] - short["growth_mib"]
    print(f"RssAnon+RssShmem growth: {short['growth_mib']:.1f} MiB at {N} frames, {long['growth_mib']:.1f} MiB at "
          f"{4 * N}; {growth:.1f} MiB for {extra} extra frames (limit {extra * FRAME_MIB / 2:.1f} MiB)")
    assert growth < extra * FRAME_MIB / 2, (growth, extra * FRAME_MIB / 2, short, long)
    assert not list((tmp_path / "b").rglob("frames_*"))  # the child's files went with it


if __name__ == "__main__":
    print(json.dumps(child(int(sys.argv[1]), sys.argv[2], sys.argv[3])))
