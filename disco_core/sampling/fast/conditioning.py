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
def using_conditioning(nets_and_values, copies: int = 1):
    """Inside, each `net` in `[(net, value), ...]` uses `value` (its conditioning embedding of the batch's
    condition) repeated `copies` times along the batch (the CFG halves), for every forward call of that batch."""
    originals = []
    try:
        for net, value in nets_and_values:
            batch = value.shape[0] * copies
            if copies > 1:
                value = torch.cat([value] * copies)
            originals.append((net, net.controlnet_cond_embedding))
            net.controlnet_cond_embedding = _Precomputed(value, batch)
        yield
    finally:
        for net, original in reversed(originals):
            net.controlnet_cond_embedding = original


@contextlib.contextmanager
def precomputed_conditioning(nets_and_conds, copies: int = 1):
    """Inside, each `net` in `[(net, cond), ...]` uses `net.controlnet_cond_embedding(cond)` computed once here,
    repeated `copies` times along the batch (the CFG halves), for every forward call with that batch size."""
    with using_conditioning([(net, net.controlnet_cond_embedding(cond)) for net, cond in nets_and_conds], copies):
        yield


class EmbeddingCache:
    """Conditioning embeddings kept between steps under a key (a batch of windows), until `budget_bytes` is
    used; embeddings past the budget are computed again at each use. Memory stays bounded whatever the video's
    length, and the values are the same either way (same module, same input)."""

    def __init__(self, budget_bytes: int):
        self.budget, self.used = budget_bytes, 0
        self.values: dict = {}

    def get(self, key, net, cond: torch.Tensor) -> torch.Tensor:
        value = self.values.get(key)
        if value is None:
            value = net.controlnet_cond_embedding(cond)
            size = value.numel() * value.element_size()
            if self.used + size <= self.budget:
                self.values[key] = value
                self.used += size
        return value
