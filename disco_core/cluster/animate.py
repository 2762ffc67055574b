"""`animate_chunks` on a pool of workers: same arguments, same frames, in order, chunk by chunk.

Image model: the workers encode the reference once each, then frame chunks go to whichever worker is free and
come back in order through a bounded reordering buffer. Temporal model: the step loop runs here (temporal.py),
and the clean latents are decoded on the workers chunk by chunk, in order."""
from __future__ import annotations

from types import SimpleNamespace
from typing import Callable, Iterator

import torch

from ..errors import InputError
from ..sampling.animate import _check_options
from ..pose.frames import as_pose_frames
from ..sampling.steps import StepInfo, make_scheduler
from ..sampling.animate_temporal import video_noise
from ..sampling.windowed import step_loop, window_batches
from ..sampling.windows import DEFAULT_OVERLAP, DEFAULT_WINDOW, plan_windows
from .temporal import RemoteSteps


@torch.no_grad()
def animate_chunks_on(pool, reference: torch.Tensor, mask: torch.Tensor, poses, *, background=None,
                      height: int = 256, width: int = 256, fit: str = "crop", num_inference_steps: int = 50,
                      guidance_scale: float = 1.5, scheduler: str = "ddim", seed: int = 42,
                      frames_per_batch: int = 8, noise_mode: str = "per_frame", pose_scale: float = 1.0,
                      background_scale: float = 1.0, uncond: str | None = None, eta: float = 0.0,
                      on_step: Callable[[StepInfo], None] | None = None, preview_every: int = 0,
                      should_cancel: Callable[[], bool] | None = None, window: int = DEFAULT_WINDOW,
                      overlap: int = DEFAULT_OVERLAP, speed=None) -> Iterator[tuple[range, torch.Tensor]]:
    """Arguments as `disco_core.pipeline.animate_chunks`; `pool` a `WorkerPool` (from `Cluster.pool`)."""
    poses = as_pose_frames(poses)
    if len(poses) == 0:
        raise InputError("there are no poses to animate: give at least one pose frame")
    temporal = pool.info["is_temporal"]
    shim = SimpleNamespace(config=SimpleNamespace(vae_scale_factor=pool.info["vae_scale_factor"]))
    _check_options(shim, height, width, num_inference_steps, frames_per_batch, noise_mode, uncond)
    inputs = {"reference": reference, "mask": mask, "poses": poses, "background": background}
    options = dict(height=height, width=width, fit=fit, guidance_scale=guidance_scale, seed=seed,
                   frames_per_batch=frames_per_batch, noise_mode=noise_mode, pose_scale=pose_scale,
                   background_scale=background_scale, uncond=uncond, speed=speed)
    if temporal:
        plan = plan_windows(len(poses), window, overlap)  # checked here, before any worker is busy
        options.update(window=window, overlap=overlap)
    else:
        options.update(num_inference_steps=num_inference_steps, scheduler=scheduler, eta=eta)
    video_id = pool.open_video(inputs, options)
    try:
        if temporal:
            yield from _temporal(pool, video_id, plan, num_inference_steps, scheduler, seed, frames_per_batch,
                                 noise_mode, eta, height, width, on_step, preview_every, should_cancel)
        else:
            yield from _image(pool, video_id, len(poses), frames_per_batch, num_inference_steps, on_step,
                              should_cancel)
    finally:
        pool.close_video(video_id)


def _image(pool, video_id, num_frames, frames_per_batch, num_steps, on_step, should_cancel):
    chunks = [range(s, min(s + frames_per_batch, num_frames)) for s in range(0, num_frames, frames_per_batch)]
    tasks = [lambda actor, j=j: actor.render_chunk.remote(video_id, j) for j in range(len(chunks))]
    for j, frames in enumerate(pool.run_ordered(tasks, video_id=video_id, should_cancel=should_cancel)):
        if on_step is not None:  # progress per finished chunk; its first frame is the preview
            on_step(StepInfo(step=num_steps - 1, num_steps=num_steps, chunk=j, num_chunks=len(chunks),
                             frames=chunks[j], latents=None, x0=None, preview=frames[0]))
        yield chunks[j], frames


def _temporal(pool, video_id, plan, num_steps, scheduler, seed, frames_per_batch, noise_mode, eta, height,
              width, on_step, preview_every, should_cancel):
    info = pool.info
    shape = (info["in_channels"], height // info["vae_scale_factor"], width // info["vae_scale_factor"])
    latents, generator = video_noise(shape, plan.length, seed, noise_mode, "cpu", info["dtype"])
    batches = window_batches(plan, max(1, frames_per_batch // plan.window))

    def callback(step_info: StepInfo):
        if on_step is None:
            return
        last = step_info.step + 1 == step_info.num_steps and step_info.chunk + 1 == step_info.num_chunks
        if preview_every and step_info.x0 is not None and (last or (step_info.step + 1) % preview_every == 0):
            step_info.preview = next(pool.run_ordered([lambda actor: actor.decode.remote(step_info.x0[:1])]))[0]
        on_step(step_info)

    steps = RemoteSteps(pool, video_id, plan, batches)
    latents = step_loop(steps, latents, plan, batches, scheduler=make_scheduler(scheduler, info["scheduler"]),
                        num_inference_steps=num_steps, dtype=info["dtype"], eta=eta, generator=generator,
                        on_step=callback, should_cancel=should_cancel)
    out = [range(s, min(s + frames_per_batch, plan.num_frames)) for s in range(0, plan.num_frames, frames_per_batch)]
    tasks = [lambda actor, r=r: actor.decode.remote(latents[r.start:r.stop]) for r in out]
    yield from zip(out, pool.run_ordered(tasks, video_id=video_id, should_cancel=should_cancel))
