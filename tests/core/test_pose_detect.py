"""Built-in detector accuracy on the shared real frames (PCK against DisCo's OpenPose JSON) and errors."""
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from disco_core.errors import DependencyError, InputError
from disco_core.pose import PoseSequence
from disco_core.pose.detect import blazepose_to_openpose18, detect_poses
from disco_core.pose.keypoints import L_HIP, NECK, OPENPOSE18_TO_COCO17, R_HIP

from tests.paths import SHARED
SEQS = SHARED / "data" / "sequences"


def _pck_errors(seq_dir: Path) -> np.ndarray:
    """Errors / torso for every joint OpenPose found (COCO-17 JSON, neck excluded: it is derived)."""
    files = sorted((seq_dir / "frames").glob("*.png"))
    frames = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])
    pred = detect_poses(frames, backend="builtin").keypoints[:, OPENPOSE18_TO_COCO17]
    errs = []
    for t, f in enumerate(files):
        ref = np.asarray(json.loads((seq_dir / "openpose_json" / (f.name + ".json")).read_text())[0]["keypoints"],
                         np.float64)
        neck = (ref[5, :2] + ref[6, :2]) / 2
        mid_hip = (ref[11, :2] + ref[12, :2]) / 2
        torso = np.linalg.norm(neck - mid_hip)
        found = (ref[:, 0] >= 0) & (ref[:, 1] >= 0)
        e = np.linalg.norm(pred[t, :, :2] - ref[:, :2], axis=1) / torso
        errs.append(np.where(np.isfinite(e), e, np.inf)[found])  # a joint we missed counts as wrong
    return np.concatenate(errs)


@pytest.mark.shared_data
def test_builtin_pck_on_real_sequences():
    pytest.importorskip("mediapipe", reason='needs mediapipe: pip install "comfyui-disco[pose]"')
    errs = np.concatenate([_pck_errors(d) for d in sorted(SEQS.iterdir()) if (d / "frames").is_dir()])
    assert len(errs) > 100
    pck1, pck2 = float((errs <= 0.1).mean()), float((errs <= 0.2).mean())
    print(f"PCK@0.1={pck1:.3f} PCK@0.2={pck2:.3f} over {len(errs)} joints")
    assert pck1 >= 0.92 and pck2 >= 0.99


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
    lm[27] = (500, 500, 0.99)                          # left ankle off the canvas
    lm[25] = (55, 80, 0.1)                             # left knee barely visible
    kp = blazepose_to_openpose18(lm, 100, 100)
    assert np.allclose(kp[NECK, :2], (50, 20))
    # hips go down the torso and outwards, towards OpenPose's placement
    assert kp[L_HIP, 1] > 60 and kp[R_HIP, 1] > 60 and kp[L_HIP, 0] > 56 and kp[R_HIP, 0] < 44
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
    from disco_core.video_io import read_frames

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
