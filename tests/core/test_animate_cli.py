"""`python -m disco_core animate` turns a photo and poses into a video with the tiny model."""
import pytest

from disco_core.cli import main
from disco_core.video_io import read_frames


def test_animate_from_pose_images_and_mask(tiny_checkpoint, shared_dir, tmp_path, capsys):
    demo = shared_dir / "data" / "disco_demo"
    out = tmp_path / "dance.mp4"
    code = main(["animate", "--checkpoint", str(tiny_checkpoint), "--image", str(demo / "images" / "00035.png"),
                 "--mask", str(demo / "masks" / "00035.png"), "--poses", str(demo / "pose_img"),
                 "--out", str(out), "--steps", "2", "--size", "64x64", "--fps", "8", "--device", "cpu",
                 "--dtype", "fp32"])
    assert code == 0
    frames, fps = read_frames(out)
    n_poses = len(list((demo / "pose_img").glob("*.png")))
    assert frames.shape == (n_poses, 64, 64, 3) and fps == pytest.approx(8, rel=0.01)
    assert f"{n_poses} frames 64x64" in capsys.readouterr().out


def test_animate_from_pose_json_with_builtin_mask(tiny_checkpoint, shared_dir, tmp_path):
    pytest.importorskip("mediapipe", reason="the built-in mask needs mediapipe (the `pose` extra)")
    demo = shared_dir / "data" / "disco_demo"
    pose_file = sorted((demo / "pose_json").glob("*.json"))[0]
    frames_dir = tmp_path / "frames"
    code = main(["animate", "--checkpoint", str(tiny_checkpoint), "--image", str(demo / "images" / "00072.png"),
                 "--poses", str(pose_file), "--out", str(tmp_path / "one.gif"), "--frames-dir", str(frames_dir),
                 "--steps", "2", "--size", "48x64", "--device", "cpu", "--dtype", "fp32"])
    assert code == 0
    frames, _ = read_frames(tmp_path / "one.gif")
    assert frames.shape == (1, 64, 48, 3)
    assert len(list(frames_dir.glob("*.png"))) == 1


def test_animate_without_poses_is_an_actionable_error(tiny_checkpoint, shared_dir, tmp_path, capsys):
    demo = shared_dir / "data" / "disco_demo"
    code = main(["animate", "--checkpoint", str(tiny_checkpoint), "--image", str(demo / "images" / "00035.png"),
                 "--mask", str(demo / "masks" / "00035.png"), "--out", str(tmp_path / "x.mp4")])
    assert code == 1 and "give --poses" in capsys.readouterr().err


def test_retarget_with_rendered_pose_images_is_refused(tiny_checkpoint, shared_dir, tmp_path, capsys):
    demo = shared_dir / "data" / "disco_demo"
    code = main(["animate", "--checkpoint", str(tiny_checkpoint), "--image", str(demo / "images" / "00035.png"),
                 "--mask", str(demo / "masks" / "00035.png"), "--poses", str(demo / "pose_img"), "--retarget",
                 "--out", str(tmp_path / "x.mp4")])
    assert code == 1 and "--retarget needs keypoints" in capsys.readouterr().err
