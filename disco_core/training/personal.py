"""The personalisation file: a small `.safetensors` with only what a fine-tune changed, tied to its base.

Tensors: the trained model tensors under their state-dict names (`official`, `crossattn-kv`), or the LoRA factors
`lora.<module>.{down,up}.weight`, all fp32. Metadata: format, trainable set, LoRA rank/scale, the base checkpoint's
file name and SHA-256, and the training settings and final loss. Applying it to a model loaded from a file with a
different SHA-256 is refused: the trained tensors only make sense next to the frozen weights they were trained with.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from ..errors import CheckpointError, InputError
from . import lora as lora_mod
from .trainable import TRAINABLE_SETS

FORMAT_KEY, FORMAT = "disco_personal", "1"
PERSONAL_SUBFOLDER = "personal"  # models/disco/personal
_HASH_CACHE: dict[tuple, str] = {}


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, cached per (path, size, mtime) for the life of the process."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASH_CACHE:
        h = hashlib.sha256()
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 24), b""):
                h.update(chunk)
        _HASH_CACHE[key] = h.hexdigest()
    return _HASH_CACHE[key]


def remember_base(model: nn.Module, path: str | Path, name: str | None = None) -> nn.Module:
    """Record which file a model was loaded from (its hash is computed only when a personalisation needs it)."""
    model.base_path = str(path)
    model.base_name = name or Path(path).name
    return model


def base_identity(model: nn.Module) -> tuple[str, str]:
    """(name, sha256) of the checkpoint file the model was loaded from."""
    path = getattr(model, "base_path", None)
    if not path or not os.path.isfile(path):
        raise InputError("the base model's checkpoint file is unknown, so a personalisation cannot be tied to it; "
                         "load the model with Load DisCo Model / load_model and remember_base")
    return getattr(model, "base_name", Path(path).name), file_sha256(path)


def save_personal(result, path: str | Path, base_name: str, base_sha256: str) -> Path:
    """Write a FineTuneResult's trained tensors + metadata (atomic, deterministic order)."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise InputError(f"personalisation file {path} must end in .safetensors")
    s = result.settings
    tensors = {k: v.detach().float().cpu().contiguous() for k, v in sorted(result.trained.items())}
    meta = {FORMAT_KEY: FORMAT, "trainable": s.trainable, "base_name": base_name, "base_sha256": base_sha256,
            "settings": s.to_json(), "final_loss": f"{result.losses[-1]:.6g}" if result.losses else "",
            "steps_done": str(len(result.losses))}
    if s.trainable == "lora":
        meta["lora_rank"] = str(s.rank)
        meta["lora_scale"] = "1.0"  # alpha / rank; alpha defaults to the rank
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    save_file(tensors, str(tmp), metadata=meta)
    tmp.replace(path)
    return path


def read_personal(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"personalisation file {path} does not exist; make one with DisCo Fine-Tune or "
                              "`python -m disco_core finetune`")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # noqa: BLE001
        raise CheckpointError(f"{path} is truncated or corrupt ({e}); fine-tune again") from e
    if meta.get(FORMAT_KEY) != FORMAT or meta.get("trainable") not in TRAINABLE_SETS:
        raise CheckpointError(f"{path.name} is not a DisCo personalisation file (no '{FORMAT_KEY}' metadata); "
                              "load full checkpoints as the checkpoint, not as the personalisation")
    return tensors, meta


def apply_personal(model: nn.Module, path: str | Path) -> nn.Module:
    """Put a personalisation onto the model it was trained from (in place). Refuses any other base."""
    tensors, meta = read_personal(path)
    name, sha = base_identity(model)
    if sha != meta["base_sha256"]:
        raise CheckpointError(
            f"{Path(path).name} was trained on '{meta['base_name']}' (sha256 {meta['base_sha256'][:12]}…), but the "
            f"loaded checkpoint is '{name}' (sha256 {sha[:12]}…). Load it on the checkpoint it was trained on, or "
            "fine-tune again on this one.")
    if getattr(model, "personal_info", None) or lora_mod.has_lora(model):
        raise InputError("this model already has a personalisation applied; load a fresh base model first")
    if meta["trainable"] == "lora":
        adapters = lora_mod.adapters_from_state(tensors, float(meta.get("lora_scale", "1.0")))
        lora_mod.attach_lora(model, adapters.to(device=model.device, dtype=model.dtype))
    else:
        params = dict(model.named_parameters())
        bad = [k for k in tensors if k not in params or params[k].shape != tensors[k].shape]
        if bad:
            raise CheckpointError(f"{Path(path).name} has tensors this model lacks or shapes it does not match "
                                  f"({bad[:3]}); it belongs to another model")
        with torch.no_grad():
            for k, v in tensors.items():
                params[k].copy_(v.to(params[k]))
    model.personal_info = {"file": Path(path).name, "trainable": meta["trainable"]}
    return model
