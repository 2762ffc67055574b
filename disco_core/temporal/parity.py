"""The temporal parity fixture run through this pack's windowed sampler (one window = the official clip)."""
from __future__ import annotations

import torch

from ..encode import background_latents, clip_tokens, decode, uncond_tokens
from ..sampling import make_scheduler
from .layers import _to_clips
from .sampling import denoise_windows
from .windows import plan_windows


def run_temporal(fx, model, *, uncond=None, pose_scale=None, background_scale=None) -> dict[str, torch.Tensor]:
    """-> our tensors under the fixture's names, in its (b, c, f, h, w) layout where it uses one."""
    meta, inp = fx.meta, fx.inputs
    num_frames = int(meta["nframes"])
    ours: dict[str, torch.Tensor] = {}
    trace = ours.__setitem__
    scales = {k: v for k, v in meta.items() if k.startswith("controlnet_conditioning_scale")}
    pose_scale = scales["controlnet_conditioning_scale_cond (pose, nets.0)"] if pose_scale is None else pose_scale
    background_scale = (scales["controlnet_conditioning_scale_ref (background, nets.1)"]
                        if background_scale is None else background_scale)
    guidance = float(meta["guidance_scale"])
    mode = uncond or ("blank" if float(meta.get("drop_ref", 0)) > 0 else "zeros")
    with torch.no_grad():
        tokens = clip_tokens(model, inp["reference_img"], trace)
        unc = uncond_tokens(model, inp["reference_img"], tokens, mode, trace) if guidance > 1 else None
        bg = background_latents(model, inp["reference_img_controlnet"], noise=inp["vae_posterior_noise"],
                                trace=trace)
        poses = inp["cond_img_seq"][0].transpose(0, 1)            # (1, 3, f, H, W) -> (f, 3, H, W)
        noise = inp["init_noise"][0].transpose(0, 1)              # (1, 4, f, h, w) -> (f, 4, h, w)
        scheduler = make_scheduler(meta["scheduler"]["class"].replace("Scheduler", "").lower(),
                                   fx.configs["scheduler"])
        latents = denoise_windows(
            model, noise, plan_windows(num_frames, window=num_frames, overlap=0), tokens=tokens, uncond=unc,
            pose_for=lambda frames: poses[frames], background=bg, scheduler=scheduler,
            num_inference_steps=int(meta["scheduler"]["num_inference_steps"]), guidance_scale=guidance,
            pose_scale=pose_scale, background_scale=background_scale, eta=float(meta["scheduler"]["eta"]),
            trace=trace)
        frames = decode(model, latents, trace)
    ours["logits_img_seq"] = frames
    for name, theirs in fx.outputs.items():  # frames folded into the batch -> the official 5-D layout
        if name in ours and theirs.ndim == 5 and ours[name].ndim == 4:
            ours[name] = _to_clips(ours[name], num_frames)
    return ours
