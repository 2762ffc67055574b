"""`python -m disco_core animate` turns a photo and poses into a video with the tiny model."""
import pytest

from disco_core.cli import main
from disco_core.media.files import read_frames
from tests.synthetic_inputs import dance_json, write_demo_files

N_POSES = 3


@pytest.fixture
def demo(tmp_path):
    """A generated photo, its mask and a folder of rendered skeletons, as files (what a user has)."""
    write_demo_files(tmp_path, N_POSES)
    (tmp_path / "poses.json").write_text(dance_json(1, (160, 240)))
    return tmp_path


def test_animate_from_pose_images_and_mask(tiny_checkpoint, demo, tmp_path, capsys):
    out = tmp_path / "dance.mp4"
    code = main(["animate", "--checkpoint", str(tiny_checkpoint), "--image", str(demo / "photo.png"),
                 "--mask", str(demo / "mask.png"), "--poses", str(demo / "pose_img"),
                 "--out", str(out), "--steps", "2", "--size", "64x64", "--fps", "8", "--device", "cpu",
                 "--dtype", "fp32"])
    assert code == 0
    frames, fps = read_frames(out)
    assert frames.shape == (N_POSES, 64, 64, 3) and fps == pytest.approx(8, rel=0.01)
    assert f"{N_POSES} frames 64x64" in capsys.readouterr().out


def test_animate_from_pose_json_with_mask(tiny_checkpoint, demo, tmp_path):
    frames_dir = tmp_path / "frames"
    code = main(["animate", "--checkpoint", str(tiny_checkpoint), "--image", str(demo / "photo.png"),
                 "--mask", str(demo / "mask.png"), "--poses", str(demo / "poses.json"),
                 "--out", str(tmp_path / "one.gif"), "--frames-dir", str(frames_dir),
                 "--steps", "2", "--size", "48x64", "--device", "cpu", "--dtype", "fp32"])
    assert code == 0
    frames, _ = read_frames(tmp_path / "one.gif")
    assert frames.shape == (1, 64, 48, 3)
    assert len(list(frames_dir.glob("*.png"))) == 1


@pytest.mark.shared_data
def test_animate_from_pose_json_with_builtin_mask(tiny_checkpoint, shared_data_dir, tmp_path):
    pytest.importorskip("mediapipe", reason="the built-in mask needs mediapipe (the `pose` extra)")
    demo = shared_data_dir / "disco_demo"
    pose_file = sorted((demo / "pose_json").glob("*.json"))[0]
    code = main(["animate", "--checkpoint", str(tiny_checkpoint), "--image", str(demo / "images" / "00072.png"),
                 "--poses", str(pose_file), "--out", str(tmp_path / "one.gif"),
                 "--steps", "2", "--size", "48x64", "--device", "cpu", "--dtype", "fp32"])
    assert code == 0
    frames, _ = read_frames(tmp_path / "one.gif")
    assert frames.shape == (1, 64, 48, 3)


def test_animate_without_poses_is_an_actionable_error(tiny_checkpoint, demo, tmp_path, capsys):
    code = main(["animate", "--checkpoint", str(tiny_checkpoint), "--image", str(demo / "photo.png"),
                 "--mask", str(demo / "mask.png"), "--out", str(tmp_path / "x.mp4")])
    assert code == 1 and "give --poses" in capsys.readouterr().err


def test_retarget_with_rendered_pose_images_is_refused(tiny_checkpoint, demo, tmp_path, capsys):
    code = main(["animate", "--checkpoint", str(tiny_checkpoint), "--image", str(demo / "photo.png"),
                 "--mask", str(demo / "mask.png"), "--poses", str(demo / "pose_img"), "--retarget",
                 "--out", str(tmp_path / "x.mp4")])
    assert code == 1 and "--retarget needs keypoints" in capsys.readouterr().err


def test_animate_from_a_driving_video_keeps_its_sound_in_sync(tiny_checkpoint, demo, tmp_path, monkeypatch,
                                                              capsys):
    """--driving streams the video and muxes its sound, cut to the generated frames: 12 frames from source frame
    6 of a 30 fps clip, resampled to 15 fps, give 0.8 s of sound starting 0.2 s into the song. Mutations seen
    failing: not passing the sound to the writer; cutting it from 0 instead of --start-frame."""
    import numpy as np

    import disco_core.pose.detect as detect
    from tests.media import loudness, rms_at, streams, write_clip

    def figure(backend, models_dir):  # a fixed figure: poses are not what this test checks (and no mediapipe)
        def one(frame):
            h, w = frame.shape[:2]
            kp = np.ones((18, 3), np.float32)
            kp[:, 0], kp[:, 1] = np.linspace(0.2, 0.8, 18) * w, np.linspace(0.1, 0.9, 18) * h
            return kp
        return one, None
    monkeypatch.setattr(detect, "_backend", figure)
    clip = write_clip(tmp_path / "song.mp4", 2.0, 30, size=(96, 160))
    out = tmp_path / "dance.mp4"
    code = main(["animate", "--checkpoint", str(tiny_checkpoint), "--image", str(demo / "photo.png"),
                 "--mask", str(demo / "mask.png"), "--driving", str(clip), "--start-frame", "6",
                 "--max-frames", "12", "--fps", "15", "--out", str(out), "--steps", "1", "--size", "64x64",
                 "--device", "cpu", "--dtype", "fp32"])
    assert code == 0
    got = streams(out)
    assert got["video"] == (12, 15.0)
    seconds, rate = got["audio"]
    assert abs(seconds - 12 / 15) <= 1 / 15 and abs(got["audio_header"] - 12 / 15) <= 1 / 15
    import av
    with av.open(str(out)) as c:
        wave = np.concatenate([f.to_ndarray() for f in c.decode(audio=0)], axis=1)
    for t in (0.1, 0.5):  # the song as it was 0.2 s in, within one output frame of loudness change
        assert abs(rms_at(wave, rate, t) - loudness(0.2 + t + 0.025, 2.0) / np.sqrt(2)) < 0.4 / np.sqrt(2) / 15 + 0.005
    assert "12 frames 64x64 at 15 fps, with 0.80 s of sound" in capsys.readouterr().out
