"""The driving clip as DisCo uses it: which source frames are needed for `start_frame` / `max_frames` /
`target_fps`, poses detected while the video is decoded (at a bounded working size), and the time span of the
generated frames in the source, so the sound can be cut to match."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..errors import InputError
from .detect import detect_pose_stream
from .filtering import resample_fps
from .frames import shrink, uint8_frame
from .keypoints import PoseSequence
from ..media.reader import iter_frames, probe

# px, longest side of the copy poses are detected on: BlazePose looks at 256x256 crops, and OpenPose/DWPose
# resize to their own input size too; a 1080x1920 frame would only cost decode and conversion time.
DETECT_MAX_SIDE = 640


def source_stop(start: int, max_frames: int, src_fps: float, target_fps: float = 0.0) -> int | None:
    """Index after the last source frame needed for `max_frames` output frames from `start` (None: to the end)."""
    if start < 0:
        raise InputError(f"start_frame must be ≥ 0, got {start}")
    if not max_frames:
        return None
    ratio = src_fps / target_fps if target_fps else 1.0
    return start + int(math.ceil(max_frames * ratio)) + 1


def trim(seq: PoseSequence, src_fps: float, target_fps: float, max_frames: int) -> PoseSequence:
    """Poses from the start frame on -> output poses: resampled to `target_fps` (0 keeps every frame), then at
    most `max_frames` (0 = all). The result's fps is the output frame rate."""
    if target_fps:
        seq, _ = resample_fps(seq, src_fps, target_fps)
    seq = seq[:max_frames or None]
    seq.fps = float(target_fps or src_fps)
    return seq


def span(start_frame: int, src_fps: float, frames: int, out_fps: float) -> tuple[float, float]:
    """(start, duration) in seconds of `frames` output frames at `out_fps` that begin at source frame
    `start_frame`: the part of the driving video's sound that belongs with them."""
    return start_frame / float(src_fps), frames / float(out_fps)


def detect_video(source, backend: str = "builtin", models_dir=None, start: int = 0, stop: int | None = None,
                 max_side: int = DETECT_MAX_SIDE, progress=None) -> PoseSequence:
    """Poses of source frames start..stop-1 of a video (path or file object), read one frame at a time;
    keypoints are in pixels of the full-size frames and fps is the video's."""
    info = probe(source)
    if info.frame_count is not None and start >= info.frame_count:
        raise InputError(f"start_frame {start} is past the end of the driving video ({info.frame_count} frames "
                         f"at {info.fps:g} fps); use a smaller start_frame.")
    end = stop if info.frame_count is None else min(stop or info.frame_count, info.frame_count)
    total = None if end is None else end - start
    try:
        seq = detect_pose_stream(iter_frames(source, max_side, start, stop), (info.width, info.height), backend,
                                 models_dir, info.fps, progress, total)
    except InputError as e:
        if "no frames" in str(e) and start == 0:
            name = f" {source}" if isinstance(source, (str, Path)) else ""
            raise InputError(f"the driving video{name} has a video stream with 0 frames (an empty or damaged "
                             "file): export or re-encode it again (e.g. ffmpeg -i in.mp4 -c:v libx264 out.mp4)."
                             ) from e
        if "no frames" in str(e):
            raise InputError(f"the driving video has no frames from start_frame {start} on; use a smaller "
                             "start_frame.") from e
        raise
    return seq


def detect_frames(frames, backend: str = "builtin", models_dir=None, fps: float | None = None,
                  max_side: int = DETECT_MAX_SIDE, progress=None) -> PoseSequence:
    """Poses of in-memory frames (uint8 or float 0..1, [T,H,W,3], numpy or torch), one frame at a time, each
    converted and scaled to the working size on its own (no full-size copy of the clip)."""
    if len(frames) == 0:
        raise InputError("no frames to detect poses in")
    h, w = int(frames.shape[1]), int(frames.shape[2])

    def working():
        for f in frames:
            yield shrink(uint8_frame(f), max_side)
    return detect_pose_stream(working(), (w, h), backend, models_dir, fps, progress, total=len(frames))

