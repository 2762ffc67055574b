"""Temporal Smooth node: same frame count and size, strength 0 is the identity, flicker goes down; its widget
ranges are the documented ones and both ends of each work."""
from pathlib import Path

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


# docs/nodes.md, Temporal Smooth row: ComfyUI refuses widget values outside min..max, so these are what a user can set
DOCUMENTED = "`strength` 0–1 (step 0.05, default 0.5), `flow_scale` 0.1–1 (step 0.05, default 1.0), `bidirectional` " \
             "(default on)"
RANGES = {"strength": dict(default=0.5, min=0.0, max=1.0, step=0.05),
          "flow_scale": dict(default=1.0, min=0.1, max=1.0, step=0.05)}


def test_widget_ranges_are_the_documented_ones(pack):
    assert DOCUMENTED in (Path(__file__).resolve().parents[2] / "docs" / "nodes.md").read_text()
    spec = pack.NODE_CLASS_MAPPINGS["DisCoTemporalSmooth"].INPUT_TYPES()["required"]
    assert list(spec) == ["frames", "strength", "flow_scale", "bidirectional"]
    assert spec["frames"][0] == "IMAGE"
    for name, expected in RANGES.items():
        kind, options = spec[name]
        assert kind == "FLOAT" and {k: options[k] for k in expected} == expected, name
    assert spec["bidirectional"][0] == "BOOLEAN" and spec["bidirectional"][1]["default"] is True


def test_both_ends_of_each_range_are_accepted(pack):
    """The widget's extremes run (the core accepts flow_scale from 0.05), and each changes the frames."""
    node = pack.NODE_CLASS_MAPPINGS["DisCoTemporalSmooth"]()
    clip = moving_clip(4, 48, 48)
    flicker = (clip * torch.tensor([1.1, 0.9, 1.1, 0.9])[:, None, None, None]).clamp(0, 1)
    (hardest,) = node.smooth(flicker, strength=1.0, flow_scale=0.1)
    (coarse_default,) = node.smooth(flicker, strength=0.5, flow_scale=0.1)
    assert hardest.shape == flicker.shape and not torch.equal(hardest, coarse_default)
