"""The driving video's sound: decoded with PyAV, cut to the generated frames' time span, padded with silence
where it runs short, so `duration == frames / fps` to the sample. Samples are float32 [channels, samples] in
-1..1 (ComfyUI's AUDIO waveform is the same with a batch axis in front)."""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..errors import InputError

DEFAULT_RATE = 48000  # Hz, for silence when there is no sound to keep


@dataclass
class Audio:
    samples: np.ndarray  # float32 [channels, samples]
    sample_rate: int

    def __post_init__(self):
        s = np.asarray(self.samples, dtype=np.float32)
        if s.ndim == 1:
            s = s[None]
        if s.ndim != 2 or s.shape[0] < 1:
            raise InputError(f"audio samples must be [channels, samples], got shape {tuple(s.shape)}")
        if int(self.sample_rate) <= 0:
            raise InputError(f"audio sample rate must be positive, got {self.sample_rate}")
        self.samples, self.sample_rate = s, int(self.sample_rate)

    @property
    def channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def duration(self) -> float:
        return self.samples.shape[1] / self.sample_rate


def silence(duration: float, sample_rate: int = DEFAULT_RATE, channels: int = 1) -> Audio:
    return Audio(np.zeros((channels, sample_count(duration, sample_rate)), np.float32), sample_rate)


def sample_count(seconds: float, sample_rate: int) -> int:
    return max(0, int(round(seconds * sample_rate)))


def cut(audio: Audio, start: float, duration: float) -> Audio:
    """Samples from `start` (s) lasting exactly `duration` (s); silence where the sound ends before that."""
    if start < 0 or duration < 0:
        raise InputError(f"audio range must be non-negative, got start {start} s, duration {duration} s")
    a = sample_count(start, audio.sample_rate)
    n = sample_count(duration, audio.sample_rate)
    part = audio.samples[:, a:a + n]
    if part.shape[1] < n:
        part = np.pad(part, ((0, 0), (0, n - part.shape[1])))
    return Audio(np.ascontiguousarray(part), audio.sample_rate)


def frames_duration(frames: int, fps: float) -> float:
    """Seconds that `frames` frames last at `fps`: what the sound of a generated clip must last."""
    return frames / float(fps)


def read_audio(source, start: float = 0.0, duration: float | None = None) -> Audio | None:
    """The first audio track of a video (path or file object) from `start` s for `duration` s (to the end when
    None), timed against the video track's start; None when the file has no audio track. More than two channels
    are mixed down to stereo (what the mp4 writers downstream take)."""
    import av

    from .reader import open_video

    with open_video(source) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        video = container.streams.video[0]
        video_start = float(video.start_time * video.time_base) if video.start_time is not None else 0.0
        channels = min(2, stream.codec_context.channels or 1)
        rate = int(stream.codec_context.sample_rate or stream.rate or DEFAULT_RATE)
        resampler = av.AudioResampler(format="fltp", layout="stereo" if channels == 2 else "mono", rate=rate)
        end = None if duration is None else start + duration
        chunks, first_time, got = [], None, 0
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                if first_time is None:
                    first_time = float(out.pts * out.time_base) if out.pts is not None else video_start
                chunks.append(out.to_ndarray().reshape(channels, -1))
                got += chunks[-1].shape[1]
            if end is not None and first_time is not None and first_time - video_start + got / rate > end + 0.1:
                break  # enough sound decoded for the requested span
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(channels, -1))
    if not chunks:
        return None
    samples = np.concatenate(chunks, axis=1)
    offset = (first_time or video_start) - video_start  # > 0: sound starts after the first frame
    lead = sample_count(abs(offset), rate)
    samples = np.pad(samples, ((0, 0), (lead, 0))) if offset > 0 else samples[:, lead:]
    audio = Audio(samples, rate)
    if duration is None:
        duration = max(0.0, audio.duration - start)
    return cut(audio, start, duration)


def to_fraction(fps: float) -> Fraction:
    """fps as the exact rational a container stores (29.97 -> 30000/1001)."""
    return Fraction(float(fps)).limit_denominator(1001)
