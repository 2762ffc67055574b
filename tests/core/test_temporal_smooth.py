"""Temporal Smooth removes synthetic flicker from a real clip without hurting it."""
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.temporal_smooth import add_flicker
from disco_core.errors import InputError
from disco_core.temporal_smooth import psnr, reference_flows, temporal_smooth, temporal_warp_error
from disco_core.video_io import read_frames

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CLIP = SHARED / "data" / "clips" / "dance_fullbody_350.webp"


@pytest.fixture(scope="module")
def clean():
    if not CLIP.exists():
        pytest.skip(f"shared test clip not found at {CLIP} (needs the project's shared/ data folder)")
    return torch.from_numpy(read_frames(CLIP)[0]).float() / 255


def test_removes_most_flicker_and_restores_psnr(clean):
    noisy = add_flicker(clean, seed=0)
    calls = []
    smooth = temporal_smooth(noisy, 0.75, on_frame=lambda done, total: calls.append((done, total)))
    assert smooth.shape == clean.shape and smooth.dtype == clean.dtype
    assert calls[-1] == (2 * len(clean), 2 * len(clean))

    flows = reference_flows(clean)  # one flow for all three clips keeps the comparison fair
    e_clean, e_noisy, e_smooth = (temporal_warp_error(c, flows=flows) for c in (clean, noisy, smooth))
    removed = (e_noisy - e_smooth) / (e_noisy - e_clean)
    assert e_noisy > 3 * e_clean  # the synthetic flicker is actually visible to the metric
    assert removed >= 0.5, f"only {removed:.0%} of the flicker excess removed"
    assert psnr(smooth, clean) > psnr(noisy, clean) + 2.0


def test_strength_zero_is_identity_and_count_preserved(clean):
    frames = add_flicker(clean[:6], seed=1)
    assert torch.equal(temporal_smooth(frames, 0.0), frames)
    out = temporal_smooth(frames, 0.5, flow_scale=0.5, bidirectional=False)
    assert out.shape == frames.shape
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_numpy_in_numpy_out_and_single_frame():
    rng = np.random.default_rng(0)
    frames = rng.random((3, 32, 40, 3), dtype=np.float32)
    out = temporal_smooth(frames, 0.5)
    assert isinstance(out, np.ndarray) and out.shape == frames.shape
    np.testing.assert_array_equal(temporal_smooth(frames[:1], 1.0), frames[:1])


def test_static_scene_is_smoothed_towards_the_mean():
    # identical content with pure gain flicker: the filter should pull frames together
    base = torch.rand(1, 48, 48, 3) * 0.5 + 0.25
    gains = torch.tensor([1.0, 1.2, 0.85, 1.15, 0.9, 1.1]).view(-1, 1, 1, 1)
    frames = (base * gains).clamp(0, 1)
    out = temporal_smooth(frames, 1.0)
    spread = lambda x: float(x.mean(dim=(1, 2, 3)).std())  # noqa: E731
    assert spread(out) < 0.5 * spread(frames)


def test_bad_inputs_raise_input_error():
    with pytest.raises(InputError, match=r"\[T,H,W,3\]"):
        temporal_smooth(torch.zeros(4, 8, 8))
    with pytest.raises(InputError, match="float"):
        temporal_smooth(torch.zeros(2, 8, 8, 3, dtype=torch.uint8))
    with pytest.raises(InputError, match="strength"):
        temporal_smooth(torch.zeros(2, 8, 8, 3), 1.5)


def test_psnr():
    a = np.zeros((2, 4, 4, 3), np.float32)
    assert psnr(a, a) == float("inf")
    assert psnr(a, a + 0.1) == pytest.approx(20.0, abs=1e-3)
