"""The pose images a window needs, at the model's size, with a bounded cache.

Every denoising step runs every window again, so without a cache each pose would be rendered and fitted once
per step (for skeletons drawn from keypoints at 1080x1920 that costs more than the model on a GPU). Fitted poses
are kept, in the dtype the model is fed, until `budget_bytes` is used; frames past the budget are fitted again
each step. The memory is bounded by the budget whatever the length, and the values are the same either way.
"""
from __future__ import annotations

import torch

from ..media.images import check_image
from ..media.images import fit as fit_to_size
from .windows import WindowPlan

DEFAULT_POSE_CACHE_MB = 256


class WindowPoses:
    """`poses`: a tensor [T, 3, h, w] in 0..1, any sequence whose slices give one, or pose frames with
    `model_input(start, stop, height, width, fit)` that render at the model's size."""

    def __init__(self, poses, plan: WindowPlan, height: int, width: int, fit: str, device, dtype,
                 budget_bytes: int = DEFAULT_POSE_CACHE_MB * 2**20):
        self.poses, self.plan, self.size, self.fit = poses, plan, (height, width), fit
        self.device, self.dtype = device, dtype
        self.budget, self.used = budget_bytes, 0
        self.cache: dict[int, torch.Tensor] = {}  # source frame -> [3, height, width] on the CPU
        self.reads = 0                              # frames fitted (for tests and benchmarks)

    def _fit(self, a: int, b: int) -> torch.Tensor:
        self.reads += b - a
        if hasattr(self.poses, "model_input"):
            x = self.poses.model_input(a, b, *self.size, self.fit)
        else:
            x = fit_to_size(check_image(self.poses[a:b], "poses", 3), *self.size, self.fit)
        return x.to(self.dtype)

    def __call__(self, frames: list[int]) -> torch.Tensor:
        """[len(frames), 3, height, width] in the model's dtype on its device, for these (virtual) frames."""
        sources = [self.plan.source_frame(f) for f in frames]
        missing = sorted({s for s in sources if s not in self.cache})
        fresh: dict[int, torch.Tensor] = {}
        start = 0
        while start < len(missing):  # fit runs of consecutive frames in one call
            end = start + 1
            while end < len(missing) and missing[end] == missing[end - 1] + 1:
                end += 1
            run = self._fit(missing[start], missing[end - 1] + 1).cpu()
            fresh.update(zip(missing[start:end], run))
            frame_bytes = run[0].numel() * run.element_size()
            keep = min(len(run), max(0, (self.budget - self.used) // frame_bytes))
            if keep:  # one block per run (few large allocations), not a view of the whole batch
                self.cache.update(zip(missing[start:start + keep], run[:keep].clone()))
                self.used += keep * frame_bytes
            start = end
        return torch.stack([self.cache.get(s, fresh.get(s)) for s in sources]).to(self.device)
