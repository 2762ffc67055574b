"""The render-pose, pose and mask commands, run through `disco_core.cli.main`."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from disco_core.cli import main

from tests.paths import SHARED
DATA, REF = SHARED / "data", SHARED / "reference" / "pose_render"
needs_shared = pytest.mark.shared_data


@needs_shared
def test_render_pose_full_and_cond(tmp_path):
    src = DATA / "disco_demo" / "pose_json" / "0049.png.json"
    assert main(["render-pose", str(src), "--canvas", "604x1080", "--out", str(tmp_path / "full.png")]) == 0
    full = np.asarray(Image.open(tmp_path / "full.png").convert("RGB"))
    assert np.array_equal(full, np.asarray(Image.open(REF / "full" / "disco_demo_0049.png").convert("RGB")))
    assert main(["render-pose", str(src), "--canvas", "604x1080", "--out", str(tmp_path / "c.png"),
                 "--cond-size", "256"]) == 0
    cond = np.asarray(Image.open(tmp_path / "c.png").convert("RGB")).astype(int)
    ref = np.asarray(Image.open(REF / "cond" / "disco_demo_0049.png").convert("RGB")).astype(int)
    assert (np.abs(cond - ref) <= 1).mean() >= 0.999


def test_render_pose_sequence_and_errors(tmp_path, capsys):
    frames = [[{"keypoints": [[10 + t, 10, 1]] * 17}] for t in range(3)]
    (tmp_path / "seq.json").write_text(json.dumps(frames))
    assert main(["render-pose", str(tmp_path / "seq.json"), "--canvas", "64x48", "--out", str(tmp_path / "o.png")]) == 0
    outs = sorted(tmp_path.glob("o_*.png"))
    assert len(outs) == 3 and Image.open(outs[0]).size == (64, 48)
    # no canvas for DisCo JSON: an actionable error, exit code 1
    assert main(["render-pose", str(tmp_path / "seq.json"), "--out", str(tmp_path / "x.png")]) == 1
    assert "--canvas" in capsys.readouterr().err


@needs_shared
def test_pose_command_on_images_and_folder(tmp_path):
    pytest.importorskip("mediapipe")
    frames = sorted((DATA / "sequences" / "002" / "frames").glob("*.png"))[:2]
    out = tmp_path / "poses.json"
    assert main(["pose", *map(str, frames), "--backend", "builtin", "--out", str(out)]) == 0
    poses = json.loads(out.read_text())
    assert len(poses) == 2 and len(poses[0]) == 1 and len(poses[0][0]["keypoints"]) == 17
    nose = poses[0][0]["keypoints"][0]
    ref_nose = json.loads((DATA / "sequences" / "002" / "openpose_json" / "000001.png.json").read_text())[0]["keypoints"][0]
    assert abs(nose[0] - ref_nose[0]) < 20 and abs(nose[1] - ref_nose[1]) < 20
    folder = tmp_path / "frames"
    folder.mkdir()
    for f in frames:
        shutil.copy(f, folder / f.name)
    out2 = tmp_path / "pk.json"
    assert main(["pose", str(folder), "--out", str(out2), "--format", "pose_keypoint", "--smooth", "0.5"]) == 0
    pk = json.loads(out2.read_text())
    assert len(pk) == 2 and pk[0]["canvas_width"] == 604
    # the written file renders back through render-pose
    assert main(["render-pose", str(out), "--canvas", "604x1080", "--out", str(tmp_path / "r.png")]) == 0


@needs_shared
def test_mask_command(tmp_path):
    pytest.importorskip("mediapipe")
    out = tmp_path / "m.png"
    assert main(["mask", str(DATA / "disco_demo" / "images" / "00035.png"), "--out", str(out)]) == 0
    m = Image.open(out)
    assert m.mode == "L" and m.size == (604, 1080) and set(np.unique(np.asarray(m))) <= {0, 255}
    gt = np.asarray(Image.open(DATA / "disco_demo" / "masks" / "00035.png").convert("L")) > 0
    pred = np.asarray(m) > 127
    assert (pred & gt).sum() / (pred | gt).sum() >= 0.9
    assert main(["mask", str(DATA / "disco_demo" / "images" / "00035.png"), "--out", str(tmp_path / "f.png"),
                 "--dilate", "4", "--feather", "6"]) == 0
    soft = np.asarray(Image.open(tmp_path / "f.png"))
    assert ((soft > 0) & (soft < 255)).any() and (soft > 127).sum() > pred.sum()


def test_mask_command_missing_file(tmp_path, capsys):
    assert main(["mask", str(tmp_path / "nope.png"), "--out", str(tmp_path / "m.png")]) == 1
    assert "not found" in capsys.readouterr().err
