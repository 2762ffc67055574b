"""Low-rank adapters on the UNet's attention projections (the official `net_lora.py` puts LoRA on every UNet
attention processor: self- and cross-attention, q/k/v/out). Written by hand: a forward hook adds
`up(down(x)) * alpha / rank` to each target Linear, so the base weights and their state-dict names stay untouched
and removing the adapters restores the base model exactly. `up` starts at zero: a fresh adapter changes nothing.
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import InputError

TARGETS = ("attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0",
           "attn2.to_q", "attn2.to_k", "attn2.to_v", "attn2.to_out.0")
DEFAULT_RANK = 4  # diffusers' LoRACrossAttnProcessor default, which net_lora.py uses
ATTR = "lora_adapters"


class LoRA(nn.Module):
    def __init__(self, in_features: int, out_features: int, rank: int, alpha: float):
        super().__init__()
        self.down = nn.Linear(in_features, rank, bias=False)
        self.up = nn.Linear(rank, out_features, bias=False)
        nn.init.normal_(self.down.weight, std=1.0 / rank)
        nn.init.zeros_(self.up.weight)
        self.scale = alpha / rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.down(x.to(self.down.weight.dtype))) * self.scale


def _key(module_name: str) -> str:
    return module_name.replace(".", "__")  # ModuleDict keys cannot contain dots


def module_name(key: str) -> str:
    return key.replace("__", ".")


def target_modules(model: nn.Module) -> dict[str, nn.Linear]:
    """`unet.…attnN.to_x` Linear layers that get an adapter, by full module name."""
    out = {f"unet.{name}": m for name, m in model.unet.named_modules()
           if isinstance(m, nn.Linear) and name.endswith(TARGETS) and ".transformer_blocks." in f".{name}"}
    if not out:
        raise InputError("this model has no UNet attention layers to put LoRA adapters on")
    return out


def _hook(adapter: LoRA):
    def add(module, args, output):
        return output + adapter(args[0]).to(output.dtype)
    return add


def add_lora(model: nn.Module, rank: int = DEFAULT_RANK, alpha: float | None = None,
             generator: torch.Generator | None = None) -> nn.ModuleDict:
    """Attach fresh adapters (on the model's device, fp32) and return them. One set per model."""
    if has_lora(model):
        raise InputError("this model already has LoRA adapters (a personalisation is applied); fine-tune the "
                         "base model instead, or train the 'official' set on top")
    if rank < 1:
        raise InputError(f"LoRA rank must be at least 1, got {rank}")
    targets = target_modules(model)
    adapters = nn.ModuleDict()
    with torch.random.fork_rng(devices=[]):
        if generator is not None:
            torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator)))
        for name, linear in targets.items():
            adapters[_key(name)] = LoRA(linear.in_features, linear.out_features, rank,
                                        float(rank if alpha is None else alpha))
    adapters.to(device=next(model.unet.parameters()).device)
    _attach(model, adapters, targets)
    return adapters


def _attach(model: nn.Module, adapters: nn.ModuleDict, targets: dict[str, nn.Linear] | None = None) -> None:
    targets = targets or target_modules(model)
    setattr(model, ATTR, adapters)
    model._lora_handles = [targets[module_name(k)].register_forward_hook(_hook(a)) for k, a in adapters.items()]


def attach_lora(model: nn.Module, adapters: nn.ModuleDict) -> None:
    """Attach existing adapters (loaded from a file, or copied from another model)."""
    if has_lora(model):
        raise InputError("this model already has LoRA adapters; load the personalisation on the plain base model")
    targets = target_modules(model)
    unknown = [module_name(k) for k in adapters if module_name(k) not in targets]
    if unknown:
        raise InputError(f"LoRA adapters for layers this model lacks: {unknown[:3]}; the file is for another model")
    _attach(model, adapters, targets)


def remove_lora(model: nn.Module) -> None:
    for handle in getattr(model, "_lora_handles", []):
        handle.remove()
    model._lora_handles = []
    if has_lora(model):
        delattr(model, ATTR)


def has_lora(model: nn.Module) -> bool:
    return isinstance(getattr(model, ATTR, None), nn.ModuleDict)


def lora_rank(adapters: nn.ModuleDict) -> int:
    return next(iter(adapters.values())).down.out_features


def adapters_state(adapters: nn.ModuleDict) -> dict[str, torch.Tensor]:
    """`lora.<module>.down.weight` / `.up.weight` -> tensors (names readable, one entry per factor)."""
    return {f"lora.{module_name(k)}.{part}.weight": getattr(a, part).weight
            for k, a in adapters.items() for part in ("down", "up")}


def adapters_from_state(state: dict[str, torch.Tensor], alpha_over_rank: float) -> nn.ModuleDict:
    adapters = nn.ModuleDict()
    names = sorted({k[len("lora."):].rsplit(".", 2)[0] for k in state if k.startswith("lora.")})
    for name in names:
        down, up = state[f"lora.{name}.down.weight"], state[f"lora.{name}.up.weight"]
        rank = down.shape[0]
        a = LoRA(down.shape[1], up.shape[0], rank, alpha_over_rank * rank)
        a.down.weight.data.copy_(down)
        a.up.weight.data.copy_(up)
        adapters[_key(name)] = a
    return adapters
