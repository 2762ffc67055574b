"""Which tensors a fine-tune trains.

`official` is what the official human-specific fine-tuning trains (`--unet_unfreeze_type crossattn
--freeze_pose True --freeze_background False`, `freeze_pretrained_part_in_ddpm`):
- UNet: every parameter whose name contains both `transformer_blocks` and `attn2` (cross-attention);
- ControlNets: every parameter whose name *within the MultiControlNet* does not contain `nets.0`. That test was
  meant to freeze the pose ControlNet (`nets.0.*`), but `resnets.0` contains `nets.0` too, so the background
  ControlNet's every `resnets.0` stays frozen as well. We reproduce the quirk: it is what the released recipe trains;
- `refer_clip_proj` (trainable by construction).
VAE and CLIP are frozen. At full SD1.5 size this is 353 tensors, 309 M elements.

`crossattn-kv` is the same recipe with the official `--unet_unfreeze_type crossattn-kv` (UNet cross-attention
keys and values only). `lora` trains only low-rank adapters on every UNet attention projection (see `lora.py`).
"""
from __future__ import annotations

from torch import nn

from ..errors import InputError

TRAINABLE_SETS = ("official", "crossattn-kv", "lora")
ALIASES = {"crossattn": "official"}  # the official flag's name


def canonical_set(name: str) -> str:
    name = ALIASES.get(name, name)
    if name not in TRAINABLE_SETS:
        raise InputError(f"trainable set {name!r} is unknown; choose one of {TRAINABLE_SETS} "
                         f"('crossattn' is accepted as another name for 'official')")
    return name


def _unet_trains(name: str, kind: str) -> bool:
    if "transformer_blocks" not in name:
        return False
    if kind == "official":
        return "attn2" in name
    return "attn2.to_k" in name or "attn2.to_v" in name


def official_trainable_names(model: nn.Module, kind: str = "official") -> list[str]:
    """State-dict names of the tensors `kind` ('official' or 'crossattn-kv') trains, in model order."""
    kind = canonical_set(kind)
    if kind == "lora":
        raise InputError("the 'lora' set trains adapters, not model tensors; use lora.add_lora")
    names = []
    for name, _ in model.named_parameters():
        if name.startswith("unet."):
            keep = _unet_trains(name[len("unet."):], kind)
        elif name.startswith("controlnet."):
            keep = "nets.0" not in name[len("controlnet."):]  # the official substring test, quirk included
        else:
            keep = name.startswith("refer_clip_proj.")
        if keep:
            names.append(name)
    return names


def count(model: nn.Module, names: list[str]) -> tuple[int, int]:
    """(tensors, elements) of `names`; works on the meta device."""
    params = dict(model.named_parameters())
    return len(names), sum(params[n].numel() for n in names)
