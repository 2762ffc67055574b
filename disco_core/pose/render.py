"""DisCo-exact skeleton drawing.

Reproduces `draw_bodypose` of the official `tsv_example/create_custom_dataset_tsvs.py:103-162`
(identical copy in `dataset/app_demo_human_image_edit_singleinput.py:161-223`), see disco_arch.md §6.2:
circles first, then 17 limbs, each blended onto the canvas with weights 0.4/0.6. The official code draws
with OpenCV on an RGB-ordered array and saves it without conversion, so the colour table is RGB as written.
"""
from __future__ import annotations

import math

import cv2
import numpy as np
from PIL import Image

from ..errors import InputError
from .keypoints import L_SHO, NECK, R_SHO, PoseSequence, coco17_to_disco18

# create_custom_dataset_tsvs.py: `stickwidth = 4` (limb half-width) and `cv2.circle(..., 4, ...)`.
STICK_WIDTH = 4
CIRCLE_RADIUS = 4
# create_custom_dataset_tsvs.py: `canvas = cv2.addWeighted(canvas, 0.4, cur_canvas, 0.6, 0)`.
LIMB_ALPHA = 0.6

# create_custom_dataset_tsvs.py `limbSeq`, 1-indexed OpenPose-18 joints. Only the first 17 are drawn
# (the official loop is `for i in range(17)`); the two ear-shoulder limbs are skipped.
LIMB_SEQ = [[2, 3], [2, 6], [3, 4], [4, 5], [6, 7], [7, 8], [2, 9], [9, 10], [10, 11], [2, 12], [12, 13],
            [13, 14], [2, 1], [1, 15], [15, 17], [1, 16], [16, 18], [3, 17], [6, 18]]
DRAWN_LIMBS = 17

# create_custom_dataset_tsvs.py `colors`: per joint for circles, per limb for limbs (RGB in the saved file).
COLORS = [[255, 0, 0], [255, 85, 0], [255, 170, 0], [255, 255, 0], [170, 255, 0], [85, 255, 0], [0, 255, 0],
          [0, 255, 85], [0, 255, 170], [0, 255, 255], [0, 170, 255], [0, 85, 255], [0, 0, 255], [85, 0, 255],
          [170, 0, 255], [255, 0, 255], [255, 0, 170], [255, 0, 85]]


def draw_bodypose(canvas: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Draw one person in DisCo's style. `points`: [18,2] in OpenPose-18 order, negative = missing.

    `canvas` (H×W×3 uint8) is modified and returned, with the official code's pixels.
    """
    for i in range(18):
        x, y = points[i]
        if x >= 0 and y >= 0:
            cv2.circle(canvas, (int(x), int(y)), CIRCLE_RADIUS, COLORS[i], thickness=-1)
    h, w = canvas.shape[:2]
    scratch = None
    for i in range(DRAWN_LIMBS):
        a, b = LIMB_SEQ[i][0] - 1, LIMB_SEQ[i][1] - 1
        (xa, ya), (xb, yb) = points[a], points[b]
        if min(xa, ya, xb, yb) < 0:
            continue
        mx, my = (xa + xb) / 2, (ya + yb) / 2
        length = math.hypot(xa - xb, ya - yb)
        angle = math.degrees(math.atan2(ya - yb, xa - xb))
        poly = cv2.ellipse2Poly((int(mx), int(my)), (int(length / 2), STICK_WIDTH), int(angle), 0, 360, 1)
        # The official code copies and blends the whole canvas per limb. Blending a pixel with itself
        # (0.4 a + 0.6 a) gives it back, so only the limb's bounding box can change: copy and blend there
        # (the polygon is filled at its own coordinates on a scratch canvas, so it rasterises identically).
        x0, y0 = max(int(poly[:, 0].min()), 0), max(int(poly[:, 1].min()), 0)
        x1, y1 = min(int(poly[:, 0].max()) + 1, w), min(int(poly[:, 1].max()) + 1, h)
        if x0 >= x1 or y0 >= y1:
            continue
        if scratch is None:
            scratch = np.empty_like(canvas)
        region = canvas[y0:y1, x0:x1]
        scratch[y0:y1, x0:x1] = region
        cv2.fillConvexPoly(scratch, poly, COLORS[i])
        canvas[y0:y1, x0:x1] = cv2.addWeighted(region, 1 - LIMB_ALPHA, scratch[y0:y1, x0:x1], LIMB_ALPHA, 0)
    return canvas


def _drawable(keypoints18: np.ndarray, neck: str = "disco") -> np.ndarray:
    """[18,3] pose → [18,2] in DisCo's convention: -1 for missing joints (NaN, inf or confidence 0).

    neck="disco" recomputes the neck as DisCo's loader does from its 17-point JSON: the mean of the two
    shoulders even when one is missing (-1), which the model saw in training. neck="keep" uses the stored one.
    """
    kp = np.asarray(keypoints18, dtype=np.float64)
    xy = kp[:, :2].copy()
    missing = ~np.isfinite(xy).all(axis=1)
    if kp.shape[1] > 2:
        missing |= ~(np.nan_to_num(kp[:, 2], nan=0.0) > 0)
    xy[missing] = -1.0
    if neck == "disco":
        xy[NECK] = (xy[R_SHO] + xy[L_SHO]) / 2
    elif neck != "keep":
        raise InputError(f"neck must be 'disco' or 'keep', got {neck!r}")
    # Values far outside would overflow OpenCV's int32 coordinates; clamp well beyond any canvas.
    return np.clip(xy, -1.0, 1e6)


def render_pose(keypoints18: np.ndarray, canvas: tuple[int, int], neck: str = "disco") -> np.ndarray:
    """Render one OpenPose-18 pose ([18,3] x,y,conf in pixels) on a black W×H canvas → uint8 H×W×3 RGB."""
    w, h = int(canvas[0]), int(canvas[1])
    return draw_bodypose(np.zeros((h, w, 3), np.uint8), _drawable(keypoints18, neck))


def render_coco17(people: list, canvas: tuple[int, int]) -> np.ndarray:
    """Render DisCo's JSON (list of `{"keypoints": [[x,y,s]×17]}`) exactly as the official code: first
    person only, neck = mean of the shoulders even when one is missing (the training-time quirk)."""
    w, h = int(canvas[0]), int(canvas[1])
    img = np.zeros((h, w, 3), np.uint8)
    if not people:
        return img
    return draw_bodypose(img, coco17_to_disco18(np.asarray(people[0]["keypoints"], np.float64)))


def render_pose_sequence(seq: PoseSequence, neck: str = "disco") -> np.ndarray:
    """All frames at the canvas resolution → uint8 [T,H,W,3]."""
    w, h = seq.canvas
    out = np.zeros((len(seq), h, w, 3), np.uint8)
    for t in range(len(seq)):
        out[t] = render_pose(seq.keypoints[t], seq.canvas, neck)
    return out


def center_square_box(width: int, height: int) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the largest centred square: torchvision's RandomResizedCrop fallback
    when scale=ratio=(1,1) on a non-square frame (disco_arch.md §2.0)."""
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def crop_resize_cond(img: np.ndarray, size: int = 256) -> np.ndarray:
    """Centre square crop, then PIL bilinear (antialiased) resize to size×size: DisCo's `cond_transform`."""
    img = np.asarray(img)
    h, w = img.shape[:2]
    pil = Image.fromarray(img).crop(center_square_box(w, h))
    return np.asarray(pil.resize((size, size), Image.BILINEAR))
