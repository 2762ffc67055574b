"""Pixelate the parts of a screenshot that show ../shared/data (not ours to redistribute) before it is saved.

The browser test runs the real workflow on a real photo and dance clip (pose detection needs a real person), so the
Reference photo's preview, the Driving video's player and the Pose Sequence preview (skeletons over the photo)
show that data. Each such screen rectangle becomes coarse blocks of its mean colour. In the pose preview the
skeleton's pixels are kept: the photo under it is dimmed to 0.6 (disco_core/pose/preview.py), so its chroma
(max - min channel) stays at or below 153, while the limbs are full-saturation hues drawn at 0.85 opacity (chroma
about 195 and more); the blocks there take the mean of the photo's pixels only, and the skeleton stays readable.
"""
from __future__ import annotations

import math

import numpy as np

MIN_BLOCK = 12  # px: the smallest mosaic block
BLOCKS_ACROSS = 8  # at most this many blocks across a rectangle's short side, however far the view is zoomed in
VIVID_CHROMA = 160  # max - min channel above which a pixel belongs to the skeleton (see the module docstring)


def block_size(width: float, height: float) -> int:
    return max(MIN_BLOCK, math.ceil(min(width, height) / BLOCKS_ACROSS))


def pixel_box(rect, shape) -> tuple[int, int, int, int]:
    """[x, y, w, h] in (fractional) CSS pixels -> (x0, y0, x1, y1) whole pixels inside the image, rounded outwards
    so that a partly covered pixel is redacted too."""
    x, y, w, h = rect
    height, width = shape[:2]
    x0, y0 = max(0, math.floor(x)), max(0, math.floor(y))
    x1, y1 = min(width, math.ceil(x + w)), min(height, math.ceil(y + h))
    return x0, y0, max(x0, x1), max(y0, y1)


def vivid(pixels: np.ndarray) -> np.ndarray:
    """bool mask of the pixels whose chroma is above VIVID_CHROMA."""
    p = pixels.astype(np.int16)
    return p.max(axis=-1) - p.min(axis=-1) > VIVID_CHROMA


def redact(image: np.ndarray, regions: list[dict]) -> np.ndarray:
    """A copy of uint8 H×W×3 `image` with each region ({"rect": [x, y, w, h], "keep_vivid": bool}) pixelated:
    blocks (block_size, counted from the rectangle's top-left corner) filled with their mean colour; with
    keep_vivid, the vivid pixels stay as they are and the block takes the mean of the others. Pixels outside
    every rectangle are untouched."""
    out = image.copy()
    for region in regions:
        x0, y0, x1, y1 = pixel_box(region["rect"], image.shape)
        step = block_size(x1 - x0, y1 - y0)
        for top in range(y0, y1, step):
            for left in range(x0, x1, step):
                block = out[top:min(top + step, y1), left:min(left + step, x1)]
                keep = vivid(block) if region.get("keep_vivid") else np.zeros(block.shape[:2], bool)
                if keep.all():
                    continue
                mean = block[~keep].reshape(-1, block.shape[-1]).mean(axis=0)
                block[~keep] = np.round(mean).astype(np.uint8)
    return out
