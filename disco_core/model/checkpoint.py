"""The only reader of official DisCo checkpoints and writer of the pack's own `.safetensors` files.

Official file: DeepSpeed `mp_rank_00_model_states.pt`, weights under `['module']` = `Net.state_dict()`.
Our file: one `.safetensors` in our key layout with the model configs in its metadata, readable alone.
"""
from __future__ import annotations

import collections
import contextlib
import json
import pickle
import zipfile
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from .config import DiscoConfig, stated_variant
from ..errors import CheckpointError, InputError
from .networks import DiscoModel
from .build import create_model
from .stored_precision import keep_stored_precision
from .tensor_stream import SafetensorsStream

# Official `Net` attribute prefixes (net.py), in the official order.
OFFICIAL_PREFIXES = ("vae.", "controlnet.nets.0.", "controlnet.nets.1.", "unet.", "clip_image_encoder.",
                     "refer_clip_proj.")
# A persistent buffer in transformers 4.27, non-persistent (not saved) in current transformers.
DROPPED_KEYS = ("clip_image_encoder.vision_model.embeddings.position_ids",)
# diffusers-0.14 VAE mid-block AttentionBlock names -> current Attention names.
VAE_ATTENTION_RENAMES = {"query": "to_q", "key": "to_k", "value": "to_v", "proj_attn": "to_out.0"}
FORMAT_KEY, FORMAT_VERSION = "disco_format", "1"
# Networks that may keep the checkpoint's 16-bit precision when run wider (CLIP is fp32 in official files).
STORED_PRECISION_PREFIXES = ("unet.", "controlnet.", "vae.")
CONFIG_KEY, VARIANT_KEY = "disco_config", "disco_variant"
WEIGHTS_HINT = ("the fine-tuned DisCo checkpoints (tiktok_cfg / moretiktok_cfg / *_nocfg) are linked from the "
                "official repository's README (github.com/Wangt-CN/DisCo)")


class _InertPickled:
    """Stand-in for DeepSpeed helper objects inside a checkpoint: holds their state, runs no code."""

    def __setstate__(self, state):
        self.state = state


# Non-tensor entries of a DeepSpeed engine checkpoint besides plain containers. They are mapped to the inert
# stand-in above, so their pickled state is read as data and never executed.
_DEEPSPEED_STANDINS = [
    (_InertPickled, "deepspeed.runtime.fp16.loss_scaler.DynamicLossScaler"),
    (_InertPickled, "deepspeed.runtime.fp16.loss_scaler.LossScaler"),
    (_InertPickled, "deepspeed.runtime.zero.config.ZeroStageEnum"),
    (_InertPickled, "argparse.Namespace"),
]
_SAFE_CONTAINERS = [collections.OrderedDict, collections.defaultdict, set, frozenset, torch.Size]


def _load_pickle_checkpoint(path: Path, mmap: bool = False) -> dict:
    try:
        with torch.serialization.safe_globals(_SAFE_CONTAINERS + _DEEPSPEED_STANDINS):
            if mmap and zipfile.is_zipfile(path):  # torch >= 1.6 files; legacy files cannot be mapped
                return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            return torch.load(path, map_location="cpu", weights_only=True, mmap=False)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"refused to load {path.name}: it contains Python objects beyond tensors and plain containers "
            f"({_first_line(e)}). Loading it could run code from the file. If you trust the file, load it "
            "yourself with full unpickling (weights_only=False), save its 'module' dict with safetensors, and "
            "run `python -m disco_core convert` on that.") from e
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as e:
        raise CheckpointError(f"{path} is truncated or corrupt ({_first_line(e)}); download it again.") from e


def _first_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[0][:300] if text else type(e).__name__


def read_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Read any supported file -> (state dict in the file's layout, safetensors metadata or {})."""
    with _open_checkpoint(path) as (sd, metadata, read):
        return {k: read(k) for k in sd}, metadata


@contextlib.contextmanager
def _open_checkpoint(path: str | Path, mmap: bool = False):
    """-> (state dict, metadata, read(key, dtype=None) -> tensor in memory of its own, cast to dtype if float).

    For `.safetensors` the dict holds meta-device stand-ins and each read is a plain file read (no mapping); a
    `.pt` is memory-mapped when `mmap` and what is read is copied out, so the mapping goes with the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; {WEIGHTS_HINT}.")
    if path.suffix == ".safetensors":
        try:
            with safe_open(str(path), framework="pt"):  # validates header, offsets and file size
                pass
            stream = SafetensorsStream(path)
            f = open(path, "rb")
        except (SafetensorError, OSError, ValueError, RuntimeError) as e:
            raise CheckpointError(f"{path} is truncated or corrupt ({_first_line(e)}); download or convert "
                                  "it again.") from e
        with f:
            yield stream.meta_tensors(), stream.metadata, lambda key, dtype=None: stream.read(key, f, dtype)
        return
    obj = _load_pickle_checkpoint(path, mmap=mmap)
    if isinstance(obj, dict) and isinstance(obj.get("module"), dict):
        sd = obj["module"]
    elif isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        sd = obj
    else:
        keys = list(obj)[:8] if isinstance(obj, dict) else type(obj).__name__
        raise CheckpointError(f"{path.name} is not a DisCo checkpoint: expected a DeepSpeed file with weights "
                              f"under 'module' (mp_rank_00_model_states.pt), found {keys}.")
    yield sd, {}, lambda key, dtype=None: _owned(sd[key], dtype, copy=mmap)


def detect_layout(sd: dict[str, torch.Tensor]) -> str:
    """'ours', 'official', or raise a CheckpointError that says what the file is instead."""
    keys = list(sd)
    if any(k.startswith("controlnet.nets.") for k in keys) and any(k.startswith("unet.") for k in keys):
        renamed_vae = any(k.startswith("vae.") and ".attentions.0.to_q." in k for k in keys)
        return "ours" if renamed_vae else "official"
    if any(k.startswith("controlnet.") for k in keys) and any(k.startswith("unet.") for k in keys):
        raise CheckpointError("this is a stage-1 (human attribute pre-training) DisCo checkpoint: it has one "
                              "background ControlNet and no pose ControlNet, so it cannot animate poses. Use a "
                              f"fine-tuned checkpoint instead; {WEIGHTS_HINT}.")
    sample = ", ".join(keys[:3])
    hint = " (it looks like a Stable Diffusion checkpoint)" if any("diffusion_model" in k for k in keys) else ""
    raise CheckpointError(f"not a DisCo checkpoint{hint}: expected keys starting with {OFFICIAL_PREFIXES}, found "
                          f"e.g. {sample}. {WEIGHTS_HINT[0].upper() + WEIGHTS_HINT[1:]}.")


def checkpoint_variant(sd: dict) -> str:
    """'temporal' when the file has DisCo's temporal layers (tem_conv / tem_attn), else 'image'."""
    return "temporal" if any(".tem_" in k for k in sd) else "image"


def variant_mismatch(file_variant: str, wanted: str, why: str) -> CheckpointError:
    if file_variant == "image":
        fix = ("give a temporal checkpoint (DisCo with temporal module, `disco_w_tm`, tem_* layers) instead, or "
               "use the image model's configs")
    else:
        fix = ("give an image-model checkpoint instead, or drop the image-model configs: the loader builds the "
               "temporal model from the file by itself")
    return CheckpointError(f"this is a DisCo {file_variant}-model checkpoint, but {why} the {wanted} model; "
                           f"{fix}.")


def convert_official(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Official `Net.state_dict()` -> our layout (pure dict -> dict): VAE attention renamed, buffers dropped."""
    if all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    if detect_layout(sd) == "ours":
        return {k: v for k, v in sd.items() if k not in DROPPED_KEYS}
    out = {}
    for key, value in sd.items():
        if key in DROPPED_KEYS:
            continue
        parts = key.split(".")
        if key.startswith("vae.") and "mid_block" in parts and "attentions" in parts:
            parts[-2] = VAE_ATTENTION_RENAMES.get(parts[-2], parts[-2])
            key = ".".join(parts)
        out[key] = value
    return out


def check_keys(sd: dict[str, torch.Tensor], expected: dict[str, torch.Size]) -> None:
    """Strict key/shape check with every problem listed (the official loader only warned)."""
    missing = sorted(set(expected) - set(sd))
    unexpected = sorted(set(sd) - set(expected))
    mismatched = sorted(f"{k}: file {tuple(sd[k].shape)} vs model {tuple(expected[k])}"
                        for k in set(sd) & set(expected) if tuple(sd[k].shape) != tuple(expected[k]))
    if not (missing or unexpected or mismatched):
        return
    lines = ["the checkpoint does not match the DisCo model:"]
    for title, items in (("missing keys", missing), ("unexpected keys", unexpected),
                         ("shape mismatches", mismatched)):
        if items:
            shown = items[:20] + ([f"... and {len(items) - 20} more"] if len(items) > 20 else [])
            lines.append(f"{len(items)} {title}:\n  " + "\n  ".join(shown))
    lines.append("If the model is not full-size SD1.5 (e.g. a test model), pass its configs.json with --configs; "
                 "otherwise the file is from a different model or damaged.")
    raise CheckpointError("\n".join(lines))


def model_shapes(cfg: DiscoConfig) -> dict[str, torch.Size]:
    with torch.device("meta"):
        model = create_model(cfg)
    return {k: v.shape for k, v in model.state_dict().items()}


def _resolve_config(metadata: dict, configs: str | Path | dict | DiscoConfig | None) -> tuple[DiscoConfig, bool]:
    """-> (config, whether it names its variant itself; otherwise the file's layers decide)."""
    if isinstance(configs, DiscoConfig):
        return configs, True
    if configs is not None and not isinstance(configs, dict):
        try:
            configs = json.loads(Path(configs).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise InputError(f"cannot read model configs from {configs}: {e}") from e
    if isinstance(configs, dict):
        return DiscoConfig.from_dict(configs), stated_variant(configs) is not None
    if CONFIG_KEY in metadata:
        return DiscoConfig.from_dict(json.loads(metadata[CONFIG_KEY])), False
    return DiscoConfig.sd_image_variations(), False


def load_state_dict(path, configs=None, variant: str | None = None) -> tuple[dict[str, torch.Tensor], DiscoConfig]:
    """Read, convert and strictly check a checkpoint -> (our state dict, its config).

    The model variant (image / temporal) comes from the file's layers; `variant`, or configs that name one,
    only check it, with a clear message on a mismatch.
    """
    sd, metadata = read_checkpoint(path)
    try:
        cfg = _checked_config(sd, metadata, configs, variant)
        sd = convert_official(sd)
        check_keys(sd, model_shapes(cfg))
    except CheckpointError as e:  # name the file: a models folder can hold many
        raise CheckpointError(f"{Path(path).name}: {e}") from None
    return sd, cfg


def _checked_config(sd: dict, metadata: dict, configs, variant: str | None) -> DiscoConfig:
    """The config for a file's state dict (keys only are read): its variant from the file's layers."""
    cfg, stated = _resolve_config(metadata, configs)
    file_variant = checkpoint_variant(sd)
    if variant is not None and variant != file_variant:
        raise variant_mismatch(file_variant, variant, "the caller asks for")
    if stated and cfg.variant != file_variant:
        raise variant_mismatch(file_variant, cfg.variant, "the given configs describe")
    return cfg.replace(variant=file_variant)


def _owned(value: torch.Tensor, dtype: torch.dtype | None, copy: bool) -> torch.Tensor:
    cast = value.to(dtype) if dtype is not None and value.is_floating_point() else value
    return cast.clone() if copy and cast is value else cast


def _narrower_stored(sd: dict, names: dict[str, str], dtype: torch.dtype) -> dict[str, torch.dtype]:
    """Networks whose float weights the file stores all in one 16-bit dtype narrower than `dtype`."""
    out = {}
    for prefix in STORED_PRECISION_PREFIXES:
        dtypes = {sd[theirs].dtype for ours, theirs in names.items()
                  if ours.startswith(prefix) and sd[theirs].is_floating_point()}
        if len(dtypes) == 1 and (stored := dtypes.pop()) in (torch.float16, torch.bfloat16) and \
                stored.itemsize < dtype.itemsize:
            out[prefix] = stored
    return out


def _converted_names(sd: dict[str, torch.Tensor]) -> dict[str, str]:
    """Our key -> the file's key, from `convert_official` (which passes values through unchanged)."""
    file_key = {id(v): k for k, v in sd.items()}
    return {ours: file_key[id(v)] for ours, v in convert_official(sd).items()}


def convert_checkpoint(src: str | Path, dst: str | Path, configs=None, uncond: str | None = None) -> Path:
    """Official `.pt` / `.safetensors` -> one self-describing `.safetensors` (deterministic bytes)."""
    dst = Path(dst)
    if dst.suffix != ".safetensors":
        raise InputError(f"output {dst} must end in .safetensors")
    sd, cfg = load_state_dict(src, configs)
    if uncond is not None:
        cfg = cfg.replace(uncond=uncond)
    tensors = {k: sd[k].contiguous() for k in sorted(sd)}
    metadata = {FORMAT_KEY: FORMAT_VERSION, CONFIG_KEY: cfg.to_json(), VARIANT_KEY: cfg.variant}
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_suffix(".safetensors.part")
    tmp.write_bytes(_canonical_header(save(tensors, metadata=metadata)))
    tmp.replace(dst)  # a crash mid-write never leaves a half file under the real name
    return dst


def _canonical_header(data: bytes) -> bytes:
    """safetensors writes its header from a hash map (order varies per run); sort it so equal input gives
    byte-identical files. The length is unchanged, so the tensor offsets stay valid."""
    n = int.from_bytes(data[:8], "little")
    header = json.dumps(json.loads(data[8:8 + n]), sort_keys=True, separators=(",", ":")).encode()
    if len(header) > n:
        return data
    return data[:8] + header.ljust(n, b" ") + data[8 + n:]


def _restore_buffers(model: DiscoModel, device) -> None:
    """Buffers not stored in checkpoints are still on the meta device after an assign-load."""
    for module_name, module in model.named_modules():
        for name, buf in list(module.named_buffers(recurse=False)):
            if buf is None or not buf.is_meta:
                continue
            if name == "position_ids":
                value = torch.arange(buf.shape[-1], device=device).expand(buf.shape)
            else:
                raise CheckpointError(f"internal: buffer {module_name}.{name} has no value after loading")
            module.register_buffer(name, value, persistent=False)


def load_model(path, *, device="cpu", dtype: torch.dtype = torch.float32, configs=None,
               uncond: str | None = None, variant: str | None = None,
               keep_file_precision: bool = True) -> DiscoModel:
    """Load a DisCo model from our `.safetensors`, an official `.pt`, or an official-layout `.safetensors`.

    The model is built on the meta device and each weight is read, converted and assigned one at a time, into
    memory the model owns: nothing is allocated twice and no mapping of the file is left behind, so resident
    memory after loading is the weights plus the libraries (measured in bench/RESULTS.md).
    `keep_file_precision`: a network (UNet, ControlNets, VAE) the file stores in fp16/bf16 keeps that precision
    when `dtype` is wider and widens each layer's weights as it runs (exact: same outputs, half the memory);
    image model only.
    """
    with _open_checkpoint(path, mmap=True) as (sd, metadata, read):
        try:
            cfg = _checked_config(sd, metadata, configs, variant)
            names = _converted_names(sd)
            check_keys({ours: sd[theirs] for ours, theirs in names.items()}, model_shapes(cfg))
        except CheckpointError as e:  # name the file: a models folder can hold many
            raise CheckpointError(f"{Path(path).name}: {e}") from None
        if uncond is not None:
            cfg = cfg.replace(uncond=uncond)
        # Image model only: the temporal layers read tem_conv's weight without calling the module (no hook runs).
        stored = _narrower_stored(sd, names, dtype) if keep_file_precision and cfg.variant == "image" else {}
        weights = {}
        for ours, theirs in names.items():
            prefix = ours.split(".", 1)[0] + "."
            target = torch.float32 if prefix == "clip_image_encoder." else stored.get(prefix, dtype)
            weights[ours] = read(theirs, target).to(device)
    with torch.device("meta"):
        model = create_model(cfg)
    model.load_state_dict(weights, strict=True, assign=True)
    for prefix in stored:
        keep_stored_precision(getattr(model, prefix[:-1]), dtype)
    if stored:
        model.compute_dtype = dtype
    _restore_buffers(model, device)
    return model.eval().requires_grad_(False)
