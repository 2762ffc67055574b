"""Test and bench clips made on the spot with PyAV (nothing shared is committed): frames at any size and frame
rate, with a sound track whose loudness rises linearly over time, so where a cut starts can be read back."""
from __future__ import annotations

from pathlib import Path

import numpy as np

RATE = 48000
TONE_HZ = 440.0


def loudness(t, seconds: float) -> np.ndarray:
    """Amplitude of the test tone at time t (s): 0.1 at the start, 0.9 at `seconds`."""
    return 0.1 + 0.8 * np.asarray(t, np.float64) / seconds


def tone(seconds: float, rate: int = RATE, channels: int = 2) -> np.ndarray:
    """float32 [channels, samples]: a 440 Hz sine whose amplitude follows `loudness`."""
    t = np.arange(int(round(seconds * rate))) / rate
    wave = (loudness(t, seconds) * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.float32)
    return np.repeat(wave[None], channels, axis=0)


def moving_frame(i: int, width: int, height: int) -> np.ndarray:
    """A cheap, changing uint8 frame: a bright block sliding over a colour that drifts with i."""
    img = np.empty((height, width, 3), np.uint8)
    img[...] = (i * 7 % 256, 90, 160)
    y = (i * 13) % max(1, height - height // 4)
    img[y:y + height // 4, width // 4:width // 2] = 255
    return img


def write_clip(path, seconds: float, fps: float = 30.0, size=(64, 112), sound: bool = True, frames=None,
               rate: int = RATE) -> Path:
    """An H.264 mp4 of round(seconds * fps) frames at `size` (w, h), with the test tone (AAC) when `sound`.
    `frames(i)`, if given, makes frame i (uint8 H×W×3 at `size`); default: `moving_frame`."""
    import av

    path = Path(path)
    w, h = size
    count = int(round(seconds * fps))
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=int(fps) if float(fps).is_integer() else fps)
        video.width, video.height, video.pix_fmt = w, h, "yuv420p"
        video.options = {"preset": "ultrafast"}
        audio = None
        if sound:
            audio = out.add_stream("aac", rate=rate)
            audio.layout = "stereo"
            samples = tone(seconds, rate)
        done = 0
        for i in range(count):
            img = frames(i) if frames else moving_frame(i, w, h)
            for packet in video.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
            if audio is not None:  # interleave the sound with the frames
                until = min(samples.shape[1], int(round((i + 1) / fps * rate)))
                while done < until:
                    b = min(until, done + 1024)
                    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, done:b]), format="fltp",
                                                       layout="stereo")
                    frame.sample_rate, frame.pts = rate, done
                    for packet in audio.encode(frame):
                        out.mux(packet)
                    done = b
        for packet in video.encode():
            out.mux(packet)
        if audio is not None:
            for packet in audio.encode():
                out.mux(packet)
    return path


def write_sound_only(path, seconds: float, rate: int = RATE, empty_video_stream: bool = False) -> Path:
    """A file holding only the test tone (AAC): a driving 'video' with no pictures. `empty_video_stream` also
    declares an H.264 stream that gets no frame (kept by .mkv; .mp4 drops it)."""
    import av

    path, samples = Path(path), tone(seconds, rate)
    with av.open(str(path), "w") as out:
        if empty_video_stream:
            video = out.add_stream("libx264", rate=12)
            video.width, video.height, video.pix_fmt = 64, 64, "yuv420p"
        audio = out.add_stream("aac", rate=rate)
        audio.layout = "stereo"
        for done in range(0, samples.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, done:done + 1024]), format="fltp",
                                               layout="stereo")
            frame.sample_rate, frame.pts = rate, done
            for packet in audio.encode(frame):
                out.mux(packet)
        for packet in audio.encode():
            out.mux(packet)
    return path


def streams(path) -> dict:
    """{"video": (frames decoded, fps), "audio": (seconds of sound decoded, sample rate) or None}: what a player
    gets out of the file, checked by decoding it (not by trusting its header)."""
    import av

    with av.open(str(path)) as c:
        v = c.streams.video[0]
        fps = float(v.average_rate)
        frames = sum(1 for _ in c.decode(v))
    with av.open(str(path)) as c:
        if not c.streams.audio:
            return {"video": (frames, fps), "audio": None}
        a = c.streams.audio[0]
        rate = a.codec_context.sample_rate
        samples = sum(f.samples for f in c.decode(a))
        header = float(a.duration * a.time_base) if a.duration else None
    return {"video": (frames, fps), "audio": (samples / rate, rate), "audio_header": header}


def rms_at(samples: np.ndarray, rate: int, t: float, window: float = 0.05) -> float:
    """RMS of the first channel over [t, t + window) s."""
    a, b = int(t * rate), int((t + window) * rate)
    return float(np.sqrt(np.mean(np.square(samples[0, a:b].astype(np.float64)))))
