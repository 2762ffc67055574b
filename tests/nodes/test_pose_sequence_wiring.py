"""Pose Sequence's wiring: what each widget hands to the detector, the resampler and the preview, the messages a
user reads (pinned as whole strings), and the small conversions on the way. Slow collaborators (pose detection,
the preview's sprite sheets) are replaced by recorders, so these tests run in milliseconds."""
import json
import logging
from importlib import import_module
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from tests.synthetic_inputs import dance_json

DEFAULTS = dict(detector="builtin", fps=30.0, target_fps=0.0, max_frames=0, smoothing=0.0, retarget=False)
CANVAS = dict(canvas_width=160, canvas_height=240)
HELP = ("Connect one pose source: video (a driving video from Load Video, read frame by frame), frames (an IMAGE "
        "batch, poses are detected), pose_images (skeletons already rendered, e.g. from DWPose Estimator), "
        "pose_keypoint (POSE_KEYPOINT from DWPose / OpenPose Estimator) or paste pose JSON into pose_json.")


@pytest.fixture
def mod(pack):
    return import_module(pack.__name__ + ".pose_sequence")


@pytest.fixture
def node(mod):
    return mod.DisCoPoseSequence()


def figure(frames: int, canvas=(32, 24)) -> np.ndarray:
    """[T,18,3] OpenPose-18 keypoints: every joint present, spread over the canvas."""
    w, h = canvas
    kp = np.zeros((frames, 18, 3), np.float32)
    kp[..., 0], kp[..., 1], kp[..., 2] = np.linspace(0.2, 0.8, 18) * w, np.linspace(0.1, 0.9, 18) * h, 1.0
    return kp


@pytest.fixture
def calls(mod, monkeypatch):
    """Recorders for the detector's collaborators: source_stop answers 7, the detectors find `figure` on every
    frame they get (or `calls.keypoints` when a test sets it), progress bars are markers naming their total."""
    rec = SimpleNamespace(source_stop=[], detect_frames=[], detect_video=[], progress=[], keypoints=None)

    def source_stop(*args, **kwargs):
        rec.source_stop.append((args, kwargs))
        return 7

    def seq_for(n):
        kp = figure(n) if rec.keypoints is None else rec.keypoints
        return mod.PoseSequence(kp, (32, 24), fps=25.0)

    def detect_frames(*args, **kwargs):
        rec.detect_frames.append((args, kwargs))
        return seq_for(len(args[0]))

    def detect_video(*args, **kwargs):
        rec.detect_video.append((args, kwargs))
        return seq_for(8)

    def simple_progress(*args):
        rec.progress.append(args)
        return ("progress", args)

    monkeypatch.setattr(mod.driving, "source_stop", source_stop)
    monkeypatch.setattr(mod.driving, "detect_frames", detect_frames)
    monkeypatch.setattr(mod.driving, "detect_video", detect_video)
    monkeypatch.setattr(mod.driving, "probe", lambda source: SimpleNamespace(fps=25.0, frame_count=40))
    monkeypatch.setattr(mod.glue, "simple_progress", simple_progress)
    monkeypatch.setattr(mod.glue, "annotator_folder", lambda: "ANNOTATORS")
    monkeypatch.setattr(mod.glue, "video_source", lambda video: "SOURCE")
    monkeypatch.setattr(mod.sound, "read_audio", lambda *args: None)
    return rec


def error_of(core, call) -> str:
    with pytest.raises(core.InputError) as info:
        call()
    return str(info.value)


# ---- what reaches the detector ------------------------------------------------------------------------------
def test_frames_widgets_reach_source_stop_and_the_detector(node, calls):
    """Kills: _keypoints 61-82 (source_stop/detect_frames arguments, the progress bar), build 41/42."""
    frames = torch.rand(10, 24, 32, 3)
    poses = node.build(**{**DEFAULTS, "detector": "dwpose", "target_fps": 15.0, "max_frames": 2}, frames=frames,
                       start_frame=2)[0]
    assert calls.source_stop == [((2, 2, 30.0, 15.0), {})]
    ((given, backend, folder, fps), kwargs), = calls.detect_frames
    assert (backend, folder, fps) == ("dwpose", "ANNOTATORS", 30.0) and kwargs == {"progress": ("progress", (0,))}
    assert calls.progress == [(0,)]
    assert torch.equal(given, frames[2:7])  # from start_frame to what source_stop said
    assert len(poses) == 2 and poses.fps == 15.0


def test_video_widgets_reach_source_stop_and_the_detector(node, calls):
    """Kills: _keypoints 32-55 (source_stop at the video's own fps, detect_video's arguments, progress bar)."""
    poses = node.build(**{**DEFAULTS, "detector": "openpose", "target_fps": 12.5, "max_frames": 3}, video="clip.mp4",
                       start_frame=4)[0]
    assert calls.source_stop == [((4, 3, 25.0, 12.5), {})]
    assert calls.detect_video == [(("SOURCE", "openpose", "ANNOTATORS", 4, 7), {"progress": ("progress", (0,))})]
    assert calls.progress == [(0,)]
    assert len(poses) == 3 and poses.fps == 12.5


def test_frames_start_frame_at_the_end_says_use_a_smaller_one(node, core, calls):
    """Kills: _keypoints 57 (>= became >), 59/60 (message)."""
    message = error_of(core, lambda: node.build(**DEFAULTS, frames=torch.rand(3, 24, 32, 3), start_frame=3))
    assert message == "start_frame 3 is past the end of the frames (3); use a smaller start_frame."
    assert calls.detect_frames == []


def test_frames_give_the_pose_json_its_canvas_unless_both_sizes_are_set(node):
    """Kills: _keypoints 2 (and -> or), 5/7/9 (canvas from frames: width is shape[2], height shape[1])."""
    frames = torch.zeros(2, 24, 32, 3)
    text = dance_json(2, (32, 24))
    assert node.build(**DEFAULTS, pose_json=text, frames=frames, canvas_width=500)[0].keypoints.canvas == (32, 24)
    assert node.build(**DEFAULTS, pose_json=text, frames=frames, canvas_height=500)[0].keypoints.canvas == (32, 24)
    both = node.build(**DEFAULTS, pose_json=text, frames=frames, canvas_width=64, canvas_height=48)[0]
    assert both.keypoints.canvas == (64, 48)


def test_pose_keypoint_without_its_own_canvas_uses_the_canvas_widgets(node, core):
    """Kills: _keypoints 14/17 (canvas not handed to from_pose_keypoint) and 1 (canvas "" instead of None)."""
    flat = [0.5, 0.5, 1.0] * 18  # normalised: the middle of the canvas
    frames = [{"people": [{"pose_keypoints_2d": flat}]}] * 2
    poses = node.build(**DEFAULTS, pose_keypoint=frames, **CANVAS)[0]
    assert poses.keypoints.canvas == (160, 240)
    np.testing.assert_allclose(poses.keypoints.keypoints[0, 0], [80.0, 120.0, 1.0])
    message = error_of(core, lambda: node.build(**DEFAULTS, pose_keypoint=frames))
    assert message.startswith("POSE_KEYPOINT frames must all carry one canvas_width/canvas_height")


def test_pose_json_that_carries_its_fps_wins_over_the_fps_widget(node):
    """Kills: _keypoints 94 (seq.fps or fps -> and), build 122/134/137 (fps of poses.frames and of poses)."""
    text = json.dumps({"canvas_width": 160, "canvas_height": 240, "fps": 25,
                       "frames": json.loads(dance_json(3, (160, 240)))})
    poses, _, fps, _ = node.build(**DEFAULTS, pose_json=text)
    assert fps == 25.0 and poses.fps == 25.0 and poses.frames.fps == 25.0


def test_pose_json_start_frame_at_the_end_says_use_a_smaller_one(node, core):
    """Kills: _keypoints 89 (>= became >), 90-92 (message)."""
    message = error_of(core, lambda: node.build(**DEFAULTS, pose_json=dance_json(9, (160, 240)), **CANVAS,
                                                start_frame=9))
    assert message == "start_frame 9 is past the end of the poses (9 frames); use a smaller start_frame."


def test_no_source_message(node, core):
    """Kills: _keypoints 86-88 (message)."""
    assert error_of(core, lambda: node.build(**DEFAULTS)) == "Pose Sequence has no input. " + HELP


def test_a_source_without_frames_says_so(node, core, calls):
    """Kills: build 88-92 (the message when the pose source has no frames)."""
    calls.keypoints = np.zeros((0, 18, 3), np.float32)
    message = error_of(core, lambda: node.build(**DEFAULTS, frames=torch.rand(3, 24, 32, 3)))
    assert message == "The pose source has no frames. " + HELP


# ---- no person ---------------------------------------------------------------------------------------------
def test_no_person_from_the_detector_names_the_detector_and_the_fix(node, core, calls):
    """Kills: _check_people 3-13, 19, build 68/73, _source_name 4 and _keypoints 18 (blank pose_json is no
    source)."""
    calls.keypoints = np.zeros((3, 18, 3), np.float32)
    message = error_of(core, lambda: node.build(**{**DEFAULTS, "detector": "openpose"},
                                                frames=torch.rand(3, 24, 32, 3), pose_json="  \n "))
    assert message == ("No person was found in any of the 3 frames of frames (detector openpose). Use a driving "
                       "video in which one person is visible (full body or upper body, facing the camera works "
                       "best), or try another detector (openpose / dwpose).")


def test_no_person_in_pose_json_names_pose_json_and_the_fix(node, core):
    """Kills: _check_people 14-18, build 72, _source_name 1/5/6."""
    message = error_of(core, lambda: node.build(**DEFAULTS, pose_json="[[], []]", **CANVAS))
    assert message == ("No person was found in any of the 2 frames of pose_json. Check that the keypoints are in "
                       "pixels of the canvas (or normalised, for POSE_KEYPOINT) and that each frame lists a person.")


def test_no_person_in_pose_keypoint_names_pose_keypoint(node, core):
    """Kills: build 71, _source_name 2/3."""
    frames = [{"people": [], "canvas_width": 160, "canvas_height": 240}] * 3
    message = error_of(core, lambda: node.build(**DEFAULTS, pose_keypoint=frames))
    assert message == ("No person was found in any of the 3 frames of pose_keypoint. Check that the keypoints are "
                       "in pixels of the canvas (or normalised, for POSE_KEYPOINT) and that each frame lists a "
                       "person.")


def test_frames_without_a_person_are_logged_with_their_source(node, caplog):
    """Kills: _check_people 23 (the source left out of the warning), 28/29 (its text)."""
    people = json.loads(dance_json(4, (160, 240)))
    people[1] = []
    with caplog.at_level(logging.WARNING, logger="DisCo"):
        node.build(**DEFAULTS, pose_json=json.dumps(people), **CANVAS)
    assert ("DisCo Pose Sequence: no person in 1 of 4 frames of pose_json; they repeat the nearest pose."
            in caplog.messages)


# ---- keypoint clean-up ----------------------------------------------------------------------------------------
def test_joints_up_to_one_canvas_off_the_frame_are_kept_further_ones_dropped(node):
    """Kills: build 65 (sanitize margin 0) and 66 (margin 2)."""
    flat = np.tile([0.5, 0.5, 1.0], (18, 1))
    flat[4, 0] = 1.25  # 40 px right of a 160 px canvas: kept
    flat[7, 0] = 2.5   # 240 px right of it, more than a canvas away: dropped
    frame = {"people": [{"pose_keypoints_2d": flat.ravel().tolist()}], "canvas_width": 160, "canvas_height": 240}
    seq = node.build(**DEFAULTS, pose_keypoint=[frame])[0].keypoints
    assert seq.present[0, 4] and not seq.present[0, 7]
    np.testing.assert_allclose(seq.keypoints[0, 4], [200.0, 120.0, 1.0])


def test_smoothing_runs_only_when_above_zero_with_its_strength(node, mod, monkeypatch):
    """Kills: build 95 (> became >=), 101 (strength not passed)."""
    seen = []
    monkeypatch.setattr(mod, "smooth_poses", lambda *args: seen.append(args[1:]) or args[0])
    text = dance_json(4, (160, 240))
    node.build(**DEFAULTS, pose_json=text, **CANVAS)
    assert seen == []
    node.build(**{**DEFAULTS, "smoothing": 0.35}, pose_json=text, **CANVAS)
    assert seen == [(0.35,)]


# ---- rendered skeletons ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("value,got", [([[0.5, 0.5]], "list ()"),
                                       (torch.zeros(1, 2, 8, 8, 3), "Tensor (1, 2, 8, 8, 3)")], ids=["list", "5d"])
def test_pose_images_that_are_not_an_image_batch_name_pose_images(node, core, value, got):
    """Kills: _rendered 1-10 (the check, and the input named in its message)."""
    message = error_of(core, lambda: node.build(**DEFAULTS, pose_images=value))
    assert message == (f"'pose_images' must be an IMAGE tensor [batch, height, width, 3]; got {got}. Connect an "
                       "IMAGE output.")


def test_one_pose_image_is_one_frame_and_alpha_is_dropped(node):
    """A single skeleton image [H,W,3] was taken as H frames of one row each."""
    poses = node.build(**DEFAULTS, pose_images=torch.full((16, 24, 3), 0.5))[0]
    assert len(poses) == 1 and tuple(poses.frames.frames.shape[1:3]) == (16, 24)
    rgba = node.build(**DEFAULTS, pose_images=torch.full((2, 16, 24, 4), 0.5))[0]
    assert len(rgba) == 2 and rgba.frames.frames.shape[-1] == 3


def test_pose_images_start_frame_at_the_end_says_use_a_smaller_one(node, core):
    """Kills: _rendered 11 (>= became >), 12-14 (message)."""
    message = error_of(core, lambda: node.build(**DEFAULTS, pose_images=torch.zeros(5, 8, 8, 3), start_frame=5))
    assert message == "start_frame 5 is past the end of pose_images (5 frames); use a smaller start_frame."


def test_pose_images_resampled_to_target_fps_keep_every_other_frame(node):
    """Kills: _rendered 31 (the resampled frames replaced by the first ones)."""
    images = torch.arange(7, dtype=torch.float32).mul(30 / 255)[:, None, None, None].expand(7, 8, 8, 3)
    poses = node.build(**{**DEFAULTS, "target_fps": 15.0}, pose_images=images, start_frame=1)[0]
    assert poses.frames.frames[:, 0, 0, 0].tolist() == [30, 90, 150]  # source frames 1, 3, 5
    assert poses.fps == 15.0


def test_pose_images_refuse_retarget(node, core):
    """Kills: build 11-16 (message)."""
    message = error_of(core, lambda: node.build(**{**DEFAULTS, "retarget": True}, pose_images=torch.zeros(2, 8, 8, 3)))
    assert message == ("retarget needs keypoints, but pose_images are already rendered skeletons. Connect video, "
                       "frames or pose_keypoint instead, or turn retarget off.")


# ---- retarget -------------------------------------------------------------------------------------------------
def test_retarget_without_reference_message(node, core):
    """Kills: build 104-109 (message)."""
    message = error_of(core, lambda: node.build(**{**DEFAULTS, "retarget": True}, pose_json=dance_json(2, (160, 240)),
                                                **CANVAS))
    assert message == ("retarget is on but no reference is connected: connect Disentangle Image's reference output "
                       "to Pose Sequence, or turn retarget off.")


def test_reference_photo_reaches_the_detector_as_rgb_uint8_and_no_person_says_what_to_do(node, mod, core,
                                                                                         monkeypatch):
    """Kills: _to_uint8 1-10 (clamp 0..1, x255, uint8, RGB only), _retarget 6/9 (models_dir), 12-19 (message)."""
    seen = []

    def detect_poses(image, **kwargs):
        seen.append((image, kwargs))
        return mod.PoseSequence(np.zeros((1, 18, 3), np.float32), (3, 2))
    monkeypatch.setattr(mod, "detect_poses", detect_poses)
    monkeypatch.setattr(mod.glue, "annotator_folder", lambda: "ANNOTATORS")
    image = torch.tensor([-0.5, 0.2, 1.7, 0.3])[None, :, None, None].expand(1, 4, 2, 3)  # R, G, B, alpha
    reference = SimpleNamespace(image=image)
    message = error_of(core, lambda: node.build(**{**DEFAULTS, "detector": "dwpose", "retarget": True},
                                                reference=reference, pose_json=dance_json(2, (160, 240)), **CANVAS))
    assert message == ("retarget: the dwpose pose detector found no person in the reference photo (the image given "
                       "to Disentangle Image), so there is no body to retarget onto. Use a photo in which the "
                       "person is clearly visible from head to hips (colour helps the built-in detector), try "
                       "another detector, or turn retarget off.")
    ((photo, kwargs),) = seen
    assert kwargs == {"backend": "dwpose", "models_dir": "ANNOTATORS"}
    assert isinstance(photo, np.ndarray) and photo.dtype == np.uint8 and photo.shape == (1, 2, 3, 3)
    assert (photo == np.array([0, 51, 255], np.uint8)).all()


# ---- the preview (UI output) --------------------------------------------------------------------------------
@pytest.fixture
def previewed(mod, monkeypatch):
    seen = []
    monkeypatch.setattr(mod.previews, "pose_preview", lambda *args, **kwargs: seen.append((args, kwargs)) or "UI")
    monkeypatch.setattr(mod, "_retarget", lambda seq, reference, detector: seq)
    return seen


def test_preview_gets_the_poses_reference_fps_and_start_frame_and_retargeted(node, previewed):
    """Kills: build_with_preview 1-5, 7-23, 26-29, 31-33, 35-38."""
    reference = SimpleNamespace(image=torch.zeros(1, 3, 24, 16))
    out = node.build_with_preview(**{**DEFAULTS, "retarget": True, "target_fps": 15.0}, reference=reference,
                                  pose_json=dance_json(9, (160, 240)), **CANVAS, start_frame=2)
    assert set(out) == {"ui", "result"} and out["ui"] == "UI" and len(out["result"]) == 4
    ((args, kwargs),) = previewed
    assert args[0] is out["result"][0] and args[1] is reference and args[2] == 15.0
    assert kwargs == {"retargeted": True, "start_frame": 2}


def test_preview_is_not_retargeted_when_retarget_is_off_and_starts_at_0_by_default(node, previewed):
    """Kills: build_with_preview 6 (retarget or reference), 30 (start_frame and 0), 34 (default 1)."""
    reference = SimpleNamespace(image=torch.zeros(1, 3, 24, 16))
    node.build_with_preview(**DEFAULTS, reference=reference, pose_json=dance_json(3, (160, 240)), **CANVAS)
    node.build_with_preview(**DEFAULTS, pose_json=dance_json(3, (160, 240)), **CANVAS, start_frame=1)
    assert [kw for _, kw in previewed] == [{"retargeted": False, "start_frame": 0},
                                           {"retargeted": False, "start_frame": 1}]
    assert previewed[0][0][1] is reference and previewed[1][0][1] is None


# ---- widget hints ----------------------------------------------------------------------------------------------
def test_pose_json_is_a_multiline_box_with_a_placeholder(node):
    """Kills: INPUT_TYPES 103-110."""
    options = node.INPUT_TYPES()["optional"]["pose_json"][1]
    assert options["multiline"] is True
    assert options["placeholder"] == "OpenPose, DisCo or POSE_KEYPOINT JSON (optional)"
