"""Encode frames into an mp4 as they are produced (H.264, yuv420p) with an optional AAC sound track, so a long
clip never has to exist in memory. The sound is interleaved with the frames as they are written."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .audio import Audio, to_fraction
from ..errors import InputError

CRF = "18"  # x264 quality: visually near-lossless for generated frames


def _uint8(frames) -> np.ndarray:
    if hasattr(frames, "detach"):
        frames = frames.detach().cpu().numpy()
    arr = np.asarray(frames)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] < 3:
        raise InputError(f"frames must be [T,H,W,3], got {list(arr.shape)}")
    arr = arr[..., :3]
    if arr.dtype != np.uint8:
        arr = (np.clip(arr, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return arr


class VideoWriter:
    """`with VideoWriter(path, fps, audio) as w: w.write(frames)`; frames uint8 0..255 or float 0..1."""

    def __init__(self, path, fps: float, audio: Audio | None = None):
        import av

        self.path = Path(path).expanduser()
        if self.path.suffix.lower() not in (".mp4", ".mov", ".mkv"):
            raise InputError(f"VideoWriter writes .mp4/.mov/.mkv, not '{self.path.suffix}'")
        if not fps or fps <= 0:
            raise InputError(f"fps must be positive, got {fps}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fps = to_fraction(fps)
        self.container = av.open(str(self.path), mode="w", options={"movflags": "+faststart"})
        self.video = None
        self.audio, self.audio_stream, self.audio_done = audio, None, 0
        if audio is not None and audio.samples.shape[1]:
            self.audio_stream = self.container.add_stream("aac", rate=audio.sample_rate)
            self.audio_stream.layout = "stereo" if audio.channels >= 2 else "mono"
        self.frames = 0

    def _open_video(self, h: int, w: int):
        self.video = self.container.add_stream("libx264", rate=self.fps, options={"crf": CRF})
        self.video.width, self.video.height = w + w % 2, h + h % 2  # yuv420p needs even sizes
        self.video.pix_fmt = "yuv420p"

    def write(self, frames) -> None:
        import av

        arr = _uint8(frames)
        if self.video is None:
            self._open_video(arr.shape[1], arr.shape[2])
        for frame in arr:
            if frame.shape[0] % 2 or frame.shape[1] % 2:  # repeat the edge rather than rescale
                frame = np.pad(frame, ((0, frame.shape[0] % 2), (0, frame.shape[1] % 2), (0, 0)), mode="edge")
            for packet in self.video.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                self.container.mux(packet)
            self.frames += 1
        self._write_audio(float(self.frames / self.fps))

    def _write_audio(self, until: float | None) -> None:
        import av

        if self.audio_stream is None:
            return
        total = self.audio.samples.shape[1]
        stop = total if until is None else min(total, int(round(until * self.audio.sample_rate)))
        channels = 2 if self.audio.channels >= 2 else 1
        while self.audio_done < stop:
            b = min(stop, self.audio_done + 4096)
            data = np.ascontiguousarray(self.audio.samples[:channels, self.audio_done:b], dtype=np.float32)
            frame = av.AudioFrame.from_ndarray(data, format="fltp", layout="stereo" if channels == 2 else "mono")
            frame.sample_rate = self.audio.sample_rate
            frame.pts = self.audio_done
            for packet in self.audio_stream.encode(frame):
                self.container.mux(packet)
            self.audio_done = b

    def close(self) -> None:
        if self.container is None:
            return
        try:
            if self.video is None:
                raise InputError(f"no frames were written to {self.path}")
            for packet in self.video.encode():
                self.container.mux(packet)
            self._write_audio(None)
            if self.audio_stream is not None:
                for packet in self.audio_stream.encode():
                    self.container.mux(packet)
        finally:
            self.container.close()
            self.container = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
