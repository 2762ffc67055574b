"""Preview: DisCo's skeleton drawn over the reference photo, to check a (retargeted) pose before sampling."""
from __future__ import annotations

import numpy as np
from PIL import Image

from ..errors import InputError
from .keypoints import PoseSequence
from .render import render_pose


def draw_pose_preview(photo, poses, frames=None, opacity: float = 0.85, dim: float = 0.6) -> np.ndarray:
    """uint8 H×W×3: the photo, dimmed by `dim`, with DisCo skeletons of the chosen frames drawn on top.

    `poses`: a PoseSequence or one [18,3] frame in the photo's pixels (a PoseSequence on another canvas is
    scaled to the photo). `frames`: frame indices to overlay (default: the first frame); later frames are
    drawn over earlier ones, so a few frames show the motion.
    """
    img = np.asarray(photo)
    if img.ndim != 3 or img.shape[2] < 3:
        raise InputError(f"the photo must be H×W×3 RGB, got shape {img.shape}")
    if img.dtype != np.uint8:
        img = np.clip(np.nan_to_num(img.astype(np.float32) * (255.0 if img.max() <= 1.0 else 1.0)), 0, 255)
    img = img[..., :3].astype(np.float32)
    h, w = img.shape[:2]
    if not isinstance(poses, PoseSequence):
        poses = PoseSequence(np.asarray(poses, np.float32)[None] if np.ndim(poses) == 2 else poses, (w, h))
    kp = poses.keypoints.copy()
    if poses.canvas != (w, h):  # draw in the photo's pixels
        kp[..., 0] *= w / poses.canvas[0]
        kp[..., 1] *= h / poses.canvas[1]
    idx = [0] if frames is None else list(np.atleast_1d(frames))
    out = img * float(dim)
    for t in idx:
        if not 0 <= int(t) < len(kp):
            raise InputError(f"preview frame {t} is out of range: the poses have {len(kp)} frames")
        out = _blend(out, render_pose(kp[int(t)], (w, h)), opacity)
    return _to_uint8(out)


def _fit_photo(photo, size: tuple[int, int], dim: float) -> np.ndarray:
    """The photo resized to `size` (w, h) and dimmed, float32; black when there is no photo."""
    w, h = size
    if photo is None:
        return np.zeros((h, w, 3), np.float32)
    img = np.asarray(photo)
    if img.dtype != np.uint8:
        img = np.clip(np.nan_to_num(img.astype(np.float32)) * 255.0, 0, 255).round().astype(np.uint8)
    img = np.asarray(Image.fromarray(np.ascontiguousarray(img[..., :3])).resize((w, h), Image.BILINEAR))
    return img.astype(np.float32) * float(dim)


def _blend(base: np.ndarray, skeleton: np.ndarray, opacity: float) -> np.ndarray:
    """float `base` with the skeleton's drawn pixels blended on top."""
    on = skeleton.max(axis=2, keepdims=True) > 0
    # DisCo's limbs are drawn at 0.6 × colour; show them at full colour so they read over the photo
    vivid = np.clip(skeleton.astype(np.float32) / 0.6, 0, 255)
    return np.where(on, (1 - opacity) * base + opacity * vivid, base)


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(x + 0.5, 0, 255).astype(np.uint8)


def _overlay(base: np.ndarray, skeleton: np.ndarray, opacity: float) -> np.ndarray:
    return _to_uint8(_blend(base, skeleton, opacity))


def pose_preview_frames(poses: PoseSequence, size: tuple[int, int], photo=None, chunk: int = 64,
                        opacity: float = 0.85, dim: float = 0.6):
    """Yield uint8 [n,h,w,3] chunks, one frame per pose frame at `size` (w, h): the photo (resized, dimmed) with
    that frame's skeleton on top, or the skeleton on black without a photo. Keypoints are scaled from the
    poses' canvas to `size`, so retargeted poses (on the photo's canvas) sit exactly on the body."""
    w, h = size
    base = _fit_photo(photo, size, dim if photo is not None else 1.0)
    kp = poses.keypoints.astype(np.float32).copy()
    kp[..., 0] *= w / poses.canvas[0]
    kp[..., 1] *= h / poses.canvas[1]
    for start in range(0, len(kp), chunk):
        yield np.stack([_overlay(base, render_pose(k, (w, h)), opacity) for k in kp[start:start + chunk]])


def skeleton_overlay_frames(skeletons, photo=None, opacity: float = 0.85, dim: float = 0.6):
    """Yield uint8 [n,h,w,3] chunks: already rendered skeleton frames (uint8 [n,h,w,3] chunks) drawn over the
    photo resized to their size (as they are, without a photo)."""
    for frames in skeletons:
        if photo is None:
            yield frames
            continue
        base = _fit_photo(photo, (frames.shape[2], frames.shape[1]), dim)
        yield np.stack([_overlay(base, f, opacity) for f in frames])
