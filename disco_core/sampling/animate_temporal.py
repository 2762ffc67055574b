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
from .windowed import LocalSteps, WindowJob, step_loop, window_batches
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
    video = TemporalVideo(model, reference, mask, poses, background=background, height=height, width=width, fit=fit,
                          guidance_scale=guidance_scale, seed=seed, frames_per_batch=frames_per_batch,
                          noise_mode=noise_mode, pose_scale=pose_scale, background_scale=background_scale,
                          uncond=uncond, window=window, overlap=overlap, pose_cache_mb=pose_cache_mb, speed=speed)
    latents, generator = video.initial_latents(model.device, model.dtype)

    def callback(info: StepInfo):
        if on_step is None:
            return
        last = info.step + 1 == info.num_steps and info.chunk + 1 == info.num_chunks
        if preview_every and info.x0 is not None and (last or (info.step + 1) % preview_every == 0):
            info.preview = decode(model, info.x0[:1])[0].permute(1, 2, 0).float().cpu()
        on_step(info)

    job = video.job()
    with LocalSteps(model, job) as steps:
        latents = step_loop(steps, latents, video.plan, job.batches,
                            scheduler=make_scheduler(scheduler, model.config.scheduler),
                            num_inference_steps=num_inference_steps, dtype=model.dtype, eta=eta,
                            generator=generator, on_step=callback, should_cancel=should_cancel)
    for frames in video.output_chunks():  # padding frames past the video are dropped
        yield frames, decode(model, latents[frames.start:frames.stop]).permute(0, 2, 3, 1).float().cpu()


class TemporalVideo:
    """One video of the temporal model: its windows, the reference encoded once, the poses fitted on demand.
    Everything but the step loop: `job()` is what predicting the windows' noise needs (here or on a worker)."""

    def __init__(self, model, reference, mask, poses, *, background=None, height=256, width=256, fit="crop",
                 guidance_scale=1.5, seed=42, frames_per_batch=16, noise_mode="per_frame", pose_scale=1.0,
                 background_scale=1.0, uncond=None, window=DEFAULT_WINDOW, overlap=DEFAULT_OVERLAP,
                 pose_cache_mb=DEFAULT_POSE_CACHE_MB, speed: Speed | None = None):
        self.plan = plan = plan_windows(len(poses), window, overlap)
        reference = check_image(reference, "reference image", 3)[:1]
        mask = check_image(mask, "reference mask", 1)[:1]
        if mask.shape[-2:] != reference.shape[-2:]:
            mask = torch.nn.functional.interpolate(mask, size=reference.shape[-2:], mode="bilinear")
        device, dtype = model.device, model.dtype
        uncond = uncond or model.config.uncond
        region = fit_window(*reference.shape[-2:], height, width, fit)
        clip_pixels = clip_input(reference, mask, region, model.config.clip_image_size)
        self.tokens = clip_tokens(model, clip_pixels)
        self.unc = uncond_tokens(model, clip_pixels, self.tokens, uncond) if guidance_scale > 1 else None
        if background is None:
            self.bg = background_latents(model, background_input(reference, mask, region, height, width),
                                         generator=background_generator(seed, noise_mode))
        else:
            self.bg = _background_override(model, check_image(background, "background", 3), plan, height, width,
                                           fit, seed, noise_mode)
        self.pose_for = WindowPoses(poses, plan, height, width, fit, device, dtype, int(pose_cache_mb * 2**20))
        self.shape = latent_shape(model.config, model.unet.config.in_channels, height, width)
        self.seed, self.noise_mode, self.frames_per_batch = seed, noise_mode, frames_per_batch
        self.scales = (guidance_scale, pose_scale, background_scale)
        self.speed = Speed() if speed is None else speed

    def job(self) -> WindowJob:
        return WindowJob(self.plan, window_batches(self.plan, max(1, self.frames_per_batch // self.plan.window)),
                         self.tokens, self.unc, self.pose_for, self.bg, *self.scales, speed=self.speed)

    def initial_latents(self, device, dtype) -> tuple[torch.Tensor, object]:
        return video_noise(self.shape, self.plan.length, self.seed, self.noise_mode, device, dtype)

    def output_chunks(self) -> list[range]:
        n, step = self.plan.num_frames, self.frames_per_batch
        return [range(s, min(s + step, n)) for s in range(0, n, step)]


def latent_shape(config, in_channels: int, height: int, width: int) -> tuple[int, int, int]:
    vsf = config.vae_scale_factor
    return (in_channels, height // vsf, width // vsf)


def video_noise(shape, length: int, seed: int, noise_mode: str, device, dtype):
    """-> (initial latents [length, *shape], generator(s) for stochastic steps)."""
    if noise_mode == "official":
        return joint_noise(shape, length, seed, device, dtype)
    return initial_latents(shape, seed, range(length), noise_mode, device, dtype)


def _background_override(model, background, plan, height, width, fit, seed, noise_mode) -> torch.Tensor:
    """Background latents: one image for every frame, or one per pose frame (encoded once, kept as latents)."""
    if background.shape[0] not in (1, plan.num_frames):
        raise InputError(f"background has {background.shape[0]} images; give 1 or one per pose frame "
                         f"({plan.num_frames})")
    frames = [0] if background.shape[0] == 1 else [plan.source_frame(f) for f in range(plan.length)]
    return torch.cat([background_latents(model, fit_to_size(background[f:f + 1], height, width, fit,
                                                            "replicate") * 2 - 1,
                                         generator=background_generator(seed, noise_mode, f)) for f in frames])
