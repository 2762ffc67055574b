"""Preview: DisCo's skeleton drawn over the reference photo, to check a (retargeted) pose before sampling."""
from __future__ import annotations

import numpy as np

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
        skel = render_pose(kp[int(t)], (w, h)).astype(np.float32)
        on = skel.max(axis=2, keepdims=True) > 0
        # DisCo's limbs are drawn at 0.6 × colour; show them at full colour so they read over the photo
        vivid = np.clip(skel / 0.6, 0, 255)
        out = np.where(on, (1 - opacity) * out + opacity * vivid, out)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
