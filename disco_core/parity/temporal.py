"""The temporal parity fixture run through this pack's windowed sampler (one window = the official clip)."""
from __future__ import annotations

import torch

from ..model.encode import decode
from .fixtures import FixtureRun
from ..model.temporal_layers import _to_clips
from ..sampling.windowed import denoise_windows
from ..sampling.windows import WindowPlan, plan_windows


def run_temporal(fx, model, *, uncond=None, pose_scale=None, background_scale=None, plan: WindowPlan | None = None,
                 **sampler_options) -> dict[str, torch.Tensor]:
    """-> our tensors under the fixture's names, in its (b, c, f, h, w) layout where it uses one.

    `plan` (default: one window of all the fixture's frames, the official clip) and `sampler_options` (of
    `denoise_windows`: speed, windows_per_batch, ...) let tests run the fixture through several windows and
    either execution order."""
    num_frames = int(fx.meta["nframes"])
    ours: dict[str, torch.Tensor] = {}
    trace = ours.__setitem__
    run = FixtureRun.start(fx, model, uncond, pose_scale, background_scale, trace)
    with torch.no_grad():
        poses = fx.inputs["cond_img_seq"][0].transpose(0, 1)     # (1, 3, f, H, W) -> (f, 3, H, W)
        noise = fx.inputs["init_noise"][0].transpose(0, 1)       # (1, 4, f, h, w) -> (f, 4, h, w)
        latents = denoise_windows(
            model, noise, plan or plan_windows(num_frames, window=num_frames, overlap=0), tokens=run.tokens,
            uncond=run.uncond, pose_for=lambda frames: poses[frames], background=run.background,
            trace=trace, **run.sampler_kwargs, **sampler_options)
        frames = decode(model, latents, trace)
    ours["logits_img_seq"] = frames
    for name, theirs in fx.outputs.items():  # frames folded into the batch -> the official 5-D layout
        if name in ours and theirs.ndim == 5 and ours[name].ndim == 4:
            ours[name] = _to_clips(ours[name], num_frames)
    return ours
