"""Video, sound and pictures in and out; nothing here knows about poses or the model.

- `reader`: probe a video and stream its frames at a bounded working size (PyAV); `writer`: encode frames as they
  come (H.264) with an audio track (AAC) into an mp4.
- `files`: whole-file reads and writes of frame stacks (images, folders, short videos).
- `audio`: the driving video's song, trimmed and carried to the output.
- `frame_file`: frame buffers mapped from a file on disk, so a whole song's output frames need not stay in RAM.
- `images`: tensor checks and the fit/crop/pad/resize every input goes through before the model.
"""
from .reader import VideoInfo, iter_frames, probe, working_size
from .writer import VideoWriter

__all__ = ["VideoInfo", "probe", "iter_frames", "working_size", "VideoWriter"]
