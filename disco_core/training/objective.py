"""The official training objective (`forward_train_multicontrol`) for one batch.

refer  = refer_clip_proj(post_layernorm(CLIP(reference)))     all tokens, no CFG dropout in this recipe
z      = VAE posterior sample of the target x 0.18215
z_t    = DDPM add_noise(z, eps, t), one t ~ U{0..999} per sample
bg     = VAE posterior sample of the person-less reference x 0.18215
res    = pose ControlNet(z_t, t, refer, pose) + background ControlNet(z_t, t, refer, bg)   (scale 1 each)
loss   = mean((UNet(z_t, t, refer, res) - eps)^2)              epsilon prediction, fp32 loss
The random draws are explicit (`Draws`) so a parity fixture can replay the official ones.
"""
from __future__ import annotations

import dataclasses
import inspect
from typing import Callable

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler

from ..model.encode import background_latents, clip_tokens
from ..model.networks import DiscoModel

BRANCHES = ("pose", "background")
Trace = Callable[[str, torch.Tensor], None] | None


@dataclasses.dataclass
class Batch:
    """One training batch, preprocessed as the official dataset does."""
    reference: torch.Tensor    # [B, 3, c, c] CLIP input: CLIP-normalised reference x person mask
    target: torch.Tensor       # [B, 3, H, W] frame to reconstruct, in [-1, 1]
    pose: torch.Tensor         # [B, 3, H, W] the target's rendered skeleton, in [0, 1]
    background: torch.Tensor   # [B, 3, H, W] reference with the person removed, in [-1, 1]

    def to(self, device) -> "Batch":
        return Batch(*(t.to(device) for t in dataclasses.astuple(self)))

    def __len__(self) -> int:
        return int(self.target.shape[0])


@dataclasses.dataclass
class Draws:
    """The step's random draws, in the official call order."""
    label_eps: torch.Tensor       # eps of the target's VAE posterior sample
    noise: torch.Tensor           # the diffusion noise (the loss target)
    timesteps: torch.Tensor       # int64 [B]
    background_eps: torch.Tensor  # eps of the background's VAE posterior sample

    @classmethod
    def sample(cls, batch_size: int, latent_shape: tuple[int, int, int], num_train_timesteps: int,
               generator: torch.Generator) -> "Draws":
        shape = (batch_size, *latent_shape)
        label_eps = torch.randn(shape, generator=generator)
        noise = torch.randn(shape, generator=generator)
        timesteps = torch.randint(0, num_train_timesteps, (batch_size,), generator=generator)
        return cls(label_eps, noise, timesteps, torch.randn(shape, generator=generator))


def training_scheduler(scheduler_config: dict) -> DDPMScheduler:
    """The official `tr_noise_scheduler`: DDPMScheduler from the model's (PNDM) scheduler config."""
    accepted = set(inspect.signature(DDPMScheduler.__init__).parameters)
    return DDPMScheduler.from_config({k: v for k, v in scheduler_config.items()
                                      if not k.startswith("_") and k in accepted})


def latent_shape(model: DiscoModel, height: int, width: int) -> tuple[int, int, int]:
    f = model.config.vae_scale_factor
    return model.unet.config.in_channels, height // f, width // f


def _residuals(model, x, t, tokens, pose, bg, branches, trace):
    down, mid = None, None
    for name, net, cond in (("pose", model.pose_controlnet, pose), ("background", model.background_controlnet, bg)):
        if name not in branches:
            continue
        d, m = net(x, t, encoder_hidden_states=tokens, controlnet_cond=cond, conditioning_scale=1.0,
                   return_dict=False)
        if trace:
            for j, r in enumerate(d):
                trace(f"controlnet_{name}_down{j}", r)
            trace(f"controlnet_{name}_mid", m)
        down = list(d) if down is None else [a + b for a, b in zip(down, d)]
        mid = m if mid is None else mid + m
    if trace and down is not None:
        for j, r in enumerate(down):
            trace(f"controlnet_sum_down{j}", r)
        trace("controlnet_sum_mid", mid)
    return down, mid


def denoising_loss(model: DiscoModel, batch: Batch, draws: Draws, scheduler: DDPMScheduler, *,
                   branches: tuple[str, ...] = BRANCHES, trace: Trace = None) -> torch.Tensor:
    """The official loss of one batch (fp32 scalar). Gradients flow into whatever requires them."""
    device, dtype = model.device, model.dtype
    tokens = clip_tokens(model, batch.reference,
                         trace=(lambda n, v: trace(n[:-len("_cond")], v)) if trace else None)
    if trace:
        trace("encoder_hidden_states", tokens)
    latents = background_latents(model, batch.target, noise=draws.label_eps.to(device),
                                 trace=_posterior_trace(trace, "label", "latents"))
    noise, t = draws.noise.to(device=device, dtype=latents.dtype), draws.timesteps.to(device)
    noisy = scheduler.add_noise(latents, noise, t)
    bg = background_latents(model, batch.background, noise=draws.background_eps.to(device),
                             trace=_posterior_trace(trace, "bg", "bg_latents"))
    if trace:
        trace("alphas_cumprod_t", scheduler.alphas_cumprod[t.cpu()])
        trace("noisy_latents", noisy)
    x, tokens_c = noisy.to(dtype), tokens.to(dtype)
    down, mid = _residuals(model, x, t, tokens_c, batch.pose.to(device=device, dtype=dtype), bg.to(dtype),
                           branches, trace)
    pred = model.unet(x, t, encoder_hidden_states=tokens_c, down_block_additional_residuals=down,
                      mid_block_additional_residual=mid, return_dict=False)[0]
    if trace:
        trace("model_pred", pred)
    return F.mse_loss(pred.float(), noise.float(), reduction="mean")


def _posterior_trace(trace: Trace, prefix: str, latents_name: str) -> Trace:
    """encode.background_latents traces bg_vae_posterior_{mean,std} / bg_latents; name them per input."""
    if trace is None:
        return None
    names = {"bg_vae_posterior_mean": f"{prefix}_posterior_mean", "bg_vae_posterior_std": f"{prefix}_posterior_std",
             "bg_latents": latents_name}
    return lambda name, value: trace(names.get(name, name), value)
