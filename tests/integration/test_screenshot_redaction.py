"""The redaction of the docs screenshots (tests/integration/screenshot_redaction.py) changes exactly the rectangles
it is given, into coarse blocks, and keeps the skeleton's pixels where asked. Pure numpy: needs no ComfyUI.

Mutations seen failing: `math.floor`/`math.ceil` -> `round` in pixel_box (the edge pixels of a fractional rectangle
stay sharp, or a neighbour changes); ignoring keep_vivid (the skeleton is smeared); BLOCKS_ACROSS = 40 (blocks
of 12 px on a 200 px rectangle: fine enough to recognise a face).
"""
from __future__ import annotations

import numpy as np

from screenshot_redaction import redact

H, W = 240, 320


def photo_like(seed: int = 0) -> np.ndarray:
    """Noise no brighter than a photo dimmed to 0.6 (every pixel's chroma <= 153), so no pixel counts as vivid."""
    return np.random.default_rng(seed).integers(0, 154, (H, W, 3), dtype=np.uint8)


def covered(x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    mask = np.zeros((H, W), bool)
    mask[y0:y1, x0:x1] = True
    return mask


def blocks(x0: int, y0: int, x1: int, y1: int, step: int):
    for top in range(y0, y1, step):
        for left in range(x0, x1, step):
            yield slice(top, min(top + step, y1)), slice(left, min(left + step, x1))


def test_only_the_given_rectangles_change_into_blocks_of_their_mean():
    image = photo_like()
    # fractional CSS rectangles: every pixel they touch is covered (x 10..60, y 20..50 and x 100..299, y 30..189)
    small, large = [10.6, 20.7, 49.7, 29.6], [100, 30, 200, 160]
    out = redact(image, [{"rect": small, "keep_vivid": False}, {"rect": large, "keep_vivid": False}])
    inside = covered(10, 20, 61, 51) | covered(100, 30, 300, 190)
    assert np.array_equal(out[~inside], image[~inside])
    for (x0, y0, x1, y1), step in (((10, 20, 61, 51), 12), ((100, 30, 300, 190), 20)):  # 160 / 8 blocks = 20 px
        for rows, cols in blocks(x0, y0, x1, y1, step):
            expected = np.round(image[rows, cols].reshape(-1, 3).astype(np.float64).mean(axis=0))
            assert (out[rows, cols] == expected.astype(np.uint8)).all(), (rows, cols)
    # nothing of the noise survives inside: at most one colour per block
    assert len(np.unique(out[30:190, 100:300].reshape(-1, 3), axis=0)) <= 10 * 8


def test_keep_vivid_keeps_the_skeleton_and_blocks_the_photo_under_it():
    image = photo_like(1)
    image[60:64, 40:200] = (255, 40, 0)  # a limb: a full-saturation hue
    image[60:180, 120:123] = (0, 230, 60)
    limb = np.zeros((H, W), bool)
    limb[60:64, 40:200] = limb[60:180, 120:123] = True
    rect = [30, 50, 180, 140]
    out = redact(image, [{"rect": rect, "keep_vivid": True}])
    inside = covered(30, 50, 210, 190)
    assert np.array_equal(out[~inside], image[~inside])
    assert np.array_equal(out[limb], image[limb])
    for rows, cols in blocks(30, 50, 210, 190, 18):  # 140 / 8 -> 18 px blocks
        photo = ~limb[rows, cols]
        expected = np.round(image[rows, cols][photo].astype(np.float64).mean(axis=0)).astype(np.uint8)
        assert (out[rows, cols][photo] == expected).all(), (rows, cols)
