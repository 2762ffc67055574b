"""Skeletons drawn per chunk at the sampler's size (pose.frames) are exactly what rendering every frame at the
canvas size and fitting the whole batch gave, and match the official model-size renders."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from disco_core.pose import PoseSequence, render_pose_sequence
from disco_core.pose.frames import ImageFrames, KeypointFrames, preview_indices
from disco_core.media.images import fit
from tests.paths import SHARED_DATA_REASON

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
SETS = [("001", "data/sequences/001/openpose_json", (1080, 1920)),
        ("002", "data/sequences/002/openpose_json", (604, 1080)),
        ("disco_demo", "data/disco_demo/pose_json", (604, 1080))]


def _sequence(folder, canvas):
    files = sorted((SHARED / folder).glob("*.json"))
    if not files:
        pytest.skip(SHARED_DATA_REASON)
    return PoseSequence.from_disco_json([json.loads(f.read_text()) for f in files], canvas), files


def _whole_batch(seq):
    """What the sampler got before: every frame rendered at the canvas size, float 0..1, [T,3,H,W]."""
    return torch.from_numpy(render_pose_sequence(seq)).float().div_(255.0).permute(0, 3, 1, 2).contiguous()


@pytest.mark.parametrize("name,folder,canvas", SETS[:2], ids=["1080x1920", "604x1080"])
@pytest.mark.parametrize("mode", ["crop", "pad", "official"])
def test_chunks_are_bit_identical_to_fitting_full_renders(name, folder, canvas, mode):
    """Mutation seen failing: padding the part of the window outside the frame with the edge instead of black."""
    seq, _ = _sequence(folder, canvas)
    full = _whole_batch(seq)
    frames = KeypointFrames(seq)
    for height, width in ((256, 256), (384, 256), (256, 384)):
        torch.testing.assert_close(frames.model_input(2, 7, height, width, mode),
                                   fit(full[2:7], height, width, mode), rtol=0, atol=0)


@pytest.mark.parametrize("name,folder,canvas", SETS, ids=[s[0] for s in SETS])
def test_model_size_renders_match_the_official_cond_images(name, folder, canvas):
    """The official 256x256 conditioning images (../shared/reference/pose_render/cond) against our per-chunk
    renders: the same pixels up to the resize filter's rounding (PIL uint8 vs torch float)."""
    cond_dir = SHARED / "reference" / "pose_render" / "cond"
    if not cond_dir.is_dir():
        pytest.skip(SHARED_DATA_REASON)
    seq, files = _sequence(folder, canvas)
    ours = KeypointFrames(seq).model_input(0, len(seq), 256, 256, "official")
    for t, f in enumerate(files):
        ref = np.asarray(Image.open(cond_dir / f"{name}_{f.name.split('.')[0]}.png").convert("RGB")).astype(int)
        got = (ours[t].permute(1, 2, 0).numpy() * 255).round().astype(int)
        assert (np.abs(got - ref) <= 1).mean() >= 0.999, f.name


def test_rendered_pose_images_are_kept_small_as_uint8():
    images = torch.rand(3, 1920, 1080, 3)
    kept = ImageFrames(images)
    assert kept.frames.dtype == np.uint8 and kept.size == (288, 512)
    assert kept.model_input(0, 3, 64, 64).shape == (3, 3, 64, 64)
    small = torch.rand(2, 256, 200, 3)
    assert ImageFrames(small).size == (200, 256)


def test_preview_indices_spread_over_the_clip():
    assert preview_indices(5, 64) == [0, 1, 2, 3, 4]
    picked = preview_indices(1800, 64)
    assert len(picked) == 64 and picked[0] == 0 and picked[-1] == 1799
    assert max(np.diff(picked)) - min(np.diff(picked)) <= 1


def test_pad_window_outside_the_frame_is_black():
    """A limb running off the frame's right edge: in 'pad' mode the window reaches past that edge, and what lies
    there must be black as in fit(). Mutation seen failing: padding with the edge pixels instead."""
    kp = np.zeros((2, 18, 3), np.float32)
    kp[..., :2] = np.nan
    kp[:, 1] = (340.0, 200.0, 1.0)   # neck off the frame, right shoulder inside: limb 0 crosses x = 300
    kp[:, 2] = (250.0, 210.0, 1.0)
    kp[:, 5] = (360.0, 190.0, 1.0)
    seq = PoseSequence(kp, (300, 500))
    full = _whole_batch(seq)
    assert full[..., -1].amax() > 0  # the limb reaches the right edge
    got = KeypointFrames(seq).model_input(0, 2, 256, 256, "pad")
    torch.testing.assert_close(got, fit(full, 256, 256, "pad"), rtol=0, atol=0)
