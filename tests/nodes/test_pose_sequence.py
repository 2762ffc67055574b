"""Pose Sequence from every source: rendered skeletons, POSE_KEYPOINT, pose JSON text, a driving video."""
import json

import numpy as np
import pytest
import torch

from conftest import image_tensor
from tests.synthetic_inputs import dance_json, skeleton_images

DEFAULTS = dict(detector="builtin", fps=30.0, target_fps=0.0, max_frames=0, smoothing=0.0, retarget=False)


@pytest.fixture
def node(pack):
    return pack.NODE_CLASS_MAPPINGS["DisCoPoseSequence"]()


@pytest.fixture(scope="module")
def sequence_json():
    """A generated dancer on a 604x1080 canvas: nine frames of DisCo JSON in one list."""
    return dance_json(9, (604, 1080))


@pytest.fixture(scope="module")
def real_sequence_json(shared_data):
    """Sequence 002 (604x1080): nine frames of DisCo JSON, merged into one list."""
    files = sorted((shared_data / "sequences" / "002" / "openpose_json").glob("*.json"))
    return json.dumps([json.loads(f.read_text()) for f in files])


def test_rendered_pose_images_pass_through_with_resampling(node):
    images = skeleton_images(5, (128, 96))
    poses, preview, fps, _ = node.build(**DEFAULTS, pose_images=images)
    assert len(poses) == 5 and fps == 30.0
    torch.testing.assert_close(preview, images)  # 256x256 skeletons are kept as they are (uint8)
    assert poses.frames.frames.dtype == np.uint8
    halved, _, fps, _ = node.build(**{**DEFAULTS, "target_fps": 15.0}, pose_images=images)
    assert fps == 15.0 and len(halved) == 2  # round(5 * 15 / 30) frames, keeping the clip's duration
    assert len(node.build(**{**DEFAULTS, "max_frames": 2}, pose_images=images)[0]) == 2


def test_pose_json_renders_disco_skeletons_on_the_source_canvas(node, sequence_json):
    poses, preview, fps, _ = node.build(**DEFAULTS, pose_json=sequence_json, canvas_width=604, canvas_height=1080)
    assert len(poses) == 9 and fps == 30.0
    assert preview.shape == (9, 512, 286, 3)  # previews are at most 512 px long
    assert poses.frames.size == (604, 1080) and poses.keypoints.canvas == (604, 1080)
    assert poses.frames.model_input(0, 9, 256, 256).shape == (9, 3, 256, 256)
    assert preview.max() > 0.5 and preview.mean() < 0.2  # coloured limbs on black


def test_pose_json_without_a_canvas_says_what_to_give(node, sequence_json, core):
    with pytest.raises(core.InputError, match="canvas"):
        node.build(**DEFAULTS, pose_json=sequence_json)


def test_pose_keypoint_round_trip_matches_the_json_render(node, sequence_json, core):
    from importlib import import_module

    pose = import_module(core.__name__ + ".pose")
    seq = pose.parse_pose_text(sequence_json, canvas=(604, 1080))
    from_json = node.build(**DEFAULTS, pose_json=sequence_json, canvas_width=604, canvas_height=1080)[1]
    from_kp = node.build(**DEFAULTS, pose_keypoint=seq.to_pose_keypoint())[1]
    assert from_kp.shape == from_json.shape
    assert (from_kp - from_json).abs().gt(0.1).float().mean() < 0.01


def test_smoothing_and_max_frames(node, sequence_json):
    raw = node.build(**DEFAULTS, pose_json=sequence_json, canvas_width=604, canvas_height=1080)[0]
    smooth = node.build(**{**DEFAULTS, "smoothing": 0.8, "max_frames": 6}, pose_json=sequence_json,
                        canvas_width=604, canvas_height=1080)[0]
    assert len(smooth) == 6
    assert (smooth.frames.model_input(0, 6, 128, 128) - raw.frames.model_input(0, 6, 128, 128)).abs().sum() > 0


@pytest.mark.shared_data
def test_detects_poses_in_a_driving_video(node, driving_frames):
    pytest.importorskip("mediapipe")
    poses, preview, fps, _ = node.build(**{**DEFAULTS, "fps": 15.0, "max_frames": 3}, frames=driving_frames)
    assert len(poses) == 3 and preview.shape == (3, 350, 350, 3) and fps == 15.0
    assert poses.keypoints.present.sum(axis=1).min() >= 10  # a full body is found in each frame


def test_no_source_is_an_actionable_error(node, core):
    with pytest.raises(core.InputError, match="Connect one pose source"):
        node.build(**DEFAULTS)


def test_retarget_without_reference_says_what_to_connect(node, sequence_json, core):
    with pytest.raises(core.InputError, match="reference"):
        node.build(**{**DEFAULTS, "retarget": True}, pose_json=sequence_json, canvas_width=604,
                   canvas_height=1080)


@pytest.mark.shared_data
def test_retarget_moves_the_driving_skeleton_onto_the_reference_body(node, pack, real_sequence_json, shared_data):
    """Driver: sequence 002; reference: a disco_demo photo. The retargeted figure sits where the photo's
    person is, with the photo's proportions, and the frame count is kept."""
    pytest.importorskip("mediapipe")
    photo = image_tensor(shared_data / "disco_demo" / "images" / "00035.png")
    mask = image_tensor(shared_data / "disco_demo" / "masks" / "00035.png")[..., 0]
    reference = pack.NODE_CLASS_MAPPINGS["DisCoDisentangleImage"]().disentangle(image=photo, mask=mask)[0]
    plain = node.build(**DEFAULTS, pose_json=real_sequence_json, canvas_width=604, canvas_height=1080)[0]
    fitted = node.build(**{**DEFAULTS, "retarget": True}, pose_json=real_sequence_json, canvas_width=604,
                        canvas_height=1080, reference=reference)[0]
    assert len(fitted) == len(plain) == 9
    assert fitted.frames.size == (reference.image.shape[-1], reference.image.shape[-2])
    # the skeleton's pixels fall inside the photo's person mask much more often than before retargeting
    person = reference.mask[0, 0] > 0.5

    def on_person(poses):
        w, h = poses.frames.size
        rendered = torch.stack([torch.from_numpy(poses.frames.frame(t)).permute(2, 0, 1) / 255.0
                                for t in range(len(poses))])
        if (w, h) != tuple(person.shape[::-1]):
            rendered = torch.nn.functional.interpolate(rendered, size=tuple(person.shape), mode="bilinear")
        drawn = rendered.amax(dim=1) > 0.2
        return (drawn & person).sum() / drawn.sum()
    assert on_person(fitted) > 0.8
    assert on_person(fitted) > on_person(plain) + 0.05
