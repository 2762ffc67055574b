"""`animate` for the temporal model: a photo + a pose sequence of any length -> frames, streamed in chunks.

The reference is encoded once; the poses are fitted when a window needs them (poses.py: a bounded cache keeps
them between steps); the frames are decoded and yielded chunk by chunk once sampling ends, so neither the poses
nor the output are held at full size.
"""
from __future__ import annotations

from typing import Callable, Iterator

import torch

from ..model.encode import background_latents, clip_tokens, decode, uncond_tokens
from ..errors import InputError
from .fast import Speed
from .noise import background_generator, initial_latents
from ..media.images import background_input, check_image, clip_input, fit_window
from ..media.images import fit as fit_to_size
from .steps import StepInfo, make_scheduler
from .window_poses import DEFAULT_POSE_CACHE_MB, WindowPoses
from .windowed import denoise_windows
from .windows import DEFAULT_OVERLAP, DEFAULT_WINDOW, plan_windows


def joint_noise(shape: tuple[int, ...], length: int, seed: int, device, dtype) -> tuple[torch.Tensor, torch.Generator]:
    """The official draw: one `randn((1, 4, frames, h, w))` from a fresh generator seeded with `seed`."""
    gen = torch.Generator(device).manual_seed(seed)
    noise = torch.randn((1, shape[0], length, *shape[1:]), generator=gen, device=device, dtype=dtype)
    return noise[0].transpose(0, 1).contiguous(), gen


@torch.no_grad()
def animate_windows(model, reference: torch.Tensor, mask: torch.Tensor, poses, *,
                    background: torch.Tensor | None = None, height: int = 256, width: int = 256, fit: str = "crop",
                    num_inference_steps: int = 50, guidance_scale: float = 1.5, scheduler: str = "ddim",
                    seed: int = 42, frames_per_batch: int = 16, noise_mode: str = "per_frame",
                    pose_scale: float = 1.0, background_scale: float = 1.0, uncond: str | None = None,
                    eta: float = 0.0, window: int = DEFAULT_WINDOW, overlap: int = DEFAULT_OVERLAP,
                    pose_cache_mb: float = DEFAULT_POSE_CACHE_MB, on_step: Callable[[StepInfo], None] | None = None,
                    preview_every: int = 0, should_cancel: Callable[[], bool] | None = None,
                    speed: Speed | None = None) -> Iterator[tuple[range, torch.Tensor]]:
    """Yield (frame range, float32 CPU frames [n, height, width, 3] in 0..1) in order, `frames_per_batch` at a
    time. Arguments as `disco_core.animate`; `window` / `overlap` in frames; `frames_per_batch` also sets how
    many windows run at once (its multiple of `window`, at least one); `pose_cache_mb` bounds the fitted poses
    kept between steps (poses.py); `speed` how the sampler runs (`fast.Speed`, default: the exact speed-ups).
    """
    num_frames = len(poses)
    plan = plan_windows(num_frames, window, overlap)
    reference = check_image(reference, "reference image", 3)[:1]
    mask = check_image(mask, "reference mask", 1)[:1]
    if mask.shape[-2:] != reference.shape[-2:]:
        mask = torch.nn.functional.interpolate(mask, size=reference.shape[-2:], mode="bilinear")
    device, dtype = model.device, model.dtype
    uncond = uncond or model.config.uncond

    region = fit_window(*reference.shape[-2:], height, width, fit)
    clip_pixels = clip_input(reference, mask, region, model.config.clip_image_size)
    tokens = clip_tokens(model, clip_pixels)
    unc = uncond_tokens(model, clip_pixels, tokens, uncond) if guidance_scale > 1 else None
    if background is None:
        bg = background_latents(model, background_input(reference, mask, region, height, width),
                                generator=background_generator(seed, noise_mode))
    else:
        bg = _background_override(model, check_image(background, "background", 3), plan, height, width, fit,
                                  seed, noise_mode)

    vsf = model.config.vae_scale_factor
    shape = (model.unet.config.in_channels, height // vsf, width // vsf)
    if noise_mode == "official":
        latents, generator = joint_noise(shape, plan.length, seed, device, dtype)
    else:
        latents, generator = initial_latents(shape, seed, range(plan.length), noise_mode, device, dtype)

    def callback(info: StepInfo):
        if on_step is None:
            return
        last = info.step + 1 == info.num_steps and info.chunk + 1 == info.num_chunks
        if preview_every and info.x0 is not None and (last or (info.step + 1) % preview_every == 0):
            info.preview = decode(model, info.x0[:1])[0].permute(1, 2, 0).float().cpu()
        on_step(info)

    latents = denoise_windows(
        model, latents, plan, tokens=tokens, uncond=unc,
        pose_for=WindowPoses(poses, plan, height, width, fit, device, dtype, int(pose_cache_mb * 2**20)),
        background=bg,
        scheduler=make_scheduler(scheduler, model.config.scheduler), num_inference_steps=num_inference_steps,
        guidance_scale=guidance_scale, pose_scale=pose_scale, background_scale=background_scale, eta=eta,
        generator=generator, windows_per_batch=max(1, frames_per_batch // window), on_step=callback,
        should_cancel=should_cancel, speed=speed)
    for start in range(0, num_frames, frames_per_batch):  # padding frames past the video are dropped
        frames = range(start, min(start + frames_per_batch, num_frames))
        yield frames, decode(model, latents[frames.start:frames.stop]).permute(0, 2, 3, 1).float().cpu()


def _background_override(model, background, plan, height, width, fit, seed, noise_mode) -> torch.Tensor:
    """Background latents: one image for every frame, or one per pose frame (encoded once, kept as latents)."""
    if background.shape[0] not in (1, plan.num_frames):
        raise InputError(f"background has {background.shape[0]} images; give 1 or one per pose frame "
                         f"({plan.num_frames})")
    frames = [0] if background.shape[0] == 1 else [plan.source_frame(f) for f in range(plan.length)]
    return torch.cat([background_latents(model, fit_to_size(background[f:f + 1], height, width, fit,
                                                            "replicate") * 2 - 1,
                                         generator=background_generator(seed, noise_mode, f)) for f in frames])
