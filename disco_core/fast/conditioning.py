"""Each ControlNet's conditioning embedding computed once per chunk instead of once per step.

The embedding (the pose ControlNet's full-resolution conv stack, the background ControlNet's conv on the latents)
depends only on the condition image, which is the same at every step and in both CFG halves: it is computed once
for the chunk's frames and fed to every step's forward in place of the module (same module, same input, so the same
values; the official code recomputes it for both CFG halves at every step).
"""
from __future__ import annotations

import contextlib

import torch
from torch import nn


class _Precomputed(nn.Module):
    """Stands in for `controlnet_cond_embedding` while a chunk is sampled: returns the stored embedding."""

    def __init__(self, value: torch.Tensor, batch: int):
        super().__init__()
        self.value, self.batch = value, batch

    def forward(self, cond: torch.Tensor) -> torch.Tensor:
        if cond.shape[0] != self.batch:
            raise RuntimeError(f"internal: precomputed conditioning is for batch {self.batch}, got {cond.shape[0]}")
        return self.value


@contextlib.contextmanager
def precomputed_conditioning(nets_and_conds, copies: int = 1):
    """Inside, each `net` in `[(net, cond), ...]` uses `net.controlnet_cond_embedding(cond)` computed once here,
    repeated `copies` times along the batch (the CFG halves), for every forward call with that batch size."""
    originals = []
    try:
        for net, cond in nets_and_conds:
            original = net.controlnet_cond_embedding
            value = original(cond)
            if copies > 1:
                value = torch.cat([value] * copies)
            originals.append((net, original))
            net.controlnet_cond_embedding = _Precomputed(value, cond.shape[0] * copies)
        yield
    finally:
        for net, original in originals:
            net.controlnet_cond_embedding = original
