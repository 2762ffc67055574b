"""DiscoConfig: the component configs a DisCo model is built from (configs are data, not code).

The full-size configs are those of lambdalabs/sd-image-variations-diffusers, shipped in
`configs/sd_image_variations.json`. Tiny test models come from a fixture's `configs.json` (same layout) or
from the metadata of a converted `.safetensors` file.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from ..errors import InputError

SD_IMAGE_VARIATIONS = "sd_image_variations.json"
# DisCo's pose ControlNet uses diffusers' default conditioning stack (controlnet.py from_unet defaults).
DEFAULT_POSE_EMBEDDING_CHANNELS = (16, 32, 96, 256)
VARIANTS = ("image", "temporal")
UNCOND_MODES = ("blank", "zeros")


def stated_variant(d: dict) -> str | None:
    """The model variant a config dict names: ours (`variant`) or a fixture's derived 3-D UNet; else None."""
    if "variant" in d:
        return d["variant"]
    unet = d.get("derived", {}).get("unet_effective", {})
    if unet:
        return "temporal" if any("3D" in t for t in unet.get("down_block_types", ())) else "image"
    return None


@dataclasses.dataclass(frozen=True)
class DiscoConfig:
    unet: dict
    vae: dict
    image_encoder: dict
    scheduler: dict
    pose_embedding_channels: tuple = DEFAULT_POSE_EMBEDDING_CHANNELS
    variant: str = "image"
    # How the CFG-unconditional CLIP tokens are made: "blank" = CLIP of an all-zero (normalised) image, as
    # CFG-trained checkpoints (drop_ref > 0) were trained; "zeros" = all-zero tokens (non-CFG checkpoints).
    uncond: str = "blank"

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise InputError(f"unknown model variant {self.variant!r}; expected one of {VARIANTS}")
        if self.uncond not in UNCOND_MODES:
            raise InputError(f"unknown uncond mode {self.uncond!r}; expected one of {UNCOND_MODES}")

    @property
    def clip_image_size(self) -> int:
        return int(self.image_encoder["image_size"])

    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae["block_out_channels"]) - 1)

    def replace(self, **changes) -> "DiscoConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["pose_embedding_channels"] = list(self.pose_embedding_channels)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "DiscoConfig":
        """Read our own `to_dict` output or a fixture-style `configs.json` (unet/vae/image_encoder/scheduler)."""
        missing = [k for k in ("unet", "vae", "image_encoder", "scheduler") if k not in d]
        if missing:
            raise InputError(f"model config lacks {missing}; give a DisCo configs.json (unet, vae, image_encoder, "
                             "scheduler sections) or a .safetensors converted by `python -m disco_core convert`")
        pose_channels = d.get("pose_embedding_channels") or d.get("pose_conditioning_embedding_out_channels")
        derived = d.get("derived", {})
        if pose_channels is None:
            pose = derived.get("controlnet_pose (controlnet.nets.0)", {})
            pose_channels = pose.get("conditioning_embedding_out_channels", DEFAULT_POSE_EMBEDDING_CHANNELS)
        variant = stated_variant(d) or "image"
        uncond = d.get("uncond")
        if uncond is None and "net_args" in d:
            uncond = "blank" if float(d["net_args"].get("drop_ref", 0.0)) > 0 else "zeros"
        return cls(unet=dict(d["unet"]), vae=dict(d["vae"]), image_encoder=dict(d["image_encoder"]),
                   scheduler=dict(d["scheduler"]), pose_embedding_channels=tuple(pose_channels),
                   variant=variant, uncond=uncond or "blank")

    @classmethod
    def from_file(cls, path: str | Path) -> "DiscoConfig":
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError) as e:
            raise InputError(f"cannot read model configs from {path}: {e}") from e

    @classmethod
    def sd_image_variations(cls) -> "DiscoConfig":
        """The real full-size DisCo configs (SD image variations UNet, VAE, CLIP ViT-L/14)."""
        text = (Path(__file__).parent / "configs" / SD_IMAGE_VARIATIONS).read_text()
        return cls.from_dict(json.loads(text))
