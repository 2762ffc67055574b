"""Built-in detector accuracy on the shared real frames (PCK against DisCo's OpenPose JSON) and errors."""
import numpy as np
import pytest

from disco_core.errors import DependencyError, InputError
from disco_core.pose import PoseSequence
from disco_core.pose.detect import blazepose_to_openpose18, detect_poses
from disco_core.pose.keypoints import L_HIP, NECK, R_HIP

from tests.paths import SHARED


# Every CI_EVERY-th image of bench/pose_crops.py's set (both parts): the bench runs all of it, CI a spread-out
# sample that takes well under a minute of mediapipe on CPU.
CI_EVERY = 6
# Measured on that sample (python bench/pose_accuracy.py --every 6; mediapipe 0.10.21 CPU, deterministic).
DESIGN_SAMPLE, SCORED_SAMPLE = (28, 363), (69, 896)       # (images, joints OpenPose found)
DESIGN_FIGURES, SCORED_FIGURES = (0.942, 0.994), (0.923, 0.996)  # (PCK@0.1, PCK@0.2)
SCORED_HIP02 = 0.95  # each hip's PCK@0.2 on SCORED: 0.99 / 0.97 now, 0.88 / 0.86 with the old D&C floors
# OpenPose found no knee or ankle in these frames (cut at the thighs), so 13 joint types are scored.
JOINTS_SCORED = {"nose", "l_eye", "r_eye", "l_ear", "r_ear", "l_shoulder", "r_shoulder", "l_elbow", "r_elbow",
                 "l_wrist", "r_wrist", "l_hip", "r_hip"}
# Person-mask IoU, mean and worst image apart (measured 0.963 / 0.935 on DESIGN, 0.971 / 0.910 on SCORED).
IOU_MEAN = {"design": 0.95, "scored": 0.96}
IOU_MIN = {"design": 0.925, "scored": 0.90}


@pytest.fixture(scope="module")
def accuracy():
    """bench/pose_accuracy.py's evaluation on the CI sample: DESIGN (clip 002, looked at while designing the hip
    rule) and SCORED (clip 001, only ever scored); see bench/pose_crops.py for the crops and the split rule."""
    pytest.importorskip("mediapipe", reason='needs mediapipe: pip install "comfyui-disco[pose]"')
    from bench.pose_accuracy import evaluate, report

    result = evaluate(SHARED / "data", every=CI_EVERY)
    print(report(result))
    return result


@pytest.mark.shared_data
def test_builtin_pose_meets_the_goal_on_the_held_out_scored_part(accuracy):
    """Issue 16's goal on the SCORED part: PCK@0.1 >= 0.85 and PCK@0.2 >= 0.95, and the CI sample within 0.01 of
    what it measured when the figures were recorded (SCORED_FIGURES; docs/accuracy.md). Mutations that must
    fail: the D&C anatomical floors back (MIN_TORSO_PER_SHOULDER = 0.288 / 0.259, MIN_TORSO_PER_UPPER_ARM =
    0.288 / 0.186: PCK@0.1 0.873 on this sample), or no torso floor at all (0.844, under the goal)."""
    r = accuracy["scored"]
    assert (r["crops"], r["joints"]) == SCORED_SAMPLE
    assert r["pck01"] >= 0.85 and r["pck02"] >= 0.95
    assert r["pck01"] >= SCORED_FIGURES[0] - 0.01 and r["pck02"] >= SCORED_FIGURES[1] - 0.01
    # hips hold: every hip within 0.2 torso lengths on most images (the joints the issue found 0.19-0.33 off)
    for hip in ("l_hip", "r_hip"):
        assert accuracy["scored"]["per_joint"][hip][1] >= SCORED_HIP02


@pytest.mark.shared_data
def test_builtin_pose_on_the_design_part(accuracy):
    """DESIGN part (what the hip rule was derived on): every joint type is listed and scored, the hips sit at
    OpenPose's height (median within 0.05 torso lengths), only wrists may miss 0.1 often. Mutations that fail
    here: the hips left where BlazePose puts them (no torso floor: 0.799), or the D&C floors back (0.799).
    (`HIP_OUT = 0` is too small to show here; test_blazepose_mapping_neck_hips_and_off_canvas catches it.)"""
    r = accuracy["design"]
    assert (r["crops"], r["joints"]) == DESIGN_SAMPLE
    assert set(r["per_joint"]) == JOINTS_SCORED == set(accuracy["scored"]["per_joint"])
    assert r["pck01"] >= DESIGN_FIGURES[0] - 0.01 and r["pck02"] >= DESIGN_FIGURES[1] - 0.01
    assert abs(r["hip_dy_median"]) <= 0.05
    assert all(a >= 0.95 for name, (a, _, _) in r["per_joint"].items() if "wrist" not in name)


@pytest.mark.shared_data
def test_person_mask_on_the_same_crops(accuracy):
    """Mask IoU against DisCo's Grounded-SAM masks moved alike, mean and worst image asserted apart (the mean
    holds most crops near the figure; the worst is the letterboxed view's job). Mutation that must fail:
    segment.person_probability without its letterboxed view (SCORED mean 0.948)."""
    for part in ("design", "scored"):
        r = accuracy[part]
        assert r["iou_mean"] >= IOU_MEAN[part], (part, r["iou_mean"])
        assert r["iou_min"] >= IOU_MIN[part], (part, r["iou_min"])


def test_the_bench_fails_below_the_goal_or_the_reported_figures():
    """bench/pose_accuracy.py exits 1 on these (issue 16, item 5): the SCORED part under the goal, or either part
    more than 0.01 under what the docs report; the figures are not checked on a sample (--every > 1)."""
    from bench.pose_accuracy import FIGURES, failures

    good = {part: dict(figures) for part, figures in FIGURES.items()}
    assert failures(good) == []
    assert FIGURES["scored"]["pck01"] >= 0.85 and FIGURES["scored"]["pck02"] >= 0.95  # the docs meet the goal
    low = {part: dict(figures) for part, figures in FIGURES.items()}
    low["scored"]["pck02"] = 0.94
    assert any("goal" in f for f in failures(low)) and any("goal" in f for f in failures(low, figures=False))
    worse = {part: dict(figures) for part, figures in FIGURES.items()}
    worse["design"]["iou_min"] -= 0.02
    assert failures(worse) == [f"design iou_min {worse['design']['iou_min']:.3f} < reported "
                               f"{FIGURES['design']['iou_min']:.3f} - 0.01"]
    assert failures(worse, figures=False) == []


def test_the_bench_exit_status(monkeypatch, capsys):
    """The exit status is what CI and the README's command see: 1 on a miss, 0 when everything holds."""
    import bench.pose_accuracy as bench

    r = {"crops": 1, "joints": 1, "whole_pck01": 1.0, "whole_pck02": 1.0, "whole_joints": 1, "per_joint": {},
         "hip_dy_median": 0.0, "hip_dy_range": (0.0, 0.0)}
    good = {part: {**r, **figures} for part, figures in bench.FIGURES.items()}
    monkeypatch.setattr(bench, "evaluate", lambda *a, **k: good)
    assert bench.main([]) == 0
    monkeypatch.setattr(bench, "evaluate", lambda *a, **k: {**good, "scored": {**good["scored"], "pck01": 0.84}})
    assert bench.main([]) == 1 and "FAIL: scored pck01 0.840 < goal 0.85" in capsys.readouterr().out


def test_short_torso_is_lengthened_and_edge_joints_are_kept():
    """Hips that BlazePose pulled up into the chest go back to OpenPose's torso for those shoulders (shoulder width
    0.62 torso lengths), and an elbow 2 % outside the frame is kept on the edge while one far outside is dropped (and, being a guess,
    does not lengthen the torso through the upper-arm floor). Mutations that must fail: removing the floor in
    blazepose_to_openpose18, `EDGE_MARGIN = 0`, or counting upper arms whose elbow is off the canvas."""
    from disco_core.pose.detect import EDGE_MARGIN, MIN_TORSO_PER_SHOULDER

    lm = np.zeros((33, 3))
    lm[:, 2] = 0.99
    lm[:, :2] = (25, 50)
    lm[11], lm[12] = (45, 20, 0.99), (5, 20, 0.99)    # shoulders 40 px apart
    lm[23], lm[24] = (37, 40, 0.99), (13, 40, 0.99)   # hips only 20 px below them
    lm[14] = (-2, 40, 0.9)                              # right elbow just outside the left edge (upper arm 21 px)
    lm[13] = (-30, 45, 0.9)                             # left elbow far outside (a 79 px "upper arm")
    kp = blazepose_to_openpose18(lm, 100, 100)
    torso = (kp[L_HIP, 1] + kp[R_HIP, 1]) / 2 - 20
    assert torso >= MIN_TORSO_PER_SHOULDER * 40 * 0.999   # torso at least the anatomical minimum ...
    assert torso < MIN_TORSO_PER_SHOULDER * 40 * 1.1      # ... set by the shoulders, not by the far elbow
    assert MIN_TORSO_PER_SHOULDER == pytest.approx(1 / 0.62) and 0 < EDGE_MARGIN <= 0.05
    assert kp[3, 2] > 0 and kp[3, 0] == 0                           # r_elbow kept, on the edge
    assert kp[6, 2] == 0                                           # l_elbow dropped


def test_torso_floor_from_a_visible_upper_arm():
    """Narrow shoulders leave the shoulder-width floor slack, but a visible upper arm of 30 px means a torso of at
    least 30 / 0.53 px (OpenPose's upper arm / torso); an elbow BlazePose does not see (visibility 0.2, its
    position a guess) raises nothing. Mutations that must fail: removing `MIN_TORSO_PER_UPPER_ARM * a` from the
    floor, or dropping the visibility condition on the arms."""
    from disco_core.pose.detect import MIN_TORSO_PER_UPPER_ARM

    lm = np.zeros((33, 3))
    lm[:, 2] = 0.99
    lm[:, :2] = (100, 100)
    lm[11], lm[12] = (106, 20, 0.99), (94, 20, 0.99)   # shoulders 12 px apart (a dancer turned sideways)
    lm[23], lm[24] = (105, 40, 0.99), (95, 40, 0.99)   # hips 20 px below them: above the 19.4 px shoulder floor
    lm[13] = (108, 50, 0.99)                            # left elbow, 30 px below the shoulder, seen
    lm[14] = (92, 90, 0.2)                              # right elbow 70 px down but not seen
    kp = blazepose_to_openpose18(lm, 200, 200)
    torso = (kp[L_HIP, 1] + kp[R_HIP, 1]) / 2 - 20
    assert MIN_TORSO_PER_UPPER_ARM == pytest.approx(1 / 0.53)
    assert torso >= MIN_TORSO_PER_UPPER_ARM * 30 * 0.999          # lengthened to the arm's floor (56.6 px) ...
    assert torso < MIN_TORSO_PER_UPPER_ARM * 30 * 1.1             # ... and no further (the hidden arm is ignored)
    lm[13, 2] = 0.2                                                # no arm seen: BlazePose's hips stay
    kp = blazepose_to_openpose18(lm, 200, 200)
    assert (kp[L_HIP, 1] + kp[R_HIP, 1]) / 2 == pytest.approx(40)


def test_no_person_gives_empty_frame_and_shape():
    pytest.importorskip("mediapipe")
    frames = np.zeros((2, 64, 48, 3), np.uint8)
    seq = detect_poses(frames)
    assert len(seq) == 2 and seq.canvas == (48, 64) and seq.empty_frames.all()


def test_blazepose_mapping_neck_hips_and_off_canvas():
    lm = np.zeros((33, 3))
    lm[:, 2] = 0.99
    lm[:, :2] = (50, 50)
    lm[11], lm[12] = (60, 20, 0.99), (40, 20, 0.99)   # shoulders (left is the person's left)
    lm[23], lm[24] = (56, 60, 0.99), (44, 60, 0.99)   # hips
    lm[13], lm[14] = (62, 35, 0.99), (38, 35, 0.99)   # elbows: upper arms 15 px
    lm[27] = (500, 500, 0.99)                          # left ankle off the canvas
    lm[25] = (55, 80, 0.1)                             # left knee barely visible
    kp = blazepose_to_openpose18(lm, 100, 100)
    assert np.allclose(kp[NECK, :2], (50, 20))
    # a torso (40 px) longer than the shoulders' and the arms' floors (20 / 0.62 = 32 px, 15 / 0.53 = 29) stays; the hips go 5 % of the hip width
    # (12 px) outwards, towards OpenPose's wider placement
    assert np.allclose(kp[L_HIP, :2], (56.6, 60)) and np.allclose(kp[R_HIP, :2], (43.4, 60))
    assert kp[13, 2] == 0 and np.isnan(kp[13, 0])   # l_ankle dropped (off canvas)
    assert kp[12, 2] == 0                             # l_knee dropped (not visible)
    assert blazepose_to_openpose18(None, 10, 10)[:, 2].sum() == 0


def test_backend_errors_are_actionable(tmp_path):
    img = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(InputError, match="unknown pose backend"):
        detect_poses(img, backend="nope")
    with pytest.raises(DependencyError, match="body_pose_model.pth"):
        detect_poses(img, backend="openpose", models_dir=tmp_path)
    with pytest.raises(DependencyError, match="dw-ll_ucoco_384"):
        detect_poses(img, backend="dwpose", models_dir=None)


def test_missing_mediapipe_says_how_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *a, **k):
        if name.startswith("mediapipe"):
            raise ImportError("No module named 'mediapipe'")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(DependencyError, match=r'comfyui-disco\[pose\]'):
        detect_poses(np.zeros((8, 8, 3), np.uint8))


CLIP = SHARED / "data" / "clips" / "dance_fullbody_350.webp"


@pytest.mark.shared_data
def test_real_clip_detect_fill_smooth():
    """A 45-frame real dance: frame count kept, gaps filled, jitter reduced, every frame renders."""
    pytest.importorskip("mediapipe")
    from disco_core.pose import fill_missing, render_pose_sequence, sanitize, smooth_poses
    from disco_core.media.files import read_frames

    frames, fps = read_frames(CLIP)
    seq = detect_poses(frames, fps=fps)
    assert len(seq) == len(frames) and (~seq.empty_frames).mean() > 0.9

    def jitter(s):  # mean second difference of joints seen in three consecutive frames
        p = s.keypoints
        ok = (p[2:, :, 2] > 0) & (p[1:-1, :, 2] > 0) & (p[:-2, :, 2] > 0)
        return np.linalg.norm(p[2:, :, :2] - 2 * p[1:-1, :, :2] + p[:-2, :, :2], axis=-1)[ok].mean()

    clean = smooth_poses(fill_missing(sanitize(seq), empty_policy="hold"), 0.5)
    assert len(clean) == len(frames) and not clean.empty_frames.any()
    assert jitter(clean) < 0.7 * jitter(seq)
    assert render_pose_sequence(clean).shape == (len(frames), 350, 350, 3)
