"""Denoising a video of any length with the temporal model: overlapping windows fused at every step.

At each timestep every window predicts the noise of its frames (with CFG as in the official code: only the
CLIP tokens differ between the halves); the predictions are averaged per frame with the windows' fusion weights
and one scheduler step moves all latents together. Windows run `windows_per_batch` at a time, so memory holds
the video's latents (4 x h/8 x w/8 per frame) plus one batch of windows, whatever the length. With a single
window this is exactly the official `TemConvNet` sampling loop.
"""
from __future__ import annotations

import contextlib
import dataclasses
from typing import Callable

import torch

from ..errors import Cancelled
from . import steps as sampling
from .fast import EmbeddingCache, Speed, prepared_networks, to_memory_format, using_conditioning
from .steps import StepInfo, _step_kwargs, scheduler_step
from .windows import WindowPlan

# ControlNet conditioning embeddings kept between steps: 64 MiB holds the pose embeddings of ~50 frames at 256^2
# fp32 (320 x 32 x 32 floats each), ~200 at 128^2. Past it they are computed once per step (for both CFG halves);
# at full size an embedding is ~1 % of a step, so a larger budget would buy little for its memory.
DEFAULT_EMBEDDING_CACHE_MB = 64


@dataclasses.dataclass
class WindowStepInfo(StepInfo):
    """A step of one batch of windows: progress counts window-steps (windows x steps)."""
    windows_done: int = 0
    windows_total: int = 1

    @property
    def done(self) -> int:
        return self.windows_done

    @property
    def total(self) -> int:
        return self.windows_total


def _batches(plan: WindowPlan, windows_per_batch: int) -> list[list[int]]:
    ks = list(range(len(plan.starts)))
    return [ks[i:i + windows_per_batch] for i in range(0, len(ks), max(1, windows_per_batch))]


def predict_noise(model, x, t, ehs, pose, background, num_frames: int, pose_scale: float,
                  background_scale: float, trace=None):
    """UNet noise prediction for clips of `num_frames` folded into the batch; both ControlNets summed."""
    with model.frames(num_frames):
        return sampling.predict_noise(model, x, t, ehs, pose, background, pose_scale, background_scale, trace)


@torch.no_grad()
def denoise_windows(model, latents: torch.Tensor, plan: WindowPlan, *, tokens: torch.Tensor,
                    uncond: torch.Tensor | None, pose_for: Callable[[list[int]], torch.Tensor],
                    background: torch.Tensor, scheduler, num_inference_steps: int, guidance_scale: float,
                    pose_scale: float = 1.0, background_scale: float = 1.0, eta: float = 0.0, generator=None,
                    windows_per_batch: int = 1, on_step: Callable[[StepInfo], None] | None = None,
                    should_cancel: Callable[[], bool] | None = None, trace=None, speed: Speed | None = None,
                    embedding_cache_mb: float = DEFAULT_EMBEDDING_CACHE_MB) -> torch.Tensor:
    """latents [plan.length, 4, h, w] (initial noise) -> clean latents of every frame.

    tokens / uncond: [1, N, C] CLIP tokens (uncond None = no CFG); pose_for(frames) -> [n, 3, H, W] skeletons
    in 0..1 for those (virtual) frame indices; background: [1 or plan.length, 4, h, w] background latents.
    `speed` (default `Speed()`, `fast.OFFICIAL_ORDER` recomputes everything per step and window): the
    cross-attention K/V of the CLIP tokens, the same for every window, once per call; each batch of windows'
    ControlNet conditioning embeddings once per call too, kept between steps up to `embedding_cache_mb` (past it,
    once per step for both CFG halves), so memory stays bounded whatever the video's length.
    """
    speed = Speed() if speed is None else speed
    scheduler.set_timesteps(num_inference_steps, device=latents.device)
    do_cfg = guidance_scale > 1.0 and uncond is not None
    dtype, w = model.dtype, plan.window
    latents = latents.to(dtype) * scheduler.init_noise_sigma
    two = (lambda x: torch.cat([x, x])) if do_cfg else (lambda x: x)
    weights = [plan.weights(k).to(latents.device, torch.float32) for k in range(len(plan.starts))]
    batches = _batches(plan, windows_per_batch)
    step_kwargs = _step_kwargs(scheduler, eta, generator)
    # The tokens of a batch of n frames, built once per size: the same tensor at every step (the K/V cache
    # recognises it), in the official CFG order [uncond, cond].
    contexts = {n: (torch.cat([uncond.expand(n, -1, -1), tokens.expand(n, -1, -1)]) if do_cfg
                    else tokens.expand(n, -1, -1)).to(dtype) for n in {len(ks) * w for ks in batches}}
    active = [(name, net) for name, net, scale in (("pose", model.pose_controlnet, pose_scale),
                                                   ("background", model.background_controlnet, background_scale))
              if scale != 0]
    embeddings = EmbeddingCache(int(embedding_cache_mb * 2**20)) if speed.cache_conditioning else None
    if trace:
        trace("timesteps", scheduler.timesteps)
        trace("initial_latents", latents)
        trace("encoder_hidden_states", torch.cat([uncond, tokens]) if do_cfg else tokens)
        trace("controlnet_cond_background", two(background[:1]))
    num_steps = len(scheduler.timesteps)
    with prepared_networks(model, speed, list(contexts.values()), 2 if do_cfg else 1, [net for _, net in active]):
        for i, t in enumerate(scheduler.timesteps):
            eps_sum = torch.zeros(latents.shape, dtype=torch.float32, device=latents.device)
            weight_sum = torch.zeros(latents.shape[0], dtype=torch.float32, device=latents.device)
            for b, ks in enumerate(batches):
                if should_cancel is not None and should_cancel():
                    raise Cancelled("sampling was cancelled")
                frames = [f for k in ks for f in plan.frames(k)]
                index = torch.tensor(frames, device=latents.device)
                n = len(frames)
                conds = {"pose": pose_for(frames).to(dtype),
                         "background": (background.expand(n, -1, -1, -1) if background.shape[0] == 1
                                        else background[index]).to(dtype)}
                x = to_memory_format(scheduler.scale_model_input(two(latents[index]), t), speed)
                step0_trace = trace if (trace and i == 0 and b == 0) else None
                if step0_trace:
                    trace("unet_input_step0", x)
                with _conditioning(embeddings, b, active, conds, background.shape[0] == 1, 2 if do_cfg else 1):
                    eps = predict_noise(model, x, t, contexts[n], two(conds["pose"]), two(conds["background"]),
                                        w, pose_scale, background_scale, step0_trace)
                if do_cfg:
                    eps_uncond, eps_cond = eps.chunk(2)
                    eps = eps_uncond + guidance_scale * (eps_cond - eps_uncond)
                weight = torch.cat([weights[k] for k in ks])
                eps_sum.index_add_(0, index, eps.float() * weight[:, None, None, None])
                weight_sum.index_add_(0, index, weight)
                last = b + 1 == len(batches)
                if not last and on_step is not None:
                    on_step(_info(i, num_steps, b, len(batches), frames, latents[index], None,
                                  (i * len(plan.starts)) + ks[-1] + 1, num_steps * len(plan.starts)))
            eps = (eps_sum / weight_sum[:, None, None, None]).to(dtype)
            latents, x0 = scheduler_step(scheduler, eps, t, latents, step_kwargs, i, trace)
            if on_step is not None:
                index = torch.tensor(frames, device=latents.device)
                on_step(_info(i, num_steps, len(batches) - 1, len(batches), frames, latents[index],
                              None if x0 is None else x0[index], (i + 1) * len(plan.starts),
                              num_steps * len(plan.starts)))
    if trace:
        trace("final_latents", latents)
    return latents


def _conditioning(embeddings: EmbeddingCache | None, batch: int, active, conds: dict, shared_background: bool,
                  copies: int):
    """The ControlNets of `active` use their embedding of this batch of windows' conditions, from the cache
    (one background image: one embedding per batch size serves every batch); no cache: computed in the call."""
    if embeddings is None:
        return contextlib.nullcontext()
    pairs = []
    for name, net in active:
        n = conds[name].shape[0]
        key = (name, "frames", n) if name == "background" and shared_background else (name, batch)
        pairs.append((net, embeddings.get(key, net, conds[name])))
    return using_conditioning(pairs, copies)


def _info(step, num_steps, batch, num_batches, frames, latents, x0, done, total) -> WindowStepInfo:
    return WindowStepInfo(step=step, num_steps=num_steps, chunk=batch, num_chunks=num_batches,
                          frames=range(frames[0], frames[-1] + 1), latents=latents, x0=x0, windows_done=done,
                          windows_total=total)
