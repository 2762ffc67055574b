"""Reference encodings, computed once per video: CLIP tokens (foreground) and VAE latents (background)."""
from __future__ import annotations

from typing import Callable

import torch

from .networks import DiscoModel

VAE_SCALING = 0.18215  # official args.scale_factor
Trace = Callable[[str, torch.Tensor], None] | None


def clip_tokens(model: DiscoModel, clip_pixels: torch.Tensor, trace: Trace = None, tag: str = "cond"):
    """All CLIP tokens (CLS included) -> post_layernorm on every token -> refer_clip_proj. [B, N, C]."""
    clip = model.clip_image_encoder
    out = clip(pixel_values=clip_pixels.to(device=model.device, dtype=torch.float32))
    hidden = clip.vision_model.post_layernorm(out.last_hidden_state)
    tokens = model.refer_clip_proj(hidden.to(model.refer_clip_proj.weight.dtype))
    if trace:
        trace(f"clip_last_hidden_state_{tag}", out.last_hidden_state)
        trace(f"clip_image_embeds_{tag}", out.image_embeds)  # the global embedding, unused by DisCo
        trace(f"clip_local_embeds_{tag}", tokens)
    return tokens


def uncond_tokens(model: DiscoModel, clip_pixels: torch.Tensor, tokens: torch.Tensor, mode: str,
                  trace: Trace = None) -> torch.Tensor:
    """CFG's unconditional tokens: CLIP of a blank (all-zero normalised) image, or all-zero tokens."""
    if mode == "zeros":
        return torch.zeros_like(tokens)
    blank = torch.zeros_like(clip_pixels)
    if trace:
        trace("clip_uncond_pixel_values", blank)
    return clip_tokens(model, blank, trace, tag="uncond")


@torch.no_grad()
def background_latents(model: DiscoModel, background: torch.Tensor, noise: torch.Tensor | None = None,
                       generator: torch.Generator | None = None, trace: Trace = None) -> torch.Tensor:
    """VAE posterior *sample* of the background in [-1, 1], times 0.18215 (official `.latent_dist.sample()`).

    `noise` injects the posterior eps (parity); otherwise it is drawn from `generator` (or the global RNG).
    """
    dist = model.vae.encode(background.to(device=model.device, dtype=model.dtype)).latent_dist
    if noise is None:
        noise = torch.randn(dist.mean.shape, generator=generator, dtype=torch.float32,
                            device=generator.device if generator is not None else "cpu")
    latents = (dist.mean + dist.std * noise.to(dist.mean)) * VAE_SCALING
    if trace:
        trace("bg_vae_posterior_mean", dist.mean)
        trace("bg_vae_posterior_std", dist.std)
        trace("bg_latents", latents)
    return latents


@torch.no_grad()
def decode(model: DiscoModel, latents: torch.Tensor, trace: Trace = None, batch_size: int | None = None
           ) -> torch.Tensor:
    """Latents -> images [B, 3, H, W] in 0..1, `batch_size` frames per VAE call (None: as many as
    `decode_batch_size` allows; each frame is decoded on its own either way, so the images are the same)."""
    if trace is None:
        step = batch_size or decode_batch_size(model, latents)
        if step < latents.shape[0]:
            return torch.cat([decode(model, latents[i:i + step], batch_size=step)
                              for i in range(0, latents.shape[0], step)])
    scaled = latents.to(model.dtype) / VAE_SCALING
    raw = model.vae.decode(scaled).sample
    if trace:
        trace("vae_decode_input", scaled)
        trace("vae_decode_raw", raw)
    return (raw.float() / 2 + 0.5).clamp(0, 1)


# Peak activation bytes of one frame's VAE decode per output pixel and per byte of the dtype (measured at full
# size, bench/load_memory.py: the 128-channel full-resolution stages dominate).
DECODE_BYTES_PER_PIXEL = 4 * 128
DECODE_BUDGET_CPU = 256 * 2**20


def decode_batch_size(model: DiscoModel, latents: torch.Tensor) -> int:
    """Frames per VAE decode call whose activations fit the budget: 256 MiB on the CPU (the decoder is
    compute-bound there, so batching gains nothing), a quarter of the free memory on a GPU."""
    vsf = model.config.vae_scale_factor
    pixels = latents.shape[-2] * latents.shape[-1] * vsf * vsf
    per_frame = DECODE_BYTES_PER_PIXEL * pixels * torch.finfo(model.dtype).bits // 8 * \
        model.vae.config.block_out_channels[0] // 128
    if latents.device.type == "cuda":
        budget = torch.cuda.mem_get_info(latents.device)[0] // 4
    else:
        budget = DECODE_BUDGET_CPU
    return max(1, min(latents.shape[0], budget // max(per_frame, 1)))
