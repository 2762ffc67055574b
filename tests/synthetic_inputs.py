"""Inputs generated in the tests themselves (no ../shared needed): a dancing COCO-17 figure, its DisCo JSON and
rendered skeletons, a photo of a painted "person" with its mask, a background, and a textured moving clip.

They exercise the code paths of real inputs (shapes, dtypes, JSON flavours, chunking); accuracy on real people
is measured separately on ../shared/data.
"""
from __future__ import annotations

import json
import math

import numpy as np
import torch

# COCO-17 rest pose of a standing figure, in units of its height (x right, y down, feet at 1.0).
_REST = {0: (0.0, 0.08), 1: (0.03, 0.06), 2: (-0.03, 0.06), 3: (0.06, 0.07), 4: (-0.06, 0.07),
         5: (0.11, 0.2), 6: (-0.11, 0.2), 11: (0.07, 0.52), 12: (-0.07, 0.52),
         13: (0.08, 0.75), 14: (-0.08, 0.75), 15: (0.08, 0.98), 16: (-0.08, 0.98)}
_ARM = 0.17  # upper arm and forearm length, in figure heights


def dance_coco17(frames: int, canvas: tuple[int, int], phase: float = 0.0) -> np.ndarray:
    """[T,17,3] COCO-17 keypoints in pixels of `canvas` (w, h): a figure centred in the frame waving its
    arms (elbow and wrist angles change every frame), score 0.9."""
    w, h = canvas
    height, cx, top = 0.8 * h, w / 2, 0.1 * h
    out = np.zeros((frames, 17, 3), np.float32)
    for t in range(frames):
        a = phase + 0.6 * t
        pts = dict(_REST)
        for side, sho, elb, wri in ((1, 5, 7, 9), (-1, 6, 8, 10)):
            up = math.radians(40 + 50 * math.sin(a + (0 if side > 0 else 1.3)))
            fore = up + math.radians(35 * math.cos(a))
            sx, sy = pts[sho]
            ex, ey = sx + side * _ARM * math.cos(up), sy + _ARM * math.sin(up)
            pts[elb] = (ex, ey)
            pts[wri] = (ex + side * _ARM * math.cos(fore), ey + _ARM * math.sin(fore))
        for j, (x, y) in pts.items():
            out[t, j] = (cx + x * height, top + y * height, 0.9)
    return out


def dance_json(frames: int, canvas: tuple[int, int]) -> str:
    """The figure as DisCo pose JSON text: a list of frames, each `[{"keypoints": [[x, y, s] x 17]}]`."""
    return json.dumps([[{"keypoints": np.round(kp, 1).tolist()}] for kp in dance_coco17(frames, canvas)])


def skeleton_images(frames: int, canvas: tuple[int, int]) -> torch.Tensor:
    """The figure's skeletons drawn DisCo's way, as a ComfyUI IMAGE [T,H,W,3] float 0..1."""
    from disco_core.pose import render_coco17

    kps = dance_coco17(frames, canvas)
    return torch.from_numpy(np.stack([render_coco17([{"keypoints": kp.tolist()}], canvas) for kp in kps])) / 255.0


def _texture(h: int, w: int, seed: int, shift: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Smooth coloured texture [h,w,3] in 0..1 (sum of sinusoids), shifted by (dx, dy) pixels."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    x, y = x - shift[0], y - shift[1]
    out = np.zeros((h, w, 3), np.float32)
    for c in range(3):
        for _ in range(4):
            fx, fy, ph = rng.uniform(0.02, 0.15), rng.uniform(0.02, 0.15), rng.uniform(0, 6.3)
            out[..., c] += np.sin(fx * x + fy * y + ph)
    return (out - out.min()) / (out.max() - out.min() + 1e-6) * 0.8 + 0.1


def person_photo(height: int = 240, width: int = 160, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A painted figure (head, torso, limbs as filled shapes) on a textured background.

    Returns (IMAGE [1,H,W,3] float 0..1, MASK [1,H,W] with 1 = person, exactly the painted pixels)."""
    import cv2

    img = (_texture(height, width, seed) * 255).astype(np.uint8)
    mask = np.zeros((height, width), np.uint8)
    kp = dance_coco17(1, (width, height))[0]
    p = lambda j: (int(kp[j, 0]), int(kp[j, 1]))  # noqa: E731
    thick = max(2, width // 16)
    for a, b in ((5, 7), (7, 9), (6, 8), (8, 10), (11, 13), (13, 15), (12, 14), (14, 16)):
        cv2.line(mask, p(a), p(b), 1, thick)
    cv2.fillConvexPoly(mask, np.array([p(5), p(6), p(12), p(11)], np.int32), 1)
    cv2.circle(mask, p(0), max(3, width // 10), 1, -1)
    person_colour = np.array([200, 60, 40], np.uint8)
    img[mask > 0] = person_colour
    return (torch.from_numpy(img.astype(np.float32) / 255.0)[None],
            torch.from_numpy(mask.astype(np.float32))[None])


def background(height: int = 90, width: int = 120, seed: int = 5) -> torch.Tensor:
    """A textured scene without a person, IMAGE [1,H,W,3]."""
    return torch.from_numpy(_texture(height, width, seed))[None]


def moving_clip(frames: int = 12, height: int = 64, width: int = 80, seed: int = 3) -> torch.Tensor:
    """A textured scene panning 1.5 px/frame right with a bright disc moving down: IMAGE [T,H,W,3]."""
    import cv2

    out = []
    for t in range(frames):
        frame = _texture(height, width, seed, shift=(1.5 * t, 0.0))
        cv2.circle(frame, (width // 2, 10 + 2 * t), 8, (0.95, 0.9, 0.2), -1, lineType=cv2.LINE_AA)
        out.append(frame)
    return torch.from_numpy(np.stack(out))


def person_clip(frames: int = 3, height: int = 48, width: int = 40) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A red figure stepping down 1 px per frame on a grey noise scene, for fine-tuning: IMAGE [N,H,W,3], its
    MASK [N,H,W] and one skeleton-like stripe per frame [N,3,H,W] (a different channel each frame)."""
    g = torch.Generator().manual_seed(0)
    clip = torch.rand(frames, height, width, 3, generator=g) * 0.2 + 0.4
    mask = torch.zeros(frames, height, width)
    rendered = torch.zeros(frames, 3, height, width)
    for i in range(frames):
        clip[i, 8 + i:38 + i, 10:26] = torch.tensor([0.9, 0.15, 0.1])
        mask[i, 8 + i:38 + i, 10:26] = 1
        rendered[i, i % 3, 8 + i:38 + i, 16:20] = 1
    return clip, mask, rendered


def write_demo_files(folder, poses: int) -> None:
    """What a command-line user has, as files in `folder`: photo.png, mask.png and pose_img/0000.png… (rendered
    skeletons of `poses` frames on a 160×240 canvas)."""
    from pathlib import Path

    from PIL import Image

    folder = Path(folder)
    photo, mask = person_photo()
    Image.fromarray((photo[0].numpy() * 255).astype(np.uint8)).save(folder / "photo.png")
    Image.fromarray((mask[0].numpy() * 255).astype(np.uint8)).save(folder / "mask.png")
    (folder / "pose_img").mkdir()
    for i, img in enumerate(skeleton_images(poses, (160, 240))):
        Image.fromarray((img.numpy() * 255).astype(np.uint8)).save(folder / "pose_img" / f"{i:04d}.png")
