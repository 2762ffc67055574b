"""The held-out pose evaluation set: crops of the shared frames, with their OpenPose keypoints moved alike.

Made, not chosen. Every frame of ../shared/data/sequences/NNN is cut with a grid of windows (`WINDOWS`): the
person's OpenPose hips at `hip_at` of the window height and the person (top of the head down to the bottom edge)
filling `fill` of it, so the body is cut off below the hips. Windows may reach a little above and beside the frame
(`OVERHANG`, the frame's edge pixels repeated), never below it; those that would reach further are skipped. Each
window also gets, cycling with its index, an aspect (9:16 or 3:4), an output height (1920 / 1280 / 960), a mirror
flip (every other pair) and a slight rotation (-8 … +8 degrees about the window centre). The source frame itself
is added once, uncropped.

SPLIT RULE (by source clip, never by crop): a clip is SCORED when sha256 of its folder name ("001") is odd as an
integer, DESIGN otherwise. That gives DESIGN = 002 (604×1080 dancer), SCORED = 001 (1080×1920 dancer); a clip
added later falls on one side by the same rule. The rule was written before any crop was scored.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

L_SHO, R_SHO, L_HIP, R_HIP = 5, 6, 11, 12  # COCO-17
# COCO-17 index of each joint's mirror image: a flipped picture of a person shows their left side on the right.
COCO17_MIRROR = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
HIP_AT = (0.84, 0.88, 0.92, 0.96)        # OpenPose mid-hip as a fraction of the window height
FILL = (0.75, 0.80, 0.85, 0.90, 0.95, 1.00)  # head top to bottom edge as a fraction of the window height
SHIFT = (0.0, -0.1, 0.1)                 # window centre off the shoulders' centre, as a fraction of its width
# The shared frames have little room above the head (the crown 5-15 % below the top edge), so a window may reach
# above the frame by up to this fraction of its height and past a side by up to the second; that border repeats
# the frame's edge pixels (a wall continued). Nothing is padded below: the body stays cut by the frame.
OVERHANG = (0.25, 0.10)
WINDOWS = [(h, f, s) for h in HIP_AT for f in FILL for s in SHIFT]
ASPECTS = (9 / 16, 3 / 4)                # width / height
HEIGHTS = (1920, 1280, 960)
ANGLES = (0.0, 4.0, -8.0, 8.0, -4.0)     # degrees, counter-clockwise on screen
HEAD_ROOM = 0.35                          # head top above the highest face joint, in torso lengths (the crown)


def clip_part(name: str) -> str:
    """'scored' or 'design' for a source clip folder name (the split rule in the module docstring)."""
    return "scored" if int(hashlib.sha256(name.encode()).hexdigest(), 16) % 2 else "design"


@dataclass
class Crop:
    clip: str
    frame: int
    image: np.ndarray     # uint8 H×W×3
    ref: np.ndarray       # COCO-17 [17,3] OpenPose keypoints in the crop, -1 where outside or not found
    torso: float          # OpenPose neck to mid-hip in crop pixels (from the whole frame, so always defined)
    mask: np.ndarray      # bool H×W, DisCo's Grounded-SAM mask moved alike
    label: str            # e.g. "hip 0.88 fill 0.80 shift +0.12 9:16 1280 mirror rot -8"


def load_sequence(seq_dir: Path):
    """-> frames uint8 [T,H,W,3], OpenPose COCO-17 keypoints [T,17,3] (-1 = missing), masks bool [T,H,W]."""
    from PIL import Image

    files = sorted((seq_dir / "frames").glob("*.png"))
    frames = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])
    kps = np.stack([np.asarray(json.loads((seq_dir / "openpose_json" / (f.name + ".json")).read_text())[0]
                               ["keypoints"], np.float64) for f in files])
    masks = np.stack([np.asarray(Image.open(seq_dir / "masks" / f.name).convert("L")) > 0 for f in files])
    return frames, kps, masks


def _window(kp, width, height, hip_at, fill, shift, aspect):
    """(cx, top, w, h) of the window in frame pixels, or None when it would leave the frame."""
    found = kp[:, 0] >= 0
    sho_y, hip_y = kp[[L_SHO, R_SHO], 1].mean(), kp[[L_HIP, R_HIP], 1].mean()
    head_y = kp[:5, 1][found[:5]].min() if found[:5].any() else sho_y
    top_of_head = head_y - HEAD_ROOM * (hip_y - sho_y)
    h = (hip_y - top_of_head) / (hip_at + fill - 1)
    top = hip_y - hip_at * h
    w = h * aspect
    cx = kp[[L_SHO, R_SHO], 0].mean() + shift * w
    up, side = OVERHANG
    if top < -up * h or top + h > height or cx - w / 2 < -side * w or cx + w / 2 > width + side * w:
        return None
    return cx, top, w, h


def _transform(cx, top, w, h, out_w, out_h, angle, mirror):
    """2×3 affine from frame pixels to crop pixels: rotate about the window centre, scale, mirror."""
    s = out_h / h
    a = np.deg2rad(angle)
    c, si = np.cos(a) * s, np.sin(a) * s
    centre = np.array([cx, top + h / 2])
    m = np.array([[c, si], [-si, c]])  # y points down: this turns the picture counter-clockwise on screen
    if mirror:
        m = np.array([[-1.0, 0.0], [0.0, 1.0]]) @ m
    t = np.array([(out_w - 1) / 2, (out_h - 1) / 2]) - m @ centre
    return np.hstack([m, t[:, None]])


def _move(kp, affine, out_w, out_h, mirror):
    xy = kp[:, :2] @ affine[:, :2].T + affine[:, 2]
    out = np.full_like(kp, -1.0)
    inside = (kp[:, 0] >= 0) & (xy[:, 0] >= 0) & (xy[:, 0] < out_w) & (xy[:, 1] >= 0) & (xy[:, 1] < out_h)
    out[inside, :2], out[inside, 2] = xy[inside], kp[inside, 2]
    return out[COCO17_MIRROR] if mirror else out


def make_crops(data: Path, part: str, every: int = 1):
    """Yield the `Crop`s of one part ('design' or 'scored'); `every` > 1 keeps every n-th window (a smaller set
    for CI, spread over the whole grid)."""
    import cv2

    for seq_dir in sorted(p for p in (data / "sequences").iterdir() if p.is_dir()):
        if clip_part(seq_dir.name) != part:
            continue
        frames, kps, masks = load_sequence(seq_dir)
        height, width = frames.shape[1:3]
        n = 0
        for t, (frame, kp, mask) in enumerate(zip(frames, kps, masks)):
            torso = np.linalg.norm(kp[[L_SHO, R_SHO], :2].mean(0) - kp[[L_HIP, R_HIP], :2].mean(0))
            if n % every == 0:
                yield Crop(seq_dir.name, t, frame, kp.copy(), float(torso), mask, "whole frame")
            n += 1
            for hip_at, fill, shift in WINDOWS:
                i = n
                aspect, out_h = ASPECTS[i % len(ASPECTS)], HEIGHTS[i % len(HEIGHTS)]
                box = _window(kp, width, height, hip_at, fill, shift, aspect)
                if box is None:
                    continue
                n += 1
                if i % every:
                    continue
                mirror, angle = bool(i // 2 % 2), ANGLES[i % len(ANGLES)]
                out_w = int(round(out_h * aspect))
                affine = _transform(*box, out_w, out_h, angle, mirror)
                scale = out_h / box[3]
                src, a = frame, affine
                if scale < 1:  # shrink with area averaging first (as a video scaler would), then rotate
                    src = cv2.resize(frame, (round(width * scale), round(height * scale)),
                                     interpolation=cv2.INTER_AREA)
                    a = np.hstack([affine[:, :2] / scale, affine[:, 2:]])
                img = cv2.warpAffine(src, a, (out_w, out_h), flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_REPLICATE)
                m = cv2.warpAffine(mask.astype(np.uint8), affine, (out_w, out_h), flags=cv2.INTER_NEAREST,
                                   borderMode=cv2.BORDER_REPLICATE) > 0
                ref = _move(kp, affine, out_w, out_h, mirror)
                label = (f"hip {hip_at:.2f} fill {fill:.2f} shift {shift:+.2f} {'9:16' if aspect < 0.6 else '3:4'} "
                         f"{out_h}{' mirror' if mirror else ''} rot {angle:+.0f}")
                yield Crop(seq_dir.name, t, img, ref, float(torso * out_h / box[3]), m, label)
