"""The DisCo Sampler node end to end on the tiny fixture model, a generated photo and generated poses."""
import numpy as np
import pytest
import torch

from tests.synthetic_inputs import background, skeleton_images


@pytest.fixture(scope="module")
def nodes(pack):
    return {k: v() for k, v in pack.NODE_CLASS_MAPPINGS.items()}


@pytest.fixture(scope="module")
def pose_images():
    return skeleton_images(3, (160, 240))


@pytest.fixture(scope="module")
def loaded(nodes, models_dir):
    import os

    os.environ["DISCO_MODELS_DIR"] = str(models_dir)
    try:
        (model,) = nodes["DisCoModelLoader"].load("tiny.safetensors", "fp32", "auto")
    finally:
        del os.environ["DISCO_MODELS_DIR"]
    return model


@pytest.fixture(scope="module")
def reference(nodes, photo, photo_mask):
    return nodes["DisCoDisentangleImage"].disentangle(photo, photo_mask)[0]


@pytest.fixture(scope="module")
def poses(nodes, pose_images):
    return nodes["DisCoPoseSequence"].build("builtin", 12.0, 0.0, 0, 0.0, False, pose_images=pose_images)[0]


SAMPLE = dict(seed=7, steps=2, cfg=1.5, scheduler="ddim", width=64, height=64, fit="crop", frames_per_batch=2)


def test_one_frame_per_pose_as_comfy_image_and_fps_passthrough(nodes, loaded, reference, poses):
    frames, fps = nodes["DisCoSampler"].sample(loaded, reference, poses, **SAMPLE)
    assert frames.shape == (3, 64, 64, 3) and frames.dtype == torch.float32 and frames.device.type == "cpu"
    assert 0.0 <= frames.min() and frames.max() <= 1.0
    assert fps == 12.0


def test_frames_per_batch_does_not_change_the_result(nodes, loaded, reference, poses):
    a, _ = nodes["DisCoSampler"].sample(loaded, reference, poses, **SAMPLE)
    b, _ = nodes["DisCoSampler"].sample(loaded, reference, poses, **{**SAMPLE, "frames_per_batch": 3})
    torch.testing.assert_close(a, b, atol=1e-4, rtol=0)


def test_background_swap_one_or_one_per_frame(nodes, loaded, reference, poses):
    own, _ = nodes["DisCoSampler"].sample(loaded, reference, poses, **SAMPLE)
    bg = background()
    one, _ = nodes["DisCoSampler"].sample(loaded, reference, poses, background=bg, **SAMPLE)
    per_frame, _ = nodes["DisCoSampler"].sample(loaded, reference, poses, background=bg.expand(3, -1, -1, -1),
                                                **SAMPLE)
    assert one.shape == per_frame.shape == own.shape
    assert (one - own).abs().mean() > 1e-4  # the background reaches the output
    assert (per_frame - own).abs().mean() > 1e-4


def test_wrong_background_count_is_an_actionable_error(nodes, loaded, reference, poses, core):
    bg = torch.zeros(2, 32, 32, 3)
    with pytest.raises(core.InputError, match="one per pose frame"):
        nodes["DisCoSampler"].sample(loaded, reference, poses, background=bg, **SAMPLE)


def test_validate_inputs_rejects_sizes_the_vae_cannot_take(pack):
    cls = pack.NODE_CLASS_MAPPINGS["DisCoSampler"]
    assert cls.VALIDATE_INPUTS(width=256, height=256) is True
    assert "multiples of 8" in cls.VALIDATE_INPUTS(width=250, height=256)
    assert "multiples of 8" in cls.VALIDATE_INPUTS(width=8, height=256)
