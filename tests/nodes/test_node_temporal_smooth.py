"""Temporal Smooth node: same frame count and size, strength 0 is the identity, flicker goes down."""
import torch

from tests.synthetic_inputs import moving_clip


def test_same_count_identity_at_zero_and_less_flicker(pack):
    node = pack.NODE_CLASS_MAPPINGS["DisCoTemporalSmooth"]()
    clip = moving_clip(8, 96, 96)
    gain = 1.0 + 0.15 * torch.tensor([(-1) ** i for i in range(8)], dtype=torch.float32)
    flicker = (clip * gain[:, None, None, None]).clamp(0, 1)
    (same,) = node.smooth(flicker, strength=0.0)
    torch.testing.assert_close(same, flicker)
    (out,) = node.smooth(flicker, strength=0.8, flow_scale=1.0, bidirectional=True)
    assert out.shape == flicker.shape and out.dtype == torch.float32
    mse = lambda a: ((a - clip) ** 2).mean().item()
    assert mse(out) < mse(flicker)
