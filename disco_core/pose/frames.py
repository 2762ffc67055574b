"""Pose frames made when they are needed: the sampler asks for a chunk at its own size, one frame is rendered at
a time, nothing is kept. What a pose sequence stores is small: keypoints (18 joints per frame) and the canvas
size, or for skeletons that arrived already rendered, uint8 frames no larger than `STORED_MAX_SIDE`.

`model_input` gives exactly what rendering every frame at the canvas size, converting to float and then
`preprocess.fit` would give (crop or pad window, then the same resize), without ever holding more than one frame
at the canvas size.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch

from ..errors import InputError
from ..media.images import check_image, fit, fit_window, resize, take_window
from .keypoints import PoseSequence
from .render import render_pose

STORED_MAX_SIDE = 512  # px: already rendered skeletons are kept at most this large (uint8), DisCo works at 256
PREVIEW_MAX_SIDE = 512  # px, longest side of preview frames


def _to_float(frames_uint8: np.ndarray) -> torch.Tensor:
    """uint8 [b,H,W,3] -> float [b,3,H,W] in 0..1, the same arithmetic as converting a uint8 IMAGE."""
    x = torch.from_numpy(np.ascontiguousarray(frames_uint8)).permute(0, 3, 1, 2).contiguous()
    return x.float().div_(255.0)


def shrink(frame: np.ndarray, max_side: int) -> np.ndarray:
    """uint8 H×W×3 scaled (area filter) so its longer side is at most `max_side`; smaller frames unchanged."""
    h, w = frame.shape[:2]
    if max(h, w) <= max_side:
        return frame
    s = max_side / max(h, w)
    return cv2.resize(frame, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


class PoseFrames:
    """A sequence of pose images made on demand. Subclasses give `__len__`, `size` and `frame(t)`."""
    fps: float | None = None

    def __len__(self) -> int:
        raise NotImplementedError

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of a full frame."""
        raise NotImplementedError

    def frame(self, t: int) -> np.ndarray:
        """Frame t as uint8 H×W×3 at `size`."""
        raise NotImplementedError

    def model_input(self, start: int, stop: int, height: int, width: int, mode: str = "crop") -> torch.Tensor:
        """Frames start..stop-1 brought to height×width by `mode` ('crop', 'pad', 'official'), float
        [b,3,height,width] in 0..1. Only the fitted window of one full frame exists at a time."""
        w, h = self.size
        window = fit_window(h, w, height, width, mode)
        out = torch.empty(max(0, stop - start), 3, height, width)
        for i, t in enumerate(range(start, stop)):
            full = self.frame(t)
            top, left, wh, ww = window
            crop = full[max(0, top):top + wh, max(0, left):left + ww]  # the window's part inside the frame
            x = _to_float(crop[None])
            if crop.shape[:2] != (wh, ww):  # pad mode: the rest of the window is black, as fit() pads it
                x = take_window(x, (min(0, top), min(0, left), wh, ww))
            out[i] = resize(x, (height, width), "bilinear")[0]
        return out

    def preview(self, t: int, max_side: int = PREVIEW_MAX_SIDE) -> np.ndarray:
        """Frame t, uint8, at most `max_side` px on its longer side."""
        return shrink(self.frame(t), max_side)

    def __repr__(self) -> str:
        w, h = self.size
        return f"{type(self).__name__}(frames={len(self)}, size={w}x{h}, fps={self.fps})"


class KeypointFrames(PoseFrames):
    """Skeletons drawn from keypoints, DisCo-exact (`render_pose`), one frame at a time."""

    def __init__(self, seq: PoseSequence, neck: str = "disco"):
        self.seq, self.neck, self.fps = seq, neck, seq.fps

    def __len__(self) -> int:
        return len(self.seq)

    @property
    def size(self) -> tuple[int, int]:
        return self.seq.canvas

    def frame(self, t: int) -> np.ndarray:
        return render_pose(self.seq.keypoints[t], self.seq.canvas, self.neck)


class ImageFrames(PoseFrames):
    """Skeleton images that arrived rendered: kept as uint8 [T,H,W,3], each at most `max_side` px long."""

    def __init__(self, frames, fps: float | None = None, max_side: int = STORED_MAX_SIDE):
        kept = [shrink(uint8_frame(f), max_side) for f in frames]
        if not kept:
            raise InputError("no pose images were given; connect a batch of rendered skeletons")
        if len({f.shape for f in kept}) > 1:
            raise InputError("the pose images have different sizes; resize them to one size first")
        self.frames, self.fps = np.stack(kept), fps

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        return int(self.frames.shape[2]), int(self.frames.shape[1])

    def frame(self, t: int) -> np.ndarray:
        return self.frames[t]

    def select(self, index) -> "ImageFrames":
        out = ImageFrames.__new__(ImageFrames)
        out.frames, out.fps = self.frames[index], self.fps
        return out


class TensorFrames(PoseFrames):
    """Float poses [T,3,H,W] in 0..1 already in memory (the core API's input); fitted per chunk."""

    def __init__(self, poses: torch.Tensor, fps: float | None = None):
        self.poses, self.fps = poses, fps

    def __len__(self) -> int:
        return int(self.poses.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        return int(self.poses.shape[-1]), int(self.poses.shape[-2])

    def frame(self, t: int) -> np.ndarray:
        return (self.poses[t].permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()

    def model_input(self, start, stop, height, width, mode="crop"):
        return fit(self.poses[start:stop], height, width, mode)


def uint8_frame(frame) -> np.ndarray:
    """One H×W×C frame (torch or numpy, uint8 or float 0..1; greyscale, RGB or RGBA) as uint8 RGB, rounded as
    ComfyUI converts."""
    if isinstance(frame, torch.Tensor):
        frame = frame.detach().cpu()
        if frame.is_floating_point():
            frame = (frame[..., :3].clamp(0, 1) * 255).round().to(torch.uint8)
        arr = frame[..., :3].numpy()
    else:
        arr = np.asarray(frame)
        if arr.dtype != np.uint8:
            arr = (np.clip(np.nan_to_num(arr[..., :3].astype(np.float32)), 0, 1) * 255).round().astype(np.uint8)
        arr = arr[..., :3]
    return np.repeat(arr, 3, axis=-1) if arr.shape[-1] == 1 else arr


def preview_indices(count: int, max_frames: int) -> list[int]:
    """At most `max_frames` frame indices spread evenly over `count` frames, first and last included."""
    if count <= max_frames:
        return list(range(count))
    return sorted({int(round(i * (count - 1) / (max_frames - 1))) for i in range(max_frames)})


def as_pose_frames(poses) -> PoseFrames:
    """A float tensor [T,3,h,w] in 0..1, or PoseFrames (drawn chunk by chunk), as PoseFrames."""
    return poses if isinstance(poses, PoseFrames) else TensorFrames(check_image(poses, "poses", 3))
