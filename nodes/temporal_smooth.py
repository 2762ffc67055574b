"""Temporal Smooth: IMAGE frames -> IMAGE frames (same count), flow-guided flicker reduction."""
from __future__ import annotations

from ..disco_core.smoothing.temporal_smooth import temporal_smooth
from . import comfy_glue as glue


class DisCoTemporalSmooth:
    CATEGORY = "DisCo"
    DESCRIPTION = (
        "Reduces frame-to-frame flicker: each frame is blended with its neighbours warped along optical flow, "
        "and pixels where the flow is unreliable (occlusions, fast motion) keep their own value. Returns the "
        "same number of frames. Works on any IMAGE batch, not only DisCo output."
    )
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("frames",)
    OUTPUT_TOOLTIPS = ("Smoothed frames [T,H,W,3], float 0..1, same count and size as the input.",)
    FUNCTION = "smooth"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            # tooltips are pure UI text: not mutated (pragma); the numbers are pinned by test_node_temporal_smooth.py
            "frames": ("IMAGE", {
                "tooltip": "Video frames as an IMAGE batch [T,H,W,3] (T ≥ 2 to have any effect)."}),  # pragma: no mutate
            "strength": ("FLOAT", {
                "default": 0.5, "min": 0.0, "max": 1.0, "step": 0.05,
                "tooltip": "0..1 (unitless). 0 returns the frames unchanged; 1 smooths hardest (more ghosting "  # pragma: no mutate
                           "on fast motion)."}),  # pragma: no mutate
            "flow_scale": ("FLOAT", {
                "default": 1.0, "min": 0.1, "max": 1.0, "step": 0.05,
                "tooltip": "Resolution factor for the optical flow (fraction of the frame size). 0.5 is about "  # pragma: no mutate
                           "4x faster on large frames, slightly less precise."}),  # pragma: no mutate
            "bidirectional": ("BOOLEAN", {
                "default": True,
                "tooltip": "Average a forward and a backward pass: no lag behind motion, twice the time."}),  # pragma: no mutate
        }}

    def smooth(self, frames, strength=0.5, flow_scale=1.0, bidirectional=True):
        total = int(frames.shape[0]) * (2 if bidirectional else 1)
        update = glue.simple_progress(total)
        out = temporal_smooth(glue.to_image(frames), strength, flow_scale=flow_scale,
                              bidirectional=bidirectional, on_frame=lambda done, n: update(done, n),
                              buffer_dir=glue.frames_folder())
        return (glue.to_image(out, owned=True),)


NODE_CLASS_MAPPINGS = {"DisCoTemporalSmooth": DisCoTemporalSmooth}
NODE_DISPLAY_NAME_MAPPINGS = {"DisCoTemporalSmooth": "Temporal Smooth"}
