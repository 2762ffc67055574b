"""`animate`: one photo + a pose sequence -> video frames. The one entry point of the nodes and the CLI."""
from __future__ import annotations

from typing import Callable, Iterator

import torch

from ..model.encode import background_latents, clip_tokens, decode, uncond_tokens
from ..errors import InputError
from .fast import Speed
from ..media.frame_file import frame_buffer
from ..model.networks import DiscoModel
from .noise import NOISE_MODES, background_generator, initial_latents
from ..pose.frames import as_pose_frames
from ..media.images import background_input, check_image, clip_input, fit_window
from ..media.images import fit as fit_to_size
from .steps import Conditioning, StepInfo, denoise, make_scheduler


def _check_options(model, height, width, num_inference_steps, frames_per_batch, noise_mode, uncond):
    vsf = model.config.vae_scale_factor
    if height % vsf or width % vsf or height < vsf or width < vsf:
        raise InputError(f"output size {width}x{height} must be a positive multiple of {vsf} in both directions "
                         f"(e.g. 256x256, the training size, or 256x384 for portrait)")
    if num_inference_steps < 1:
        raise InputError(f"steps must be at least 1, got {num_inference_steps}")
    if frames_per_batch < 1:
        raise InputError(f"frames per batch must be at least 1, got {frames_per_batch}")
    if noise_mode not in NOISE_MODES:
        raise InputError(f"noise mode {noise_mode!r} is unknown; use one of {NOISE_MODES}")
    if uncond not in (None, "blank", "zeros"):
        raise InputError(f"uncond {uncond!r} is unknown; use 'blank' (CFG-trained checkpoints) or 'zeros'")


def _preview(model: DiscoModel, info: StepInfo) -> torch.Tensor:
    latents = info.x0 if info.x0 is not None else info.latents
    return decode(model, latents[:1])[0].permute(1, 2, 0).float().cpu()


@torch.no_grad()
def animate(model: DiscoModel, reference: torch.Tensor, mask: torch.Tensor, poses, buffer_dir: str | None = None,
            **options) -> torch.Tensor:
    """Generate one frame per pose: float32 CPU frames [T, height, width, 3] in 0..1 (see `animate_chunks` for
    the arguments). Only the output is held: each chunk is written into it as it is decoded. `buffer_dir`: a
    folder on disk to hold the output in a file-backed tensor (frame_file.py), so a long video's frames need not
    stay in RAM; None keeps them in memory."""
    poses = as_pose_frames(poses)
    out = None
    for frames, chunk in animate_chunks(model, reference, mask, poses, **options):
        if out is None:
            out = frame_buffer((len(poses), *chunk.shape[1:]), buffer_dir)
        out[frames.start:frames.stop] = chunk
    if out is None:
        raise InputError("there are no poses to animate: give at least one pose frame")
    return out


@torch.no_grad()
def animate_chunks(model: DiscoModel, reference: torch.Tensor, mask: torch.Tensor, poses, *,
                   background: torch.Tensor | None = None, height: int = 256, width: int = 256,
                   fit: str = "crop", num_inference_steps: int = 50, guidance_scale: float = 1.5,
                   scheduler: str = "ddim", seed: int = 42, frames_per_batch: int = 8,
                   noise_mode: str = "per_frame", pose_scale: float = 1.0, background_scale: float = 1.0,
                   uncond: str | None = None, eta: float = 0.0, on_step: Callable[[StepInfo], None] | None = None,
                   preview_every: int = 0, should_cancel: Callable[[], bool] | None = None, window: int = 16,
                   overlap: int = 4, speed: Speed | None = None) -> Iterator[tuple[range, torch.Tensor]]:
    """Generate one frame per pose, chunk by chunk: yields (frame indices, float32 CPU frames [b, height, width,
    3] in 0..1), so a caller can encode frames as they come and hold none.

    reference: [1, 3, H, W] photo in 0..1; mask: [1, 1, H, W] person mask in 0..1 (1 = person);
    poses: [T, 3, h, w] rendered skeletons in 0..1 at their canvas size, or `PoseFrames` (skeletons rendered per
    chunk, never all at once); background: optional [1 or T, 3, H', W'] in 0..1 that replaces the photo's own
    background (used as is, no person hole).
    `fit`: how every input is brought to height x width ('crop' centre crop, 'pad', or 'official').
    `window` / `overlap`: frames per temporal-model window and shared by neighbouring windows (the temporal
    model only; the image model draws every frame on its own and ignores them).
    `speed`: how the sampler runs (`fast.Speed`; default: every exact speed-up, same frames).
    """
    _check_options(model, height, width, num_inference_steps, frames_per_batch, noise_mode, uncond)
    if model.is_temporal:  # windows over the whole video; temporal/pipeline.py streams the same frames
        from .animate_temporal import animate_windows
        yield from animate_windows(
            model, reference, mask, poses, background=background, height=height, width=width, fit=fit,
            num_inference_steps=num_inference_steps, guidance_scale=guidance_scale, scheduler=scheduler,
            seed=seed, frames_per_batch=frames_per_batch, noise_mode=noise_mode, pose_scale=pose_scale,
            background_scale=background_scale, uncond=uncond, eta=eta, window=window, overlap=overlap,
            on_step=on_step, preview_every=preview_every, should_cancel=should_cancel, speed=speed)
        return
    video = ImageVideo(model, reference, mask, poses, background=background, height=height, width=width, fit=fit,
                       num_inference_steps=num_inference_steps, guidance_scale=guidance_scale, scheduler=scheduler,
                       seed=seed, frames_per_batch=frames_per_batch, noise_mode=noise_mode, pose_scale=pose_scale,
                       background_scale=background_scale, uncond=uncond, eta=eta, speed=speed)
    for index in range(len(video.chunks)):
        yield video.chunks[index], video.render(index, on_step, preview_every, should_cancel)


class ImageVideo:
    """One video of the image model: the reference encoded once, then any chunk of frames rendered on its own
    (chunks are independent, so they can run in any order or place: `disco_core.cluster` hands them out)."""

    def __init__(self, model: DiscoModel, reference, mask, poses, *, background=None, height=256, width=256,
                 fit="crop", num_inference_steps=50, guidance_scale=1.5, scheduler="ddim", seed=42,
                 frames_per_batch=8, noise_mode="per_frame", pose_scale=1.0, background_scale=1.0, uncond=None,
                 eta=0.0, speed: Speed | None = None):
        _check_options(model, height, width, num_inference_steps, frames_per_batch, noise_mode, uncond)
        reference = check_image(reference, "reference image", 3)[:1]
        mask = check_image(mask, "reference mask", 1)[:1]
        poses = as_pose_frames(poses)
        if mask.shape[-2:] != reference.shape[-2:]:
            mask = torch.nn.functional.interpolate(mask, size=reference.shape[-2:], mode="bilinear")
        num_frames = len(poses)
        if background is not None:
            background = check_image(background, "background", 3)
            if background.shape[0] not in (1, num_frames):
                raise InputError(f"background has {background.shape[0]} images; give 1 or one per pose frame "
                                 f"({num_frames})")
        self.model, self.poses, self.background = model, poses, background
        self.size, self.fit, self.seed, self.noise_mode = (height, width), fit, seed, noise_mode
        self.sampler = dict(num_inference_steps=num_inference_steps, guidance_scale=guidance_scale,
                            pose_scale=pose_scale, background_scale=background_scale, eta=eta, speed=speed)
        self.scheduler = scheduler
        uncond = uncond or model.config.uncond

        # 1. Reference encodings, once per video.
        window = fit_window(*reference.shape[-2:], height, width, fit)
        clip_pixels = clip_input(reference, mask, window, model.config.clip_image_size)
        self.tokens = clip_tokens(model, clip_pixels)
        self.unc = uncond_tokens(model, clip_pixels, self.tokens, uncond) if guidance_scale > 1 else None
        self.bg_latents = None
        if background is None:
            self.bg_latents = background_latents(model, background_input(reference, mask, window, height, width),
                                                 generator=background_generator(seed, noise_mode))
        elif background.shape[0] == 1:
            self.bg_latents = background_latents(model, fit_to_size(background, height, width, fit, "replicate")
                                                 * 2 - 1, generator=background_generator(seed, noise_mode))
        self.latent_shape = (model.unet.config.in_channels, height // model.config.vae_scale_factor,
                             width // model.config.vae_scale_factor)
        self.chunks = [range(s, min(s + frames_per_batch, num_frames))
                       for s in range(0, num_frames, frames_per_batch)]

    @torch.no_grad()
    def render(self, index: int, on_step=None, preview_every: int = 0, should_cancel=None) -> torch.Tensor:
        """Chunk `index` -> float32 CPU frames [b, height, width, 3] in 0..1. Noise depends on (seed, frame
        index) only, unless noise_mode == "official"."""
        model, (height, width), fit, seed, noise_mode = self.model, self.size, self.fit, self.seed, self.noise_mode
        frames, device, dtype = self.chunks[index], model.device, model.dtype
        pose = self.poses.model_input(frames.start, frames.stop, height, width, fit).to(device)
        if self.bg_latents is None:
            chunk_bg = fit_to_size(self.background[frames.start:frames.stop], height, width, fit, "replicate") * 2 - 1
            bg = torch.cat([background_latents(model, chunk_bg[i:i + 1],
                                               generator=background_generator(seed, noise_mode, f))
                            for i, f in enumerate(frames)])
        else:
            bg = self.bg_latents.expand(len(frames), -1, -1, -1)
        b = len(frames)
        cond = Conditioning(self.tokens.expand(b, -1, -1), None if self.unc is None else self.unc.expand(b, -1, -1),
                            pose, bg)
        latents, generator = initial_latents(self.latent_shape, seed, frames, noise_mode, device, dtype)

        def chunk_callback(info: StepInfo):
            if on_step is None:
                return
            last = info.step + 1 == info.num_steps
            if preview_every and (last or (info.step + 1) % preview_every == 0):
                info.preview = _preview(model, info)
            on_step(info)

        latents = denoise(model, latents, cond, scheduler=make_scheduler(self.scheduler, model.config.scheduler),
                          generator=generator, on_step=chunk_callback, should_cancel=should_cancel,
                          step_info={"chunk": index, "num_chunks": len(self.chunks), "frames": frames},
                          **self.sampler)
        return decode(model, latents).permute(0, 2, 3, 1).float().cpu()
