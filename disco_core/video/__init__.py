"""Streaming video in and out with PyAV: frames one at a time (never the whole clip), the audio track, muxing.

`reader`: probe a video and iterate its frames at a bounded working size. `writer`: encode frames as they come
(H.264) together with an audio track (AAC) into an mp4.
"""
from .reader import VideoInfo, iter_frames, probe, working_size
from .writer import VideoWriter

__all__ = ["VideoInfo", "probe", "iter_frames", "working_size", "VideoWriter"]
