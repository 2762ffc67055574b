"""Weights kept in the precision the checkpoint stores them in, computed in a wider one, layer by layer.

Official DisCo checkpoints store the UNet, ControlNets and VAE in fp16. Run in fp32 (the CPU), those weights were
converted to fp32 at load: twice their bytes for values that fp16 holds exactly. Here a network keeps them in fp16
and each layer's weights are widened into a reused scratch buffer just before the layer runs. fp16 -> fp32 is
exact, so the layer computes exactly what it computed with fp32 weights (same values, same kernels): same
outputs, about half the weight memory, at the cost of one conversion pass over the weights per network call.
"""
from __future__ import annotations

import torch
from torch import nn


class _Scratch:
    """One buffer per (device, dtype), grown to the largest layer; layers run one after another, so they share it
    (on a GPU, kernels of one stream run in order, so a later layer's copy never overtakes an earlier read)."""

    def __init__(self):
        self.buffers: dict[tuple, torch.Tensor] = {}

    def take(self, numel: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        key = (device, dtype)
        buf = self.buffers.get(key)
        if buf is None or buf.numel() < numel:
            self.buffers.pop(key, None)
            buf = self.buffers[key] = torch.empty(numel, dtype=dtype, device=device)
        return buf


def _widen(scratch: _Scratch, compute: torch.dtype):
    def pre_hook(module: nn.Module, args):
        stored = {n: p for n, p in module._parameters.items() if p is not None and p.is_floating_point()}
        module._disco_stored = stored
        total = sum(p.numel() for p in stored.values())
        if torch.is_grad_enabled():  # a weight kept for backward must not be overwritten by the next layer
            for name, p in stored.items():
                module._parameters[name] = p.to(compute)
            return
        any_param = next(iter(stored.values()))
        buf, offset = scratch.take(total, compute, any_param.device), 0
        for name, p in stored.items():
            view = buf[offset:offset + p.numel()].view(p.shape)
            view.copy_(p)
            module._parameters[name] = view
            offset += p.numel()

    def post_hook(module: nn.Module, args, output):
        module._parameters.update(module._disco_stored)
        module._disco_stored = None
        return output
    return pre_hook, post_hook


def keep_stored_precision(network: nn.Module, compute: torch.dtype) -> int:
    """Make every layer of `network` whose own weights are narrower floats than `compute` widen them while it
    runs. -> the number of layers changed. The weights themselves are left as they are."""
    scratch = _Scratch()
    pre, post = _widen(scratch, compute)
    count = 0
    for module in network.modules():
        own = [p for p in module._parameters.values() if p is not None and p.is_floating_point()]
        if own and any(p.dtype != compute for p in own):
            module.register_forward_pre_hook(pre)
            module.register_forward_hook(post, always_call=True)
            count += 1
    network._disco_compute_dtype = compute
    return count
