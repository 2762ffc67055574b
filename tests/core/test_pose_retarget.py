"""Retargeting: reference bone lengths, driver joint angles, anchoring; real-data preview."""
import json
from pathlib import Path

import numpy as np
import pytest

from disco_core.errors import InputError
from disco_core.pose import PoseSequence
from disco_core.pose.keypoints import L_ANK, L_KNEE, NECK
from disco_core.pose.retarget import BONES, retarget_poses

from tests.paths import SHARED
# rest bone lengths (pixels) of a generic body, one per BONES entry
TEMPLATE = np.array([40, 40, 110, 110, 45, 60, 60, 100, 100, 12, 12, 55, 55, 95, 95, 14, 14], np.float64)


def _fk(lengths, angles, neck=(300.0, 200.0)):
    """Forward kinematics: absolute bone angles [T,len(BONES)] (radians) → keypoints [T,18,3]."""
    t_n = angles.shape[0]
    kp = np.zeros((t_n, 18, 3))
    kp[:, NECK, :2] = neck
    kp[..., 2] = 1.0
    for b, (p, c) in enumerate(BONES):
        kp[:, c, 0] = kp[:, p, 0] + lengths[b] * np.cos(angles[:, b])
        kp[:, c, 1] = kp[:, p, 1] + lengths[b] * np.sin(angles[:, b])
    return kp


def _random_angles(rng, t_n):
    base = np.array([0, np.pi, 1.3, 1.8, -np.pi / 2, 1.2, 1.9, 1.5, 1.6, -2.0, -1.1, 1.0, 2.1, 1.5, 1.6, -2.5, -0.6])
    return base + rng.uniform(-0.6, 0.6, size=(t_n, len(BONES)))


def _bones(kp):
    return np.stack([kp[:, c, :2] - kp[:, p, :2] for p, c in BONES], axis=1)  # [T,B,2]


def test_bone_lengths_from_reference_and_angles_from_driver():
    rng = np.random.default_rng(0)
    ref_len = TEMPLATE * rng.uniform(0.7, 1.4, len(BONES))
    drv_len = TEMPLATE * rng.uniform(0.7, 1.4, len(BONES)) * 1.7  # a bigger driver in its own canvas
    reference = PoseSequence(_fk(ref_len, _random_angles(rng, 1), neck=(250, 180)), (600, 900))
    driving = PoseSequence(_fk(drv_len, _random_angles(rng, 20), neck=(700, 300)), (1400, 1600), fps=25)
    out = retarget_poses(driving, reference)
    assert len(out) == 20 and out.canvas == (600, 900) and out.fps == 25
    ob, db = _bones(out.keypoints.astype(np.float64)), _bones(driving.keypoints.astype(np.float64))
    lengths = np.linalg.norm(ob, axis=-1)
    assert np.all(np.abs(lengths / ref_len - 1) <= 0.02)
    ang = np.degrees(np.arctan2(ob[..., 1], ob[..., 0]) - np.arctan2(db[..., 1], db[..., 0]))
    ang = (ang + 180) % 360 - 180
    assert np.abs(ang).max() <= 1.0
    # anchored: first frame's neck on the reference's neck
    assert np.allclose(out.keypoints[0, NECK, :2], reference.keypoints[0, NECK, :2], atol=0.5)


def test_identity_on_the_same_body():
    rng = np.random.default_rng(1)
    kp = _fk(TEMPLATE, _random_angles(rng, 12))
    driving = PoseSequence(kp, (640, 720))
    out = retarget_poses(driving, driving[0])
    assert np.allclose(out.keypoints[..., :2], driving.keypoints[..., :2], atol=1e-3)


def test_neck_motion_is_scaled_by_the_torso_and_unseen_limbs_keep_driver_proportions():
    rng = np.random.default_rng(2)
    angles = _random_angles(rng, 6)
    drv = _fk(TEMPLATE, angles, neck=(300, 200))
    shift = np.arange(6)[:, None, None] * np.array([10.0, 0.0])
    drv[..., :2] += shift  # the driver walks right, 10 px per frame
    ref = _fk(TEMPLATE * 0.5, angles[:1], neck=(100, 100))[0]
    ref[[L_KNEE, L_ANK]] = (np.nan, np.nan, 0)  # the photo does not show the left leg below the hip
    out = retarget_poses(PoseSequence(drv, (800, 800)), PoseSequence(ref, (400, 400)))
    kp = out.keypoints
    # torso ratio 0.5 (measured over the driver's frames, so within 2 %)
    assert np.allclose(kp[:, NECK, 0] - kp[0, NECK, 0], np.arange(6) * 5.0, rtol=0.02, atol=1e-3)
    shin = [b for b, (p, c) in enumerate(BONES) if (p, c) == (L_KNEE, L_ANK)][0]
    lengths = np.linalg.norm(_bones(kp.astype(np.float64))[:, shin], axis=-1)
    assert np.allclose(lengths, TEMPLATE[shin] * 0.5, rtol=0.03)


def test_missing_joints_and_empty_frames_are_preserved():
    rng = np.random.default_rng(3)
    drv = _fk(TEMPLATE, _random_angles(rng, 5))
    drv[2] = (np.nan, np.nan, 0)  # nobody in frame 2
    drv[3, NECK] = (np.nan, np.nan, 0)  # neck lost in frame 3: children fall back to the whole-figure map
    out = retarget_poses(PoseSequence(drv, (640, 640)), PoseSequence(_fk(TEMPLATE, _random_angles(rng, 1)), (640, 640)))
    assert len(out) == 5 and out.empty_frames[2] and out.keypoints[3, NECK, 2] == 0
    assert np.isfinite(out.keypoints[3, 2:, :2]).all() and np.isfinite(out.keypoints[[0, 1, 3, 4], 2:]).all()


def test_empty_reference_is_an_input_error():
    drv = PoseSequence(_fk(TEMPLATE, _random_angles(np.random.default_rng(4), 2)), (640, 640))
    empty = PoseSequence(np.zeros((1, 18, 3)), (640, 640))
    with pytest.raises(InputError, match="reference"):
        retarget_poses(drv, empty)


@pytest.mark.shared_data
def test_real_preview(tmp_path):
    """Reference disco_demo/00035 (detected), driver sequences/001 (its OpenPose JSON): the preview image
    is written for people to look at; the figure must stay near the reference body and on the canvas."""
    make_real_preview(tmp_path)


def make_real_preview(out_dir):
    """Also runnable by hand: `python -c "import sys; sys.path.insert(0, 'tests/core');
    import test_pose_retarget as t; t.make_real_preview('.')"` writes retarget_preview.png."""
    pytest.importorskip("mediapipe")
    from PIL import Image

    from disco_core.pose.detect import detect_poses
    from disco_core.pose.preview import draw_pose_preview

    data = SHARED / "data"
    photo = np.asarray(Image.open(data / "disco_demo" / "images" / "00035.png").convert("RGB"))
    reference = detect_poses(photo)
    files = sorted((data / "sequences" / "001" / "openpose_json").glob("*.json"))
    driving = PoseSequence.from_disco_json([json.loads(f.read_text()) for f in files], (1080, 1920))
    out = retarget_poses(driving, reference)
    assert len(out) == len(driving) and out.canvas == reference.canvas
    pts = out.keypoints[out.present][:, :2]
    w, h = reference.canvas
    assert (pts[:, 0] > -0.1 * w).all() and (pts[:, 0] < 1.1 * w).all() and (pts[:, 1] < 1.1 * h).all()
    # the retargeted torso has the reference's size (shoulder width within 15 %)
    ref_sw = np.linalg.norm(reference.keypoints[0, 2, :2] - reference.keypoints[0, 5, :2])
    out_sw = np.median(np.linalg.norm(out.keypoints[:, 2, :2] - out.keypoints[:, 5, :2], axis=1))
    assert abs(out_sw / ref_sw - 1) < 0.15
    preview = draw_pose_preview(photo, out, frames=[0, 4, 8])
    assert preview.shape == photo.shape and not np.array_equal(preview, photo)
    Image.fromarray(preview).save(Path(out_dir) / "retarget_preview.png")
    return preview


def test_hands_follow_their_wrist_and_face_follows_the_nose_scaled_like_forearm_and_head():
    """Hand keypoints keep their offset from their own wrist scaled by that forearm's ratio, face keypoints
    their offset from the nose scaled by the head's; missing ones stay missing. Mutations that must fail:
    swapping L_WRI/R_WRI in retarget_poses' hand loop, scaling hands by the torso ratio, or anchoring the
    face on the neck."""
    from disco_core.pose.keypoints import L_ELB, L_WRI, NOSE, R_ELB, R_WRI

    rng = np.random.default_rng(5)
    ref_len, drv_len = TEMPLATE.copy(), TEMPLATE * 1.5
    fore_l, fore_r, head = BONES.index((L_ELB, L_WRI)), BONES.index((R_ELB, R_WRI)), BONES.index((NECK, NOSE))
    ref_len[fore_l], ref_len[fore_r], ref_len[head] = 30.0, 80.0, 70.0  # left/right forearms differ
    reference = PoseSequence(_fk(ref_len, _random_angles(rng, 1), neck=(250, 180)), (600, 900))
    t_n = 4
    kp = _fk(drv_len, _random_angles(rng, t_n), neck=(500, 300))
    hand_off = rng.uniform(-20, 20, size=(t_n, 2, 21, 2))
    face_off = rng.uniform(-15, 15, size=(t_n, 70, 2))
    hands = np.ones((t_n, 2, 21, 3))
    hands[:, 0, :, :2] = kp[:, None, L_WRI, :2] + hand_off[:, 0]
    hands[:, 1, :, :2] = kp[:, None, R_WRI, :2] + hand_off[:, 1]
    hands[0, 1, 3] = (0, 0, 0)  # a missing finger joint
    face = np.ones((t_n, 70, 3))
    face[..., :2] = kp[:, None, NOSE, :2] + face_off
    driving = PoseSequence(kp, (1000, 1000), hands=hands, face=face)

    out = retarget_poses(driving, reference)
    o = out.keypoints.astype(np.float64)
    for k, (wri, bone) in enumerate(((L_WRI, fore_l), (R_WRI, fore_r))):
        expected = o[:, None, wri, :2] + ref_len[bone] / drv_len[bone] * hand_off[:, k]
        got = out.hands[:, k, :, :2].astype(np.float64)
        ok = out.hands[:, k, :, 2] > 0
        assert np.allclose(got[ok], expected[ok], atol=0.05), f"hand {k}"
    assert out.hands[0, 1, 3, 2] == 0 and np.isnan(out.hands[0, 1, 3, 0])
    expected_face = o[:, None, NOSE, :2] + ref_len[head] / drv_len[head] * face_off
    assert np.allclose(out.face[..., :2], expected_face, atol=0.05)
