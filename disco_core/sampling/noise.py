"""Seeded noise that does not depend on how frames are batched.

`per_frame`: every frame has its own generator, seeded from (seed, stream, frame index), used for its initial
latents and any stochastic scheduler steps, so a frame's result is the same whatever the chunk size.
`official`: like the official code, a fresh generator seeded with `seed` on the sampling device for every batch,
so every batch starts from the same noise block (and the background posterior uses the global RNG).
"""
from __future__ import annotations

import torch

NOISE_MODES = ("per_frame", "official")
_LATENT_STREAM, _BACKGROUND_STREAM = 1, 2
_MASK64 = (1 << 64) - 1


def derive_seed(seed: int, stream: int, index: int) -> int:
    """SplitMix64 of (seed, stream, index): independent, well-mixed seeds for each frame and purpose."""
    x = (seed * 0x9E3779B97F4A7C15 + stream * 0xBF58476D1CE4E5B9 + index * 0x94D049BB133111EB) & _MASK64
    for shift, mult in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):
        x = ((x ^ (x >> shift)) * mult) & _MASK64
    return (x ^ (x >> 31)) & ((1 << 63) - 1)


def frame_generators(seed: int, frames: range) -> list[torch.Generator]:
    return [torch.Generator("cpu").manual_seed(derive_seed(seed, _LATENT_STREAM, f)) for f in frames]


def initial_latents(shape: tuple[int, ...], seed: int, frames: range, mode: str, device, dtype):
    """-> (latents [B, 4, h, w], generator(s) for stochastic scheduler steps)."""
    if mode == "official":
        gen = torch.Generator(device).manual_seed(seed)
        return torch.randn((len(frames), *shape), generator=gen, device=device, dtype=dtype), gen
    gens = frame_generators(seed, frames)
    latents = torch.stack([torch.randn(shape, generator=g, dtype=torch.float32) for g in gens])
    return latents.to(device=device, dtype=dtype), gens


def background_generator(seed: int, mode: str, index: int = 0) -> torch.Generator | None:
    """Generator for the background's VAE posterior sample; None = global RNG (official behaviour)."""
    if mode == "official":
        return None
    return torch.Generator("cpu").manual_seed(derive_seed(seed, _BACKGROUND_STREAM, index))
