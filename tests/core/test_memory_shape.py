"""Memory grows with the output, not with the driving video: the dance_basic path (bench/pipeline.py: streamed
1080x1920 video with sound -> Pose Sequence -> Sampler (tiny model, 1 step, 256x256) -> Temporal Smooth -> encode
with the song) on 120 and on 30 frames, each in a fresh process so the peaks do not mix.

The 90 extra frames may add what the workflow keeps of them at output size (the sampler's frames and the smoothed
frames: 2 x 90 x 0.75 MiB) plus 64 MiB of allocator slack. Before streaming, each 1080x1920 frame cost ~105 MB
(decoded float frame, float skeleton, float preview): 90 frames were ~9 GB. Mutations seen failing: keeping every
decoded 1080x1920 frame (uint8) in Pose Sequence (+530 MiB); a full-size float preview per frame."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MiB = 2 ** 20
SLACK_MIB = 64


def _bench():
    spec = importlib.util.spec_from_file_location("bench_pipeline", ROOT / "bench" / "pipeline.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(frames: int, work: Path) -> dict:
    cmd = [sys.executable, str(ROOT / "bench" / "pipeline.py"), "--child", "--frames", str(frames), "--size",
           "1080", "1920", "--out-size", "256", "--steps", "1", "--work", str(work)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_rss_grows_with_output_frames_not_with_the_1080p_source(tmp_path):
    pytest.importorskip("mediapipe", reason="the dance_basic path detects poses with mediapipe (the pose extra)")
    bench = _bench()
    if bench.parity_dir() is None:
        pytest.skip("the tiny model fixture (parity/image) is not available")
    if not bench.REAL_FRAMES.is_dir():  # Pose Sequence refuses a clip without a person (no synthetic dancer)
        pytest.skip(f"real 1080x1920 dance frames not found at {bench.REAL_FRAMES}")
    short, long = _run(30, tmp_path), _run(120, tmp_path)
    assert (short["frames"], long["frames"]) == (30, 120)
    assert abs(long["audio_seconds"] - 120 / 30) < 1 / 30  # the song went through with the frames
    extra_output = 2 * (long["output_frames_mib"] - short["output_frames_mib"])
    growth = long["peak_growth_mib"] - short["peak_growth_mib"]
    assert growth <= extra_output + SLACK_MIB, (growth, extra_output, short, long)
