"""Read a video frame by frame with PyAV. A source is a path or a binary file object (ComfyUI's VIDEO gives
either from `get_stream_source()`); file objects are rewound before every use, so one source can be read twice."""
from __future__ import annotations

import io
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import InputError


@dataclass(frozen=True)
class VideoInfo:
    """What a video holds: frame size in pixels, frame rate (fps), frame count (None when the container does not
    say) and whether it has an audio track."""
    width: int
    height: int
    fps: float
    frame_count: int | None
    has_audio: bool


def _rewound(source):
    if isinstance(source, (str, Path)):
        path = Path(source).expanduser()
        if not path.is_file():
            raise InputError(f"Video {path} does not exist. Check the path.")
        return str(path)
    if isinstance(source, io.IOBase) or hasattr(source, "seek"):
        source.seek(0)
        return source
    raise InputError(f"Cannot read a video from {type(source).__name__}; give a file path or a binary file object.")


def open_video(source):
    """av container of `source`, with an actionable error when it is not a video."""
    import av

    src = _rewound(source)
    named = source if isinstance(source, (str, Path)) else getattr(source, "name", None)
    name = f"The video {named}" if named else "The video"
    try:
        container = av.open(src, mode="r")
    except Exception as e:  # av raises many error types for broken or foreign files
        if _size(src) == 0:
            raise InputError(f"{name} is empty (0 bytes): the upload or copy did not finish. Load the video file "
                             "again.") from e
        raise InputError(f"{name} cannot be opened as a video ({e}). Use an mp4/mov/webm/mkv file.") from e
    if not container.streams.video:
        found = _streams(container)
        container.close()
        raise InputError(f"{name} has no video stream (only {found}). Connect a video with pictures (e.g. Load "
                         "Video with an mp4).")
    return container


def _size(src) -> int | None:
    """Bytes in a path or seekable file object (None if it cannot be told)."""
    try:
        if isinstance(src, str):
            return Path(src).stat().st_size
        here = src.seek(0, io.SEEK_END)
        src.seek(0)
        return here
    except (OSError, AttributeError, ValueError):
        return None


def _streams(container) -> str:
    kinds = [s.type for s in container.streams]
    return ", ".join(kinds) + " streams" if kinds else "no streams"


def stream_fps(stream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not rate:
        raise InputError("The video does not say its frame rate. Re-encode it (e.g. ffmpeg -i in.webm -r 30 "
                         "out.mp4) or give the frames as an IMAGE batch with fps.")
    return float(Fraction(rate))


def probe(source) -> VideoInfo:
    with open_video(source) as container:
        stream = container.streams.video[0]
        count = int(stream.frames) or None
        return VideoInfo(int(stream.codec_context.width), int(stream.codec_context.height), stream_fps(stream),
                         count, bool(container.streams.audio))


def working_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """(w, h) scaled down so the longer side is at most `max_side` (never scaled up); None keeps the size."""
    if not max_side or max(width, height) <= max_side:
        return width, height
    s = max_side / max(width, height)
    return max(1, round(width * s)), max(1, round(height * s))


def iter_frames(source, max_side: int | None = None, start: int = 0, stop: int | None = None
                ) -> Iterator[np.ndarray]:
    """uint8 H×W×3 RGB frames `start` ≤ index < `stop` in display order, each scaled (area filter) so its
    longer side is at most `max_side`. Only one decoded frame is alive at a time."""
    if start < 0 or (stop is not None and stop < start):
        raise InputError(f"frame range {start}..{stop} is invalid; start must be ≥ 0 and stop ≥ start.")
    with open_video(source) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # frame/slice threads: decoding is the slowest part of reading
        size = None
        for index, frame in enumerate(container.decode(stream)):
            if stop is not None and index >= stop:
                break
            if index < start:
                continue
            if size is None:
                size = working_size(frame.width, frame.height, max_side)
            w, h = size
            if (w, h) == (frame.width, frame.height):
                yield frame.to_ndarray(format="rgb24")
            else:
                yield frame.to_ndarray(format="rgb24", width=w, height=h, interpolation="AREA")


def frames_for_duration(seconds: float, fps: float) -> int:
    return int(math.floor(seconds * fps + 1e-6))
