"""Memory grows with the output, not with the driving video: the dance_basic path (bench/pipeline.py: streamed
1080x1920 video with sound -> Pose Sequence -> Sampler (tiny model, 1 step, 256x256) -> Temporal Smooth -> encode
with the song) on 162 and on 72 frames, each in a fresh process so the peaks do not mix. Both sizes are past the
64-frame cap of the pose preview IMAGE, so its (bounded) size is the same in both; glibc is held to two malloc
arenas in the children, because per-thread arenas (mediapipe, PyAV and torch threads) otherwise move the peak by
~150 MiB from one run to the next (seen failing CI at 30 vs 120 frames with nothing leaking).

The 90 extra frames may add what the workflow keeps of them at output size (the sampler's frames and the smoothed
frames: 2 x 90 x 0.75 MiB) plus 256 MiB of slack: with nothing leaking the difference measured 80-115 MiB over
those 135 MiB on a quiet machine but crossed +64 MiB once on a loaded one, so the test resolves leaks of about
3 MB per frame or more; what it guards against is the per-frame cost of full-size frames (5.9 MB per 1080x1920
uint8 frame, ~105 MB per frame before streaming). Before streaming, each 1080x1920 frame cost ~105 MB
(decoded float frame, float skeleton, float preview): 90 frames were ~9 GB. Mutations seen failing: keeping every
decoded 1080x1920 frame (uint8) in the reader (+1319 MiB at 72 vs 162: the bench reads the clip twice); a full-size float preview per frame."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.paths import SHARED_DATA_REASON

ROOT = Path(__file__).resolve().parents[2]
MiB = 2 ** 20
SLACK_MIB = 256
SHORT, LONG = 72, 162  # frames at 30 fps; both above the pose preview's 64-frame cap


def _bench():
    spec = importlib.util.spec_from_file_location("bench_pipeline", ROOT / "bench" / "pipeline.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(frames: int, work: Path) -> dict:
    cmd = [sys.executable, str(ROOT / "bench" / "pipeline.py"), "--child", "--frames", str(frames), "--size",
           "1080", "1920", "--out-size", "256", "--steps", "1", "--work", str(work)]
    env = {**os.environ, "MALLOC_ARENA_MAX": "2"}
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=900, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_rss_grows_with_output_frames_not_with_the_1080p_source(tmp_path):
    pytest.importorskip("mediapipe", reason="the dance_basic path detects poses with mediapipe (the pose extra)")
    bench = _bench()
    assert bench.parity_dir() is not None, "the tiny model fixture tests/fixtures/parity/image is missing"
    if not bench.REAL_FRAMES.is_dir():  # Pose Sequence refuses a clip without a person (no synthetic dancer)
        pytest.skip(SHARED_DATA_REASON)
    short, long = _run(SHORT, tmp_path), _run(LONG, tmp_path)
    assert (short["frames"], long["frames"]) == (SHORT, LONG)
    assert abs(long["audio_seconds"] - LONG / 30) < 1 / 30  # the song went through with the frames
    extra_output = 2 * (long["output_frames_mib"] - short["output_frames_mib"])
    growth = long["peak_growth_mib"] - short["peak_growth_mib"]
    assert growth <= extra_output + SLACK_MIB, (growth, extra_output, short, long)
