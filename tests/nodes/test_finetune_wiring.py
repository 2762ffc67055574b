"""DisCo Fine-Tune node wiring: what reaches the training (frames kept, their size, masks, poses, settings, the
device and the memory asked of ComfyUI), what the user sees (progress bar, Cancel, the resume file, messages,
the output model's name) and the canvas contract (hidden node id, lr rounding, fixed seed).

Where training itself is not the point, the trainer is replaced by a recorder that stops the node before any
step (`stop_at_trainer`); the rest runs the tiny model for a step or three."""
from __future__ import annotations

import logging
from importlib import import_module

import pytest
import torch

from tests.synthetic_inputs import person_clip

MiB = 2**20
TUNE = dict(steps=3, lr=1e-3, trainable="lora", batch_size=1, seed=0, lora_rank=2, size=32)


class _Stop(Exception):
    """Raised by the recorders to end the node where the test has seen what it needs."""


class _Cancel(Exception):
    """Stands for ComfyUI's InterruptProcessingException."""


@pytest.fixture
def fine_tune_module(pack):
    return import_module(pack.__name__ + ".finetune")


@pytest.fixture
def glue(pack):
    return import_module(pack.__name__ + ".comfy_glue")


@pytest.fixture
def node(pack):
    return pack.NODE_CLASS_MAPPINGS["DisCoFineTune"]()


@pytest.fixture
def base(pack, model_env):
    (model,) = pack.NODE_CLASS_MAPPINGS["DisCoModelLoader"]().load("tiny.safetensors", "fp32", "auto")
    return model


@pytest.fixture
def pose_input(pack):
    """DISCO_POSES carrying already drawn skeletons [T,3,H,W]; `.drawn` lists the frames drawn so far."""
    sockets = import_module(pack.__name__ + ".sockets")
    frames_module = import_module(pack.__name__.rsplit(".", 1)[0] + ".disco_core.pose.frames")

    class Counting(frames_module.TensorFrames):
        def __init__(self, poses):
            super().__init__(poses)
            self.drawn = []

        def model_input(self, start, stop, height, width, mode="crop"):
            self.drawn.extend(range(start, stop))
            return super().model_input(start, stop, height, width, mode)

    return lambda rendered: sockets.DiscoPoses(Counting(rendered))


@pytest.fixture
def stop_at_trainer(fine_tune_module, monkeypatch):
    """Replaces FineTuner: records (person, settings, device) and stops the node."""
    seen = {}

    def recorder(model, person, settings, device=None):
        seen.update(person=person, settings=settings, device=device)
        raise _Stop

    monkeypatch.setattr(fine_tune_module, "FineTuner", recorder)
    return seen


@pytest.fixture
def stop_at_prepare(fine_tune_module, monkeypatch):
    """Replaces prepare_person: records its arguments and stops the node."""
    seen = {}

    def recorder(images, masks, poses, **kwargs):
        seen.update(images=images, masks=masks, poses=poses, **kwargs)
        raise _Stop

    monkeypatch.setattr(fine_tune_module, "prepare_person", recorder)
    return seen


@pytest.fixture
def progress(glue, monkeypatch):
    """Replaces ComfyUI's progress bar: records how it was made and the steps it was shown."""
    seen = {"made": [], "steps": []}

    def training_progress(total, node_id=None):
        seen["made"].append((total, node_id))
        return lambda report: seen["steps"].append(report.step)

    monkeypatch.setattr(glue, "training_progress", training_progress)
    return seen


def _run(node, model, frames, **kw):
    return node.fine_tune(model, frames, **{**TUNE, "save_name": "", **kw})


def _stopped(node, model, frames, **kw):
    with pytest.raises(_Stop):
        _run(node, model, frames, **kw)


# ------------------------------------------------------------------------------------------- canvas contract
def test_node_asks_comfyui_for_its_node_id_under_the_argument_name(node):
    """INPUT_TYPES 148-153: the progress bar and loss text find their node only through the hidden id."""
    assert node.INPUT_TYPES()["hidden"] == {"unique_id": "UNIQUE_ID"}


def test_lr_widget_keeps_its_smallest_values(node):
    """INPUT_TYPES 38-40: the frontend rounds to `round` (else to `step`, 1e-5): 1e-7 (the minimum) must be settable."""
    options = node.INPUT_TYPES()["required"]["lr"][1]
    assert options.get("round") == 1e-7


def test_seed_widget_has_no_randomise_after_run(node):
    """INPUT_TYPES 73-75: a seed randomised after each run would retrain every time and never resume."""
    options = node.INPUT_TYPES()["required"]["seed"][1]
    assert options.get("control_after_generate") is False


# ----------------------------------------------------------------------------------------------- messages
def test_an_empty_frames_input_is_named_in_the_message(node, base, core):
    """fine_tune 16, 18-20: the error names the 'frames' input."""
    with pytest.raises(core.InputError, match="'frames' is empty"):
        _run(node, base, torch.zeros(0, 8, 8, 3))


def test_a_malformed_mask_is_named_in_the_message(node, base, core):
    """fine_tune 26, 32, 33: the error names the 'mask' input."""
    frames, _, _ = person_clip()
    with pytest.raises(core.InputError, match="'mask' must be a MASK"):
        _run(node, base, frames, mask=torch.zeros(3, 48, 40, 3))


def test_poses_without_pose_frames_are_refused_with_the_fix(node, base, core):
    """_training_poses 6, 10-13: anything but Pose Sequence's output is an InputError saying what to connect."""
    frames, mask, _ = person_clip()
    with pytest.raises(core.InputError) as caught:
        _run(node, base, frames, mask=mask, poses=object())
    assert str(caught.value) == "the poses input carries no pose frames; connect Pose Sequence's poses output"


# --------------------------------------------------------------------------------- what reaches the training
def test_no_mask_and_no_poses_reach_the_detectors_as_missing(node, base, stop_at_prepare):
    """fine_tune 22, 34: without mask/poses, prepare_person gets None for both (its detectors then run)."""
    frames, _, _ = person_clip()
    _stopped(node, base, frames)
    assert stop_at_prepare["masks"] is None and stop_at_prepare["poses"] is None


def test_max_frames_and_short_side_reach_the_frame_choice_without_poses(node, base, stop_at_prepare):
    """fine_tune 49, 50, 54, 55: with poses detected, prepare_person picks max_frames and downsizes to 384 px."""
    frames, _, _ = person_clip(5)
    _stopped(node, base, frames, max_frames=2)
    assert stop_at_prepare["max_frames"] == 2
    assert stop_at_prepare["short_side"] == 384  # SHORT_SIDE, the documented training short side


def test_poses_without_a_mask_leave_the_mask_to_the_segmenter(node, base, pose_input, stop_at_prepare):
    """_training_poses 44, 45: connected poses and no mask: no mask is made up (prepare_person segments)."""
    frames, _, rendered = person_clip()
    _stopped(node, base, frames, poses=pose_input(rendered), max_frames=2)
    assert stop_at_prepare["masks"] is None and len(stop_at_prepare["poses"]) == 2


def test_large_frames_are_trained_at_a_384_pixel_short_side(node, base, pose_input, stop_at_trainer):
    """fine_tune 50, 55: 400x480 frames reach training downsized to 384x461 (short side 384, aspect kept)."""
    frames = torch.rand(2, 400, 480, 3) * 0.2
    frames[:, 100:300, 200:260] = torch.tensor([0.9, 0.15, 0.1])
    mask = torch.zeros(2, 400, 480)
    mask[:, 100:300, 200:260] = 1
    _stopped(node, base, frames, mask=mask, poses=pose_input(torch.rand(2, 3, 400, 480)))
    assert tuple(stop_at_trainer["person"].frames.shape[-2:]) == (384, 461)  # 480 * 384 / 400 = 460.8


def test_only_the_kept_frames_have_their_skeletons_drawn(node, base, pose_input, stop_at_trainer):
    """_training_poses 20, fine_tune 40: 5 frames, max_frames 2: only frames 0 and 4 are drawn (a long clip's
    skeletons never all exist at once), and 2 frames train."""
    frames, mask, rendered = person_clip(5)
    poses = pose_input(rendered)
    _stopped(node, base, frames, mask=mask, poses=poses, max_frames=2)
    assert sorted(poses.frames.drawn) == [0, 4]
    assert len(stop_at_trainer["person"]) == 2


def test_four_frames_with_four_poses_are_accepted(node, base, pose_input, stop_at_trainer):
    """_training_poses 15: the pose count is checked against the frame count (not the 3 colour channels)."""
    frames, mask, rendered = person_clip(4)
    _stopped(node, base, frames, mask=mask, poses=pose_input(rendered))
    assert len(stop_at_trainer["person"]) == 4


def test_skeletons_of_another_aspect_are_padded_not_cropped(node, base, pose_input, stop_at_trainer):
    """_training_poses 37: a skeleton at the right edge of a wider pose canvas stays in the training poses."""
    frames, mask, _ = person_clip(2)  # 48 x 40
    rendered = torch.zeros(2, 3, 48, 80)  # twice as wide: cropping to 40 wide would cut columns 60..79 away
    rendered[:, 1, 8:38, 72:78] = 1
    _stopped(node, base, frames, mask=mask, poses=pose_input(rendered))
    poses = stop_at_trainer["person"].poses
    assert float(poses[..., 34:40].amax()) > 0.5  # pad: the canvas halves to 24 x 40, x 72..77 -> 36..38


def test_one_mask_serves_every_frame_with_poses(node, base, pose_input, stop_at_trainer):
    """_training_poses 48: a single mask with connected poses is used for every kept frame."""
    frames, mask, rendered = person_clip(3)
    _stopped(node, base, frames, mask=mask[:1], poses=pose_input(rendered))
    person = stop_at_trainer["person"]
    assert len(person) == 3 and torch.equal(person.masks[0], person.masks[2])


def test_two_masks_follow_the_frame_kept(node, base, pose_input, stop_at_trainer):
    """_training_poses 49: 2 frames, 2 masks, max_frames 1: frame 0 trains with its own mask."""
    frames, mask, rendered = person_clip(2)
    _stopped(node, base, frames, mask=mask, poses=pose_input(rendered), max_frames=1)
    person = stop_at_trainer["person"]
    assert len(person) == 1 and torch.equal(person.masks[0, 0], mask[0])


def test_size_sets_both_training_height_and_width(node, base, pose_input, stop_at_trainer):
    """fine_tune 72, 73: size 64 trains 64 x 64 crops."""
    frames, mask, rendered = person_clip()
    _stopped(node, base, frames, mask=mask, poses=pose_input(rendered), size=64)
    settings = stop_at_trainer["settings"]
    assert (settings.height, settings.width) == (64, 64)


def test_memory_request_and_device_come_from_comfyui_outside_inference_mode(node, base, pose_input,
                                                                              stop_at_trainer, monkeypatch):
    """fine_tune 80-88, 93, 97: batch 2 at size 128 asks ComfyUI for 300 MiB, outside inference mode (ComfyUI
    runs nodes inside it; weights moved there could not train), and trains on the device ComfyUI gives."""
    asked = []
    device = torch.device("cpu")

    def ready(memory_required=0):
        asked.append((memory_required, torch.is_inference_mode_enabled()))
        return device

    monkeypatch.setattr(base, "ready", ready)
    frames, mask, rendered = person_clip()
    with torch.inference_mode():
        _stopped(node, base, frames, mask=mask, poses=pose_input(rendered), batch_size=2, size=128)
    assert asked == [(300 * MiB, False)]  # 600 MiB per 256 px sample x 2 samples x (128/256)^2
    assert stop_at_trainer["device"] is device


# ---------------------------------------------------------------------- progress, Cancel, resume, the output
def test_progress_bar_counts_the_steps_on_this_node(node, base, pose_input, progress):
    """fine_tune 116, 119, 122-125: the bar is made for `steps` on this node and sees every step."""
    frames, mask, rendered = person_clip()
    _run(node, base, frames, mask=mask, poses=pose_input(rendered), unique_id="17")
    assert progress["made"] == [(3, "17")] and progress["steps"] == [1, 2, 3]


def test_cancel_keeps_a_state_file_the_same_settings_resume_from(node, base, pose_input, progress, glue,
                                                                 model_env, monkeypatch):
    """fine_tune 98, 100, 108, 109, 111, 117, 118, 120, 121, 135; _resume_if_possible 1, 3; _remove 3: Cancel
    after step 1 keeps personal/me.state.safetensors; rerun resumes at step 2, saves me.safetensors and
    deletes the state file."""
    frames, mask, rendered = person_clip()
    checks = []

    def cancel_after_one_step():
        checks.append(1)
        if len(checks) == 2:
            raise _Cancel

    monkeypatch.setattr(glue, "raise_if_interrupted", cancel_after_one_step)
    personal = model_env / "personal"
    with pytest.raises(_Cancel):
        _run(node, base, frames, mask=mask, poses=pose_input(rendered), save_name="me")
    assert progress["steps"] == [1]
    assert (personal / "me.state.safetensors").is_file() and not (personal / "me.safetensors").exists()

    progress["steps"].clear()
    monkeypatch.setattr(glue, "raise_if_interrupted", lambda: False)
    tuned, _ = _run(node, base, frames, mask=mask, poses=pose_input(rendered), save_name="me")
    assert progress["steps"] == [2, 3]
    assert (personal / "me.safetensors").is_file() and not (personal / "me.state.safetensors").exists()
    assert tuned.name == "tiny.safetensors + me"


def test_a_foreign_state_file_is_reported_and_training_starts_over(node, base, pose_input, progress, model_env,
                                                                   caplog):
    """_resume_if_possible 4-12: the warning names the file and why, then all steps run."""
    state = model_env / "personal" / "me.state.safetensors"
    state.parent.mkdir(exist_ok=True)
    state.write_bytes(b"not a state file")
    frames, mask, rendered = person_clip()
    with caplog.at_level(logging.WARNING, logger="DisCo"):
        _run(node, base, frames, mask=mask, poses=pose_input(rendered), save_name="me", steps=1)
    (message,) = [r.getMessage() for r in caplog.records if "resuming" in r.getMessage()]
    assert message.startswith(f"DisCo Fine-Tune: not resuming from {state} (cannot read fine-tuning state")
    assert message.endswith("); starting over")
    assert progress["steps"] == [1] and not state.exists()


def test_a_run_that_saves_nothing_is_named_fine_tune_and_needs_no_checkpoint_hash(node, base, pose_input,
                                                                                  fine_tune_module, monkeypatch):
    """fine_tune 77, 142-149: no save_name: output named "<model> + fine-tune", checkpoint never hashed."""
    def no_hash(model):
        raise AssertionError("the checkpoint was hashed for a run that saves nothing")

    monkeypatch.setattr(fine_tune_module, "base_identity", no_hash)
    frames, mask, rendered = person_clip()
    tuned, _ = _run(node, base, frames, mask=mask, poses=pose_input(rendered), steps=1)
    assert tuned.name == "tiny.safetensors + fine-tune"
    assert "tiny.safetensors + fine-tune" in repr(tuned)
