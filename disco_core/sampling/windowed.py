"""Denoising a video of any length with the temporal model: overlapping windows fused at every step.

At each timestep every window predicts the noise of its frames (with CFG as in the official code: only the
CLIP tokens differ between the halves); the predictions are averaged per frame with the windows' fusion weights
and one scheduler step moves all latents together. Windows run `windows_per_batch` at a time, so memory holds
the video's latents (4 x h/8 x w/8 per frame) plus one batch of windows, whatever the length. With a single
window this is exactly the official `TemConvNet` sampling loop.

There is one step loop (`denoise_windows`); who predicts the noise is pluggable: `WindowPredictor` runs every
batch of windows here, `disco_core.cluster` hands contiguous segments of batches to Ray workers. A segment's
predictions come back already summed over its own windows (`SegmentEps`), and segments are added in window
order, so the fused prediction is bit-equal however the batches are split.
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


def window_batches(plan: WindowPlan, windows_per_batch: int) -> list[list[int]]:
    ks = list(range(len(plan.starts)))
    return [ks[i:i + windows_per_batch] for i in range(0, len(ks), max(1, windows_per_batch))]


def batch_frames(plan: WindowPlan, ks: list[int]) -> list[int]:
    return [f for k in ks for f in plan.frames(k)]


def shared_until(plan: WindowPlan, batches: list[list[int]], first_batch: int) -> int:
    """The first frame that no window of the batches before `first_batch` covers."""
    return max((plan.starts[k] + plan.window for ks in batches[:first_batch] for k in ks), default=0)


@dataclasses.dataclass
class SegmentEps:
    """A contiguous run of batches' weighted noise predictions, as the fusion needs them to stay bit-equal.

    `body`: float32 [n, 4, h, w], frames `start` .. start + n - 1, summed over the segment's windows in window
    order; only frames no earlier segment covers. `head`: the frames earlier segments also cover, one
    (frame indices, weighted predictions) pair per batch in order, so the driver continues their sums in the
    single-process order."""
    start: int
    body: torch.Tensor
    head: list[tuple[torch.Tensor, torch.Tensor]]

    def add_to(self, eps_sum: torch.Tensor) -> None:
        for index, rows in self.head:
            eps_sum.index_add_(0, index.to(eps_sum.device), rows.to(eps_sum.device))
        # these frames are still 0 here, and 0 + x == x: the same bits as summing here window by window
        eps_sum[self.start:self.start + self.body.shape[0]] += self.body.to(eps_sum.device)

    @property
    def nbytes(self) -> int:
        return self.body.numel() * 4 + sum(i.numel() * i.element_size() + r.numel() * 4 for i, r in self.head)


def predict_noise(model, x, t, ehs, pose, background, num_frames: int, pose_scale: float,
                  background_scale: float, trace=None):
    """UNet noise prediction for clips of `num_frames` folded into the batch; both ControlNets summed."""
    with model.frames(num_frames):
        return sampling.predict_noise(model, x, t, ehs, pose, background, pose_scale, background_scale, trace)


@dataclasses.dataclass
class WindowJob:
    """What predicting the windows' noise needs, the same at every step of one video."""
    plan: WindowPlan
    batches: list[list[int]]
    tokens: torch.Tensor                      # [1, N, C]
    uncond: torch.Tensor | None               # [1, N, C] or None (no CFG)
    pose_for: Callable[[list[int]], torch.Tensor]
    background: torch.Tensor                  # [1 or plan.length, 4, h, w]
    guidance_scale: float
    pose_scale: float = 1.0
    background_scale: float = 1.0
    speed: Speed = dataclasses.field(default_factory=Speed)
    embedding_cache_mb: float = DEFAULT_EMBEDDING_CACHE_MB

    @property
    def do_cfg(self) -> bool:
        return self.guidance_scale > 1.0 and self.uncond is not None


class WindowPredictor:
    """Runs batches of windows on one model, with the exact speed-ups (K/V of the CLIP tokens once per video,
    conditioning embeddings kept between steps). A context manager: enter once per video."""

    def __init__(self, model, job: WindowJob):
        self.model, self.job = model, job
        dtype, w, do_cfg = model.dtype, job.plan.window, job.do_cfg
        self.copies = 2 if do_cfg else 1
        self.weights = [job.plan.weights(k) for k in range(len(job.plan.starts))]
        # The tokens of a batch of n frames, built once per size: the same tensor at every step (the K/V cache
        # recognises it), in the official CFG order [uncond, cond].
        self.contexts = {n: (torch.cat([job.uncond.expand(n, -1, -1), job.tokens.expand(n, -1, -1)]) if do_cfg
                             else job.tokens.expand(n, -1, -1)).to(dtype) for n in {len(ks) * w for ks in job.batches}}
        self.active = [(name, net) for name, net, scale in (
            ("pose", model.pose_controlnet, job.pose_scale), ("background", model.background_controlnet,
                                                              job.background_scale)) if scale != 0]
        self.embeddings = (EmbeddingCache(int(job.embedding_cache_mb * 2**20)) if job.speed.cache_conditioning
                           else None)
        self._stack = contextlib.ExitStack()

    def __enter__(self):
        self._stack.enter_context(prepared_networks(self.model, self.job.speed, list(self.contexts.values()),
                                                    self.copies, [net for _, net in self.active]))
        return self

    def __exit__(self, *exc):
        return self._stack.__exit__(*exc)

    def _two(self, x):
        return torch.cat([x, x]) if self.copies == 2 else x

    def predict(self, t, scaled: torch.Tensor, first: int, batch_ids: list[int], *,
                should_cancel: Callable[[], bool] | None = None, on_batch=None, trace=None) -> SegmentEps:
        """The weighted noise predictions of batches `batch_ids` (contiguous) at timestep t. `scaled`: the
        scheduler-scaled latents of frames `first` .. (the segment's frames at least)."""
        job, model, dtype, w = self.job, self.model, self.model.dtype, self.job.plan.window
        frames_of = [batch_frames(job.plan, job.batches[b]) for b in batch_ids]
        lo, hi = frames_of[0][0], max(max(f) for f in frames_of) + 1
        shared = shared_until(job.plan, job.batches, batch_ids[0])
        body = torch.zeros((hi - lo, *scaled.shape[1:]), dtype=torch.float32, device=scaled.device)
        head = []
        shared_bg = job.background.shape[0] == 1
        for b, frames in zip(batch_ids, frames_of):
            if should_cancel is not None and should_cancel():
                raise Cancelled("sampling was cancelled")
            ks = job.batches[b]
            index = torch.tensor(frames, device=scaled.device)
            n = len(frames)
            conds = {"pose": job.pose_for(frames).to(dtype),
                     "background": (job.background.expand(n, -1, -1, -1) if shared_bg
                                    else job.background[index.to(job.background.device)]).to(dtype)}
            x = to_memory_format(self._two(scaled[index - first]), job.speed)
            step0_trace = trace if (trace and b == 0) else None
            if step0_trace:
                trace("unet_input_step0", x)
            with _conditioning(self.embeddings, b, self.active, conds, shared_bg, self.copies):
                eps = predict_noise(model, x, t, self.contexts[n], self._two(conds["pose"]),
                                    self._two(conds["background"]), w, job.pose_scale, job.background_scale,
                                    step0_trace)
            if job.do_cfg:
                eps_uncond, eps_cond = eps.chunk(2)
                eps = eps_uncond + job.guidance_scale * (eps_cond - eps_uncond)
            weight = torch.cat([self.weights[k] for k in ks]).to(eps.device)
            rows = eps.float() * weight[:, None, None, None]
            body.index_add_(0, index - lo, rows)
            early = index < shared
            if early.any():
                head.append((index[early].cpu(), rows[early]))
            if on_batch is not None:
                on_batch(b, frames)
        return SegmentEps(max(lo, shared), body[max(lo, shared) - lo:], head)


def fusion_weights(plan: WindowPlan, batches: list[list[int]], device) -> torch.Tensor:
    """Per frame, the sum of the windows' weights, added in the order the predictions are."""
    weight_sum = torch.zeros(plan.length, dtype=torch.float32, device=device)
    for ks in batches:
        weight_sum.index_add_(0, torch.tensor(batch_frames(plan, ks), device=device),
                              torch.cat([plan.weights(k) for k in ks]).to(device))
    return weight_sum


class LocalSteps:
    """Every batch of a step on this process's model: the single-process `denoise_windows`."""

    def __init__(self, model, job: WindowJob):
        self.predictor = WindowPredictor(model, job)

    def __enter__(self):
        self.predictor.__enter__()
        return self

    def __exit__(self, *exc):
        return self.predictor.__exit__(*exc)

    def step(self, i, t, scaled, *, should_cancel=None, on_batch=None, trace=None) -> list[SegmentEps]:
        return [self.predictor.predict(t, scaled, 0, list(range(len(self.predictor.job.batches))),
                                       should_cancel=should_cancel, on_batch=on_batch,
                                       trace=trace if i == 0 else None)]


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
    job = WindowJob(plan, window_batches(plan, windows_per_batch), tokens, uncond, pose_for, background,
                    guidance_scale, pose_scale, background_scale, Speed() if speed is None else speed,
                    embedding_cache_mb)
    if trace:
        trace("encoder_hidden_states", torch.cat([uncond, tokens]) if job.do_cfg else tokens)
        trace("controlnet_cond_background", torch.cat([background[:1]] * (2 if job.do_cfg else 1)))
    with LocalSteps(model, job) as steps:
        return step_loop(steps, latents, plan, job.batches, scheduler=scheduler,
                         num_inference_steps=num_inference_steps, dtype=model.dtype, eta=eta, generator=generator,
                         on_step=on_step, should_cancel=should_cancel, trace=trace)


def step_loop(steps, latents: torch.Tensor, plan: WindowPlan, batches: list[list[int]], *, scheduler,
              num_inference_steps: int, dtype, eta: float = 0.0, generator=None,
              on_step: Callable[[StepInfo], None] | None = None, should_cancel: Callable[[], bool] | None = None,
              trace=None) -> torch.Tensor:
    """The sampler's steps over the whole video; `steps.step(i, t, scaled latents, ...)` -> the segments'
    weighted noise predictions in window order (`LocalSteps` here, `cluster.temporal.RemoteSteps` on Ray)."""
    scheduler.set_timesteps(num_inference_steps, device=latents.device)
    latents = latents.to(dtype) * scheduler.init_noise_sigma
    weight_sum = fusion_weights(plan, batches, latents.device)
    step_kwargs = _step_kwargs(scheduler, eta, generator)
    if trace:
        trace("timesteps", scheduler.timesteps)
        trace("initial_latents", latents)
    num_steps, num_windows = len(scheduler.timesteps), len(plan.starts)
    last_frames = batch_frames(plan, batches[-1])
    for i, t in enumerate(scheduler.timesteps):
        if should_cancel is not None and should_cancel():
            raise Cancelled("sampling was cancelled")

        def on_batch(b, frames, i=i):
            if b + 1 < len(batches) and on_step is not None:
                on_step(_info(i, num_steps, b, len(batches), frames, latents[torch.tensor(frames)], None,
                              i * num_windows + batches[b][-1] + 1, num_steps * num_windows))

        # elementwise, so scaling the whole video once equals scaling each batch's frames
        scaled = scheduler.scale_model_input(latents, t)
        eps_sum = torch.zeros(latents.shape, dtype=torch.float32, device=latents.device)
        for segment in steps.step(i, t, scaled, should_cancel=should_cancel, on_batch=on_batch, trace=trace):
            segment.add_to(eps_sum)
        eps = (eps_sum / weight_sum[:, None, None, None]).to(dtype)
        latents, x0 = scheduler_step(scheduler, eps, t, latents, step_kwargs, i, trace)
        if on_step is not None:
            index = torch.tensor(last_frames, device=latents.device)
            on_step(_info(i, num_steps, len(batches) - 1, len(batches), last_frames, latents[index],
                          None if x0 is None else x0[index], (i + 1) * num_windows, num_steps * num_windows))
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
