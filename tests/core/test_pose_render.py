"""DisCo-exact skeleton rendering: colours, blend and geometry from the spec (disco_arch.md §6.2), and pixel
identity with the official renders of the shared data's poses (../shared/reference/pose_render)."""
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from disco_core.pose import PoseSequence, crop_resize_cond, render_coco17, render_pose, render_pose_sequence
from tests.paths import HAVE_SHARED_DATA, SHARED, SHARED_DATA_REASON, SHARED_POSE_RENDER

REF = SHARED_POSE_RENDER
# disco_arch.md §6.2 (official `create_custom_dataset_tsvs.py`), written out here, not read from the module:
SPEC_COLORS = [[255, 0, 0], [255, 85, 0], [255, 170, 0], [255, 255, 0], [170, 255, 0], [85, 255, 0], [0, 255, 0],
               [0, 255, 85], [0, 255, 170], [0, 255, 255], [0, 170, 255], [0, 85, 255], [0, 0, 255], [85, 0, 255],
               [170, 0, 255], [255, 0, 255], [255, 0, 170], [255, 0, 85]]
SPEC_LIMB_ALPHA = 0.6  # cv2.addWeighted(canvas, 0.4, cur_canvas, 0.6, 0)
SPEC_STICK_WIDTH = 4  # ellipse2Poly(..., axes=(int(len / 2), stickwidth=4), ...)
SPEC_CIRCLE_RADIUS = 4  # cv2.circle(canvas, (int(x), int(y)), radius=4, colors[i], thickness=-1)
# the spec's 1-based limbSeq; only the first 17 are drawn (the two ear-shoulder limbs are skipped)
SPEC_LIMB_SEQ = [[2, 3], [2, 6], [3, 4], [4, 5], [6, 7], [7, 8], [2, 9], [9, 10], [10, 11], [2, 12], [12, 13],
                 [13, 14], [2, 1], [1, 15], [15, 17], [1, 16], [16, 18], [3, 17], [6, 18]]
SPEC_DRAWN_LIMBS = 17
# 0-based OpenPose-18 joint pairs of the 17 drawn limbs (the spec's 1-based limbSeq minus one)
SPEC_LIMBS = [(1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
              (1, 0), (0, 14), (14, 16), (0, 15), (15, 17)]
# (name prefix in reference/pose_render, JSON folder, canvas) as in reference/pose_render/meta.json
SETS = [("disco_demo", "data/disco_demo/pose_json", (604, 1080)),
        ("001", "data/sequences/001/openpose_json", (1080, 1920)),
        ("002", "data/sequences/002/openpose_json", (604, 1080))]


def _cases():
    if not HAVE_SHARED_DATA:
        return [pytest.param(None, marks=pytest.mark.skip(reason=SHARED_DATA_REASON))]
    out = []
    for prefix, folder, canvas in SETS:
        for f in sorted((SHARED / folder).glob("*.json")):
            out.append(pytest.param((f, canvas, f"{prefix}_{f.name.split('.')[0]}.png"), id=f"{prefix}-{f.name}"))
    return out


def _rgb(path):
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.mark.parametrize("case", _cases())
def test_full_and_cond_match_official(case):
    path, canvas, ref_name = case
    obj = json.loads(path.read_text())
    full_ref = _rgb(REF / "full" / ref_name)
    seq = PoseSequence.from_disco_json(obj, canvas)
    full = render_pose_sequence(seq)[0]
    assert full.shape == full_ref.shape
    assert int((full != full_ref).any(-1).sum()) == 0
    assert np.array_equal(render_coco17(obj, canvas), full_ref)

    cond = crop_resize_cond(full, 256).astype(int)
    cond_ref = _rgb(REF / "cond" / ref_name).astype(int)
    assert cond.shape == cond_ref.shape == (256, 256, 3)
    assert (np.abs(cond - cond_ref) <= 1).mean() >= 0.999


def _pose(points: dict) -> np.ndarray:
    kp = np.zeros((18, 3), np.float32)
    kp[:, :2] = np.nan
    for j, (x, y) in points.items():
        kp[j] = (x, y, 1.0)
    return kp


@pytest.mark.parametrize("limb", range(17))
def test_each_limb_is_its_spec_colour_blended_at_point_six(limb):
    """Mutations that must fail: any entry of `COLORS` changed, `LIMB_ALPHA = 0.5`, or `LIMB_SEQ` reordered."""
    a, b = SPEC_LIMBS[limb]
    img = render_pose(_pose({a: (20, 50), b: (180, 50)}), (200, 100), neck="keep")
    mid = img[50, 100].astype(int)  # far from both circles
    assert np.abs(mid - np.round(np.array(SPEC_COLORS[limb]) * SPEC_LIMB_ALPHA)).max() <= 1
    assert img[10, 100].sum() == 0  # 4 px half-width: nothing 40 px away


@pytest.mark.parametrize("joint", range(18))
def test_each_joint_circle_is_its_spec_colour_with_radius_four(joint):
    """Mutations that must fail: a changed `COLORS` entry or `CIRCLE_RADIUS = 3`."""
    img = render_pose(_pose({joint: (50, 40)}), (100, 80), neck="keep")
    assert img[40, 50].tolist() == SPEC_COLORS[joint]
    assert img[40, 54].any() and not img[40, 55].any() and not img[40, 45].any()


def test_sticks_are_the_spec_width():
    """A horizontal limb is an ellipse with half-axes (len / 2, 4): at its middle exactly 2 * 4 + 1 rows are
    drawn. Mutation that must fail: `STICK_WIDTH = 6` (or 3)."""
    img = render_pose(_pose({1: (20, 50), 2: (180, 50)}), (200, 100), neck="keep")  # neck - right shoulder
    rows = np.flatnonzero(img[:, 100].any(-1))
    assert rows.tolist() == list(range(50 - SPEC_STICK_WIDTH, 50 + SPEC_STICK_WIDTH + 1))


def test_joints_on_the_canvas_edge_are_drawn_and_missing_ones_are_not():
    """Spec: a circle is drawn when x >= 0 and y >= 0, a limb is skipped only when a coordinate is < 0; our
    [18,3] keypoints mark a missing joint with confidence 0 or NaN, and [18,2] ones have no confidence."""
    img = render_pose(_pose({0: (0, 40), 4: (50, 0)}), (100, 80), neck="keep")
    assert img[40, 0].tolist() == SPEC_COLORS[0] and img[0, 50].tolist() == SPEC_COLORS[4]
    limb = render_pose(_pose({2: (0, 50), 3: (100, 50)}), (101, 100), neck="keep")  # limb 2: R-sho - R-elb
    assert np.abs(limb[50, 50].astype(int) - np.round(np.array(SPEC_COLORS[2]) * SPEC_LIMB_ALPHA)).max() <= 1
    for score in (0.0, np.nan):
        kp = _pose({5: (50, 40)})
        kp[5, 2] = score
        assert not render_pose(kp, (100, 80), neck="keep").any()
    assert render_pose(_pose({5: (50, 40)})[:, :2], (100, 80), neck="keep")[40, 50].tolist() == SPEC_COLORS[5]


def test_unknown_neck_convention_is_named():
    from disco_core.errors import InputError
    with pytest.raises(InputError, match="^neck must be 'disco' or 'keep', got 'openpose'$"):
        render_pose(_pose({0: (5, 5)}), (10, 10), neck="openpose")


def test_canvas_is_width_by_height_uint8():
    coco = [[-1, -1, -1]] * 17
    coco[0] = [150, 20, 0.9]
    for img in (render_coco17([{"keypoints": coco}], (200, 100)), render_coco17([], (200, 100)),
                render_pose_sequence(PoseSequence.from_disco_json([{"keypoints": coco}], (200, 100)))[0]):
        assert img.shape == (100, 200, 3) and img.dtype == np.uint8
    assert render_coco17([{"keypoints": coco}], (200, 100))[20, 150].tolist() == SPEC_COLORS[0]


def test_spurious_neck_quirk_when_one_shoulder_is_missing():
    # DisCo computes the neck as the mean of both shoulders even when one is (-1,-1)
    coco = [[-1, -1, -1]] * 17
    coco[5] = [300, 200, 0.9]  # left shoulder only
    img = render_coco17([{"keypoints": coco}], (400, 400))
    neck_xy = (int((300 - 1) / 2), int((200 - 1) / 2))
    assert img[neck_xy[1], neck_xy[0]].any(), "neck circle missing at half the shoulder's coordinates"
    seq = PoseSequence.from_disco_json([{"keypoints": coco}], (400, 400))
    assert seq.keypoints[0, 1, 2] == 0  # the stored neck is honest (missing) ...
    assert np.array_equal(render_pose_sequence(seq)[0], img)  # ... while the render keeps DisCo's quirk
    assert not np.array_equal(render_pose_sequence(seq, neck="keep")[0], img)
    coco[5] = [301, 201, 0.9]  # odd: the missing shoulder counts as exactly (-1, -1), neck at (150, 100)
    seq = PoseSequence.from_disco_json([{"keypoints": coco}], (400, 400))
    assert np.array_equal(render_pose_sequence(seq)[0], render_coco17([{"keypoints": coco}], (400, 400)))
    assert render_coco17([{"keypoints": coco}], (400, 400))[100, 150].any()


def test_nan_inf_and_huge_values_do_not_crash():
    kp = _pose({0: (50, 50), 2: (np.inf, 3), 5: (1e12, -1e12), 8: (np.nan, 10)})
    img = render_pose(kp, (100, 100))
    assert img.shape == (100, 100, 3) and img[50, 50].any()


def test_crop_resize_cond_centre_square():
    img = np.zeros((300, 100, 3), np.uint8)
    img[100:200] = 255  # exactly the centre square of a portrait frame
    out = crop_resize_cond(img, 50)
    assert out.shape == (50, 50, 3) and out.min() == 255
    wide = np.zeros((100, 301, 3), np.uint8)
    wide[:, 100:200] = 255  # the centre square of a landscape frame (left = (301 - 100) // 2)
    assert crop_resize_cond(wide, 100).min() == 255
    assert crop_resize_cond(img).shape == (256, 256, 3)  # cond_transform: RandomResizedCrop(256)


def test_crop_resize_cond_is_bilinear():
    """A black|white 2x2 image at 4x4: bilinear (half-pixel centres) gives 0, 0.25, 0.75, 1 of white;
    bicubic (PIL's default) would give 53 and 202 in the middle."""
    img = np.zeros((2, 2, 3), np.uint8)
    img[:, 1] = 255
    assert crop_resize_cond(img, 4)[0, :, 0].tolist() == [0, 64, 191, 255]


def _official_draw(canvas, points):
    """The official loop as written (whole-canvas copy and blend per limb), to pin the faster drawing to it; every
    constant is the spec's, written out in this file (none is read from disco_core.pose.render)."""
    import cv2
    import math
    for i in range(18):
        x, y = points[i]
        if x >= 0 and y >= 0:
            cv2.circle(canvas, (int(x), int(y)), SPEC_CIRCLE_RADIUS, SPEC_COLORS[i], thickness=-1)
    for i in range(SPEC_DRAWN_LIMBS):
        (xa, ya), (xb, yb) = points[SPEC_LIMB_SEQ[i][0] - 1], points[SPEC_LIMB_SEQ[i][1] - 1]
        if min(xa, ya, xb, yb) < 0:
            continue
        cur = canvas.copy()
        poly = cv2.ellipse2Poly((int((xa + xb) / 2), int((ya + yb) / 2)),
                                (int(math.hypot(xa - xb, ya - yb) / 2), SPEC_STICK_WIDTH),
                                int(math.degrees(math.atan2(ya - yb, xa - xb))), 0, 360, 1)
        cv2.fillConvexPoly(cur, poly, SPEC_COLORS[i])
        canvas = cv2.addWeighted(canvas, 1 - SPEC_LIMB_ALPHA, cur, SPEC_LIMB_ALPHA, 0)
    return canvas


def test_limb_box_blending_equals_the_whole_canvas_blend():
    """render_pose blends each limb only inside its bounding box (20x faster at 1080x1920); on random poses,
    with joints off the canvas and overlapping limbs, every pixel equals the official whole-canvas loop.
    Mutation seen failing: blending over the box grown or shrunk by one pixel, or filling the polygon shifted
    into box coordinates (OpenCV's clipping is not translation-exact)."""
    from disco_core.pose.render import _drawable
    rng = np.random.default_rng(0)
    for _ in range(150):
        w, h = int(rng.integers(40, 500)), int(rng.integers(40, 500))
        kp = np.zeros((18, 3), np.float32)
        kp[:, 0], kp[:, 1] = rng.uniform(-0.3 * w, 1.3 * w, 18), rng.uniform(-0.3 * h, 1.3 * h, 18)
        kp[:, 2] = rng.uniform(-0.2, 1.0, 18)
        expected = _official_draw(np.zeros((h, w, 3), np.uint8), _drawable(kp))
        assert np.array_equal(render_pose(kp, (w, h)), expected)
