"""How the sampler runs, separate from what it computes: exact speed-ups, each one switchable and tested equal to
the plain path (tests/core/test_fast_sampling.py), and the official execution order for comparison (bench/).

`Speed()` (the default) turns on every exact technique that pays on every device; `OFFICIAL_ORDER` recomputes
everything per step like the official `forward_sample_multicontrol`.
"""
from __future__ import annotations

import contextlib
import dataclasses

import torch

from .conditioning import EmbeddingCache, precomputed_conditioning, using_conditioning
from .context_kv import shared_context_kv


@dataclasses.dataclass(frozen=True)
class Speed:
    """Execution choices that leave the sampler's outputs unchanged (same math; fp32 summation order may differ
    in the last bits, see the tests' tolerances)."""
    # ControlNet conditioning embeddings once per chunk (temporal: per batch of windows, kept between steps up
    # to a memory budget), not per step and CFG half
    cache_conditioning: bool = True
    cache_context_kv: bool = True     # cross-attention K/V of the constant CLIP tokens once per chunk (temporal: video)
    channels_last: bool = False       # NHWC activations/weights for the UNet and ControlNets (GPU convs)
    # torch.compile mode for the UNet/ControlNet blocks ("default", "max-autotune", "reduce-overhead" = CUDA
    # graphs), None = eager. Compiled code is kept on the blocks and reused by later calls of the same shapes.
    # The K/V cache swaps attention processors per chunk, which would recompile: use it with compile off.
    compile: str | None = None
    compile_backend: str = "inductor"   # torch.compile backend ("aot_eager" checks the graphs without codegen)

    @property
    def label(self) -> str:
        on = [f.name for f in dataclasses.fields(self) if getattr(self, f.name)]
        return "+".join(on) if on else "official order"


OFFICIAL_ORDER = Speed(cache_conditioning=False, cache_context_kv=False, channels_last=False)
COMPILED = Speed(cache_context_kv=False, compile="default")


def _blocks(network):
    return [*network.down_blocks, network.mid_block, *getattr(network, "up_blocks", [])]


def _set_compiled(modules, mode: str | None, backend: str) -> None:
    """Compile (or return to eager) the blocks of each network; the compiled call stays on the block."""
    key = None if mode is None else (mode, backend)
    for module in modules:
        if getattr(module, "_disco_compile", None) == key:
            continue
        for block in _blocks(module):
            if mode is None:
                block._compiled_call_impl = None
            else:
                block.compile(mode=None if backend != "inductor" else mode, backend=backend, dynamic=False)
        module._disco_compile = key


def _set_memory_format(modules, channels_last: bool) -> None:
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    for module in modules:
        if getattr(module, "_disco_channels_last", False) != channels_last:
            module.to(memory_format=fmt)
            module._disco_channels_last = channels_last


@contextlib.contextmanager
def prepared_networks(model, speed: Speed, context, groups: int, nets):
    """Memory format, compilation and (if on) the cross-attention K/V cache for the UNet and `nets` (the
    ControlNets that run), for as long as the same CLIP tokens are sampled: `context` the tokens tensor passed to
    the networks ([groups * B, N, C]), or a list of them for batches of different sizes."""
    _set_memory_format([model.unet, *model.controlnet.nets], speed.channels_last)
    _set_compiled([model.unet, *model.controlnet.nets], speed.compile, speed.compile_backend)
    with contextlib.ExitStack() as stack:
        if speed.cache_context_kv:
            stack.enter_context(shared_context_kv([model.unet, *nets], context, groups))
        yield


@contextlib.contextmanager
def sampling_context(model, speed: Speed, context: torch.Tensor, groups: int, branches, copies: int):
    """Set up one chunk's sampling: `context` the UNet/ControlNet tokens ([groups * B, N, C]); `branches` the
    `(controlnet, condition [B, ...])` pairs that run; `copies` how many times the batch is repeated (CFG: 2)."""
    with prepared_networks(model, speed, context, groups, [net for net, _ in branches]), \
            (precomputed_conditioning(branches, copies) if speed.cache_conditioning else contextlib.nullcontext()):
        yield


def to_memory_format(x: torch.Tensor, speed: Speed) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if speed.channels_last and x.ndim == 4 else x


__all__ = ["COMPILED", "OFFICIAL_ORDER", "EmbeddingCache", "Speed", "prepared_networks", "sampling_context",
           "to_memory_format", "using_conditioning"]
