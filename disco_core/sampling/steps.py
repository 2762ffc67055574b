"""The denoising loop of the official `forward_sample_multicontrol`, with any diffusers scheduler.

Only the CLIP tokens differ between the CFG halves (batch order [uncond, cond]); both ControlNets see the same
tokens, their residuals are scaled per branch, summed, and added out of place by the UNet.
"""
from __future__ import annotations

import dataclasses
import inspect
from typing import Callable

import torch
from diffusers import (DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler, EulerAncestralDiscreteScheduler,
                       EulerDiscreteScheduler, PNDMScheduler, UniPCMultistepScheduler)

from ..errors import Cancelled, InputError
from .fast import Speed, sampling_context, to_memory_format
from ..model.networks import DiscoModel

# name -> (class, overrides on top of the model's scheduler config)
SCHEDULERS: dict[str, tuple[type, dict]] = {
    "ddim": (DDIMScheduler, {}),
    "dpmpp_2m": (DPMSolverMultistepScheduler, {"algorithm_type": "dpmsolver++", "solver_order": 2}),
    "dpmpp_2m_karras": (DPMSolverMultistepScheduler, {"algorithm_type": "dpmsolver++", "solver_order": 2,
                                                      "use_karras_sigmas": True}),
    "euler": (EulerDiscreteScheduler, {}),
    "euler_ancestral": (EulerAncestralDiscreteScheduler, {}),
    "unipc": (UniPCMultistepScheduler, {}),
    "pndm": (PNDMScheduler, {"skip_prk_steps": True}),
    "ddpm": (DDPMScheduler, {}),
}
# The official eval scheduler always runs with clip_sample off (net.py forces it).
_FORCED = {"clip_sample": False}


def make_scheduler(name: str, base_config: dict):
    if name not in SCHEDULERS:
        raise InputError(f"scheduler {name!r} is unknown; choose one of {sorted(SCHEDULERS)}")
    cls, overrides = SCHEDULERS[name]
    config = {k: v for k, v in base_config.items() if not k.startswith("_")}
    config.update(_FORCED)
    config.update(overrides)
    accepted = set(inspect.signature(cls.__init__).parameters)
    return cls.from_config({k: v for k, v in config.items() if k in accepted})


@dataclasses.dataclass
class StepInfo:
    """What a per-step callback receives."""
    step: int                 # 0-based step within the current chunk of frames
    num_steps: int
    chunk: int                # 0-based chunk index
    num_chunks: int
    frames: range             # output frame indices of this chunk
    latents: torch.Tensor     # current latents of the chunk
    x0: torch.Tensor | None   # the scheduler's estimate of the clean latents, if it gives one
    preview: torch.Tensor | None = None  # float [h, w, 3] in 0..1, when previews are requested

    @property
    def done(self) -> int:
        return self.chunk * self.num_steps + self.step + 1

    @property
    def total(self) -> int:
        return self.num_chunks * self.num_steps


@dataclasses.dataclass
class Conditioning:
    """Per-batch inputs of the loop; `uncond` is None when CFG is off."""
    tokens: torch.Tensor          # [B, N, C] CLIP tokens after refer_clip_proj
    uncond: torch.Tensor | None   # [B, N, C]
    pose: torch.Tensor            # [B, 3, H, W] skeleton RGB in 0..1
    background: torch.Tensor      # [B, 4, h, w] background latents (x 0.18215)


def _step_kwargs(scheduler, eta: float, generator) -> dict:
    params = inspect.signature(scheduler.step).parameters
    kwargs = {}
    if "eta" in params:
        kwargs["eta"] = eta
    if "generator" in params and generator is not None:
        kwargs["generator"] = generator
    return kwargs


def scheduler_step(scheduler, eps, t, latents, step_kwargs: dict, i: int, trace=None):
    """One scheduler step -> (the next latents, the scheduler's estimate of the clean latents or None); `trace`
    records the step's noise prediction and latents under the parity fixtures' names."""
    out = scheduler.step(eps, t, latents, **step_kwargs)
    if trace:
        trace(f"step{i}_noise_pred", eps)
        trace(f"step{i}_latents", out.prev_sample)
    return out.prev_sample, getattr(out, "pred_original_sample", None)


def _controlnet(net, x, t, ehs, cond, scale):
    down, mid = net(x, t, encoder_hidden_states=ehs, controlnet_cond=cond, conditioning_scale=scale,
                    return_dict=False)
    return list(down), mid


def predict_noise(model, x, t, ehs, pose, background, pose_scale: float, background_scale: float, trace=None):
    """The UNet's noise prediction with both ControlNets' scaled residuals summed and added (`trace`: record
    each branch's residuals, their sum and the raw prediction under the parity fixtures' step-0 names)."""
    branches = []
    if pose_scale != 0:  # a branch at scale 0 adds exactly nothing: skip its network
        branches.append(("pose", _controlnet(model.pose_controlnet, x, t, ehs, pose, pose_scale)))
    if background_scale != 0:
        branches.append(("background", _controlnet(model.background_controlnet, x, t, ehs, background,
                                                   background_scale)))
    down, mid = None, None
    for _, (d, m) in branches:
        down = d if down is None else [a + b for a, b in zip(down, d)]
        mid = m if mid is None else mid + m
    eps = model.unet(x, t, encoder_hidden_states=ehs, down_block_additional_residuals=down,
                     mid_block_additional_residual=mid, return_dict=False)[0]
    if trace:
        for name, (d, m) in branches + [("sum", (down or [], mid))]:
            for j, r in enumerate(d):
                trace(f"step0_controlnet_{name}_down{j}", r)
            if m is not None:
                trace(f"step0_controlnet_{name}_mid", m)
        trace("step0_noise_pred_raw", eps)
    return eps


@torch.no_grad()
def denoise(model: DiscoModel, latents: torch.Tensor, cond: Conditioning, *, scheduler,
            num_inference_steps: int, guidance_scale: float, pose_scale: float = 1.0,
            background_scale: float = 1.0, eta: float = 0.0, generator=None,
            on_step: Callable[[StepInfo], None] | None = None, should_cancel: Callable[[], bool] | None = None,
            step_info: dict | None = None, trace=None, speed: Speed | None = None) -> torch.Tensor:
    """Run the sampler from initial noise `latents` [B, 4, h, w] to clean latents.

    `speed`: how to run it (default `Speed()`: every exact speed-up; `fast.OFFICIAL_ORDER`: the official order).
    """
    speed = Speed() if speed is None else speed
    scheduler.set_timesteps(num_inference_steps, device=latents.device)
    do_cfg = guidance_scale > 1.0 and cond.uncond is not None
    dtype = model.dtype
    latents = latents.to(dtype) * scheduler.init_noise_sigma
    two = (lambda x: torch.cat([x, x])) if do_cfg else (lambda x: x)
    ehs = torch.cat([cond.uncond, cond.tokens]) if do_cfg else cond.tokens
    ehs, pose, bg = ehs.to(dtype), two(cond.pose.to(dtype)), two(cond.background.to(dtype))
    step_kwargs = _step_kwargs(scheduler, eta, generator)
    if trace:
        trace("timesteps", scheduler.timesteps)
        trace("initial_latents", latents)
        trace("encoder_hidden_states", ehs)
        trace("controlnet_cond_background", bg)
    active = [(net, c) for net, c, scale in ((model.pose_controlnet, cond.pose, pose_scale),
                                             (model.background_controlnet, cond.background, background_scale))
              if scale != 0]
    copies = 2 if do_cfg else 1
    with sampling_context(model, speed, ehs, copies, [(net, c.to(dtype)) for net, c in active], copies):
        for i, t in enumerate(scheduler.timesteps):
            if should_cancel is not None and should_cancel():
                raise Cancelled("sampling was cancelled")
            x = to_memory_format(scheduler.scale_model_input(two(latents), t), speed)
            step0_trace = trace if (trace and i == 0) else None
            if step0_trace:
                trace("unet_input_step0", x)
            eps = predict_noise(model, x, t, ehs, pose, bg, pose_scale, background_scale, step0_trace)
            if do_cfg:
                eps_uncond, eps_cond = eps.chunk(2)
                eps = eps_uncond + guidance_scale * (eps_cond - eps_uncond)
            latents, x0 = scheduler_step(scheduler, eps, t, latents, step_kwargs, i, trace)
            if on_step is not None:
                on_step(StepInfo(step=i, num_steps=len(scheduler.timesteps), latents=latents, x0=x0,
                                 **(step_info or {"chunk": 0, "num_chunks": 1, "frames": range(latents.shape[0])})))
    if trace:
        trace("final_latents", latents)
    return latents
