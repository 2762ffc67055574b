"""Bad-input corpus, called as plain Python on the nodes: every case ends in an InputError/CheckpointError that
names the input and the fix, or in a handled result. The same corpus runs against a real ComfyUI server in
tests/integration/test_bad_inputs_server.py."""
import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from tests.synthetic_inputs import background, dance_coco17, dance_json, person_photo

POSE = dict(detector="builtin", fps=12.0, target_fps=0.0, max_frames=0, smoothing=0.0, retarget=False)
SAMPLE = dict(seed=7, steps=2, cfg=1.5, scheduler="ddim", width=64, height=64, fit="crop", frames_per_batch=2)
CANVAS = dict(canvas_width=160, canvas_height=240)


@pytest.fixture(scope="module")
def nodes(pack):
    return {k: v() for k, v in pack.NODE_CLASS_MAPPINGS.items()}


@pytest.fixture(scope="module")
def model(nodes, models_dir):
    import os

    os.environ["DISCO_MODELS_DIR"] = str(models_dir)
    try:
        return nodes["DisCoModelLoader"].load("tiny.safetensors", "fp32", "auto")[0]
    finally:
        del os.environ["DISCO_MODELS_DIR"]


@pytest.fixture(scope="module")
def reference(nodes):
    return nodes["DisCoDisentangleImage"].disentangle(*person_photo())[0]


def poses_from_json(nodes, text):
    return nodes["DisCoPoseSequence"].build(**POSE, pose_json=text, **CANVAS)


# ---- driving video -----------------------------------------------------------------------------------------
def test_empty_video_names_the_input(nodes, core):
    with pytest.raises(core.InputError, match="'frames' is empty.*0 frames"):
        nodes["DisCoPoseSequence"].build(**POSE, frames=torch.zeros(0, 64, 64, 3))


def test_an_empty_file_and_a_file_without_pictures_name_the_file_and_the_fix(nodes, core, tmp_path):
    """A 0-byte upload, an mp4 holding only sound and an mkv whose video stream has no frame, given as the driving
    video. Mutations that must fail: drop the 0-byte branch of `video.reader.open_video` (the message falls back
    to "cannot be opened"); drop the start-0 branch in `video.driving.detect_video` ("use a smaller start_frame")."""
    from tests.media import write_sound_only

    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(core.InputError, match=r"empty\.mp4 is empty \(0 bytes\).*Load the video file again"):
        nodes["DisCoPoseSequence"].build(**POSE, video=str(empty))
    song = write_sound_only(tmp_path / "song.mp4", 0.5)
    with pytest.raises(core.InputError, match=r"song\.mp4 has no video stream \(only audio streams\).*Connect a "
                                              r"video with pictures"):
        nodes["DisCoPoseSequence"].build(**POSE, video=str(song))
    hollow = write_sound_only(tmp_path / "hollow.mkv", 0.5, empty_video_stream=True)
    with pytest.raises(core.InputError, match=r"hollow\.mkv has a video stream with 0 frames.*re-encode it"):
        nodes["DisCoPoseSequence"].build(**POSE, video=str(hollow))


def test_no_person_in_any_frame_is_an_error_not_black_skeletons(nodes, core):
    pytest.importorskip("mediapipe", reason='needs mediapipe: pip install "comfyui-disco[pose]"')
    with pytest.raises(core.InputError, match=r"No person was found in any of the 3 frames of frames \(detector "
                                              r"builtin\).*person is visible"):
        nodes["DisCoPoseSequence"].build(**POSE, frames=torch.full((3, 96, 64, 3), 0.3))
    with pytest.raises(core.InputError, match="No person was found in any of the 2 frames of pose_json"):
        poses_from_json(nodes, "[[], []]")


def test_one_frame_of_poses_gives_one_video_frame(nodes, model, reference):
    poses, preview, _, _ = poses_from_json(nodes, dance_json(1, (160, 240)))
    assert len(poses) == 1 and preview.shape == (1, 240, 160, 3)
    frames, _ = nodes["DisCoSampler"].sample(model, reference, poses, **SAMPLE)
    assert frames.shape == (1, 64, 64, 3)


def test_person_in_only_some_frames_holds_the_nearest_pose(nodes):
    people = json.loads(dance_json(4, (160, 240)))
    people[1] = people[2] = []
    poses, preview, _, _ = poses_from_json(nodes, json.dumps(people))
    assert len(poses) == 4  # every frame accounted for
    assert preview[1].max() > 0.5 and torch.equal(preview[1], preview[0]) and torch.equal(preview[2], preview[0])
    assert not torch.equal(preview[3], preview[0])


# ---- keypoints -------------------------------------------------------------------------------------------
def test_nan_inf_and_out_of_canvas_keypoints_are_dropped_joints(nodes):
    kp = dance_coco17(1, (160, 240))[0].astype(np.float64)
    flat = np.zeros((18, 3))
    from disco_core.pose.keypoints import OPENPOSE18_TO_COCO17
    flat[OPENPOSE18_TO_COCO17] = kp
    flat[:, :2] /= (160, 240)  # POSE_KEYPOINT is normalised
    flat[3] = (np.nan, 0.5, 1)       # r_elbow NaN
    flat[4] = (np.inf, -np.inf, 1)   # r_wrist inf
    flat[10] = (1e12, -1e12, 1)      # r_ankle absurdly off the canvas
    frame = {"people": [{"pose_keypoints_2d": flat.ravel().tolist()}], "canvas_width": 160, "canvas_height": 240}
    poses, preview, _, _ = nodes["DisCoPoseSequence"].build(**POSE, pose_keypoint=[frame])
    seq = poses.keypoints
    assert not seq.present[0, [3, 4, 10]].any() and seq.present[0, [0, 2, 5, 6, 7]].all()
    assert torch.isfinite(preview).all() and preview.max() > 0.5


@pytest.mark.parametrize("value", [[[1, 2, 3]], [1, 2, 3], [None], [{"people": "x"}], "not a list"],
                         ids=["list-of-lists", "flat-list", "none-frame", "people-string", "string"])
def test_malformed_pose_keypoint_names_the_input(nodes, core, value):
    with pytest.raises(core.InputError, match="POSE_KEYPOINT"):
        nodes["DisCoPoseSequence"].build(**POSE, pose_keypoint=value)


@pytest.mark.parametrize("text", ['{"foo": 1}', "[1, 2, 3]", '"hello"', "123", "[[1, 2, 3]]", "{not json",
                                  '[{"keypoints": "abc"}]', '{"frames": 3, "canvas_width": 4}', '[{"people": 5}]',
                                  "null"])
def test_text_that_is_not_pose_json_says_what_json_is_expected(nodes, core, text):
    """Every message starts with the input's name and lists the JSON flavours that are read (the POSE_KEYPOINT
    one its own structure). Mutation that must fail: drop `POSE_JSON_HELP` from `_disco_frames`' messages."""
    with pytest.raises(core.InputError, match=r"^pose_json: .*(DisCo JSON \(\[\{\"keypoints\".*OpenPose JSON|"
                                              r"POSE_KEYPOINT is a list)"):
        poses_from_json(nodes, text)


@pytest.mark.parametrize("text,got", [("[[1, 2, 3]]", "a list of lists of numbers"),
                                      ("[1, 2, 3]", "a list of numbers"),
                                      ("[[[1, 2], [3, 4]]]", "a list of lists of lists of numbers"),
                                      ('[{"score": 1}]', "a list of dicts with keys score"),
                                      ('{"foo": 1}', "keys foo")])
def test_numbers_and_lists_are_refused_as_not_pose_json(nodes, core, text, got):
    """Issue 16: such text is not pose JSON, and the node says so (naming what it got), not that a pose is the
    wrong size. Mutation that must fail: dropping `_check_disco_people` in pose/json_format.py."""
    with pytest.raises(core.InputError, match=r"^pose_json: .*not pose JSON") as info:
        poses_from_json(nodes, text)
    assert got in str(info.value) and "17 keypoints" not in str(info.value)


def test_retarget_onto_a_photo_without_a_detectable_person_says_what_to_do(nodes, core):
    """Mutation that must fail: drop the empty-pose check in `nodes.pose_sequence._retarget` (the core's message
    names neither the photo nor the way out)."""
    pytest.importorskip("mediapipe", reason='needs mediapipe: pip install "comfyui-disco[pose]"')
    photo, mask = torch.full((1, 240, 160, 3), 0.4), torch.zeros(1, 240, 160)
    mask[:, 40:200, 50:110] = 1
    nobody = nodes["DisCoDisentangleImage"].disentangle(photo, mask)[0]
    with pytest.raises(core.InputError, match=r"found no person in the reference photo.*turn retarget off"):
        nodes["DisCoPoseSequence"].build(**{**POSE, "retarget": True}, reference=nobody,
                                         pose_json=dance_json(2, (160, 240)), **CANVAS)


# ---- images ----------------------------------------------------------------------------------------------
def test_rgba_and_greyscale_images_work_everywhere(nodes, model):
    photo, mask = person_photo()
    rgba = torch.cat([photo, torch.ones_like(photo[..., :1])], dim=-1)
    grey = photo.mean(-1, keepdim=True)
    for image in (rgba, grey):
        ref, fg, bg, _ = nodes["DisCoDisentangleImage"].disentangle(image, mask)
        assert fg.shape == (1, 240, 160, 3) and ref.image.shape == (1, 3, 240, 160)
    poses = poses_from_json(nodes, dance_json(2, (160, 240)))[0]
    grey_bg = background().mean(-1, keepdim=True)
    frames, _ = nodes["DisCoSampler"].sample(model, ref, poses, background=grey_bg, **SAMPLE)
    assert frames.shape == (2, 64, 64, 3)
    skeletons = torch.stack([torch.from_numpy(poses.frames.frame(t)) for t in range(len(poses))]).float() / 255
    rendered = nodes["DisCoPoseSequence"].build(**POSE, pose_images=skeletons[..., :1])[0]
    assert len(rendered) == 2 and rendered.frames.frame(0).shape[-1] == 3


def test_a_4000x6000_photo_is_brought_to_the_output_size(nodes, model):
    photo = torch.nn.functional.interpolate(person_photo()[0].permute(0, 3, 1, 2), size=(6000, 4000),
                                            mode="nearest").permute(0, 2, 3, 1)
    mask = torch.nn.functional.interpolate(person_photo()[1][None], size=(6000, 4000), mode="nearest")[0]
    ref = nodes["DisCoDisentangleImage"].disentangle(photo, mask)[0]
    poses = poses_from_json(nodes, dance_json(1, (160, 240)))[0]
    frames, _ = nodes["DisCoSampler"].sample(model, ref, poses, **SAMPLE)
    assert frames.shape == (1, 64, 64, 3) and torch.isfinite(frames).all()


def test_mask_of_another_size_is_resized_and_an_empty_mask_is_refused(nodes, core):
    photo, mask = person_photo()
    small = mask[:, ::3, ::3]
    _, _, _, resized = nodes["DisCoDisentangleImage"].disentangle(photo, small)
    assert resized.shape == mask.shape and (resized.round() == mask).float().mean() > 0.95
    with pytest.raises(core.InputError, match="person mask is empty.*LoadImage.*built-in segmenter"):
        nodes["DisCoDisentangleImage"].disentangle(photo, torch.zeros(1, 64, 64))  # LoadImage, no alpha


# ---- checkpoints -----------------------------------------------------------------------------------------
def test_truncated_checkpoint_and_foreign_safetensors_name_the_file(nodes, models_dir, tmp_path, monkeypatch, core):
    folder = tmp_path / "disco"
    folder.mkdir()
    good = (models_dir / "tiny.safetensors").read_bytes()
    (folder / "half.safetensors").write_bytes(good[: len(good) // 2])
    save_file({"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(2, 2)}, str(folder / "sd15.safetensors"))
    monkeypatch.setenv("DISCO_MODELS_DIR", str(folder))
    with pytest.raises(core.CheckpointError, match="half.safetensors.*truncated or corrupt"):
        nodes["DisCoModelLoader"].load("half.safetensors")
    with pytest.raises(core.CheckpointError, match="sd15.safetensors.*not a DisCo checkpoint"):
        nodes["DisCoModelLoader"].load("sd15.safetensors")


# ---- cancel ----------------------------------------------------------------------------------------------
def test_cancel_mid_sampling_then_a_normal_run_gives_the_same_video(nodes, model, reference, pack, monkeypatch):
    """Cancel raises between steps and leaves nothing behind: the next run equals a run that was never
    interrupted."""
    import importlib

    glue = importlib.import_module(pack.__name__.rsplit(".", 1)[0] + ".nodes.comfy_glue")
    poses = poses_from_json(nodes, dance_json(3, (160, 240)))[0]
    expected, _ = nodes["DisCoSampler"].sample(model, reference, poses, **SAMPLE)

    class Interrupted(Exception):
        pass
    calls = {"n": 0}

    def interrupt_on_third_check():
        calls["n"] += 1
        if calls["n"] == 3:
            raise Interrupted("cancel")
        return False
    monkeypatch.setattr(glue, "raise_if_interrupted", interrupt_on_third_check)
    with pytest.raises(Interrupted):
        nodes["DisCoSampler"].sample(model, reference, poses, **SAMPLE)
    monkeypatch.undo()
    again, _ = nodes["DisCoSampler"].sample(model, reference, poses, **SAMPLE)
    torch.testing.assert_close(again, expected, atol=1e-5, rtol=0)
