"""DisCo model assembly on stock diffusers / transformers classes.

Attribute names mirror the official `Net` so state-dict keys line up without a table:
`unet.`, `controlnet.nets.0.` (pose), `controlnet.nets.1.` (background), `vae.`, `clip_image_encoder.`,
`refer_clip_proj.`. What DisCo adds by hand: the background ControlNet's one-conv conditioning embedding and
`refer_clip_proj`.
"""
from __future__ import annotations

import torch
from torch import nn
from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel
from diffusers.models.controlnets.multicontrolnet import MultiControlNetModel
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

from .config import DiscoConfig

# Fields of a UNet config that a ControlNet built from it shares (diffusers' ControlNetModel.from_unet).
_CONTROLNET_FIELDS = (
    "in_channels", "flip_sin_to_cos", "freq_shift", "down_block_types", "only_cross_attention",
    "block_out_channels", "layers_per_block", "downsample_padding", "mid_block_scale_factor", "act_fn",
    "norm_num_groups", "norm_eps", "cross_attention_dim", "attention_head_dim", "use_linear_projection",
    "class_embed_type", "num_class_embeds", "upcast_attention", "resnet_time_scale_shift",
    "projection_class_embeddings_input_dim",
)
_CLIP_CONFIG_IGNORED = ("architectures", "torch_dtype", "model_type", "_name_or_path")


class BackgroundCondEmbedding(nn.Module):
    """DisCo's background conditioning: one 3x3 conv from VAE latents (4 ch) to the UNet's first width.

    No activation, no zero conv (official `ControlNetConditioningConvin`, initialised from the UNet conv_in).
    """

    def __init__(self, latent_channels: int, out_channels: int):
        super().__init__()
        self.conv_in = nn.Conv2d(latent_channels, out_channels, kernel_size=3, padding=1)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        return self.conv_in(latents)


def _unet_field(cfg: dict, name: str, default=None):
    return cfg.get(name, default)


def controlnet_kwargs(unet_cfg: dict) -> dict:
    kwargs = {k: unet_cfg[k] for k in _CONTROLNET_FIELDS if k in unet_cfg}
    kwargs.setdefault("mid_block_type", unet_cfg.get("mid_block_type", "UNetMidBlock2DCrossAttn"))
    return kwargs


def pose_controlnet(cfg: DiscoConfig) -> ControlNetModel:
    return ControlNetModel(conditioning_channels=3,
                           conditioning_embedding_out_channels=tuple(cfg.pose_embedding_channels),
                           **controlnet_kwargs(cfg.unet))


def background_controlnet(cfg: DiscoConfig) -> ControlNetModel:
    # The stock strided embedding is built (tiny: 16..256 ch) and swapped out; keys then match the official file.
    net = ControlNetModel(conditioning_channels=3, conditioning_embedding_out_channels=(16, 32),
                          **controlnet_kwargs(cfg.unet))
    net.controlnet_cond_embedding = BackgroundCondEmbedding(cfg.vae.get("latent_channels", 4),
                                                            cfg.unet["block_out_channels"][0])
    return net


def clip_vision_config(cfg: DiscoConfig) -> CLIPVisionConfig:
    fields = {k: v for k, v in cfg.image_encoder.items() if k not in _CLIP_CONFIG_IGNORED}
    return CLIPVisionConfig(**fields)


class DiscoModel(nn.Module):
    """The DisCo image model: frozen SD-IV VAE + CLIP, UNet, pose and background ControlNets, refer_clip_proj."""

    is_temporal = False  # the temporal model (temporal/model.py) has the same surface plus `frames(n)`

    def __init__(self, cfg: DiscoConfig):
        super().__init__()
        self.config = cfg
        self.unet = UNet2DConditionModel.from_config(cfg.unet)
        self.controlnet = MultiControlNetModel([pose_controlnet(cfg), background_controlnet(cfg)])
        self.vae = AutoencoderKL.from_config(cfg.vae)
        self.clip_image_encoder = CLIPVisionModelWithProjection(clip_vision_config(cfg))
        self.refer_clip_proj = nn.Linear(cfg.image_encoder["hidden_size"], cfg.unet["cross_attention_dim"],
                                         bias=False)

    @property
    def pose_controlnet(self) -> ControlNetModel:
        return self.controlnet.nets[0]

    @property
    def background_controlnet(self) -> ControlNetModel:
        return self.controlnet.nets[1]

    # The dtype the networks compute in when their weights are stored narrower (fast/stored_precision.py).
    compute_dtype: torch.dtype | None = None

    @property
    def dtype(self) -> torch.dtype:
        return self.compute_dtype or self.unet.conv_in.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.unet.conv_in.weight.device

    def set_dtype(self, dtype: torch.dtype) -> "DiscoModel":
        """Cast to `dtype`, keeping the CLIP image encoder in fp32 as the official DeepSpeed eval does."""
        super().to(dtype=dtype)
        self.clip_image_encoder.to(dtype=torch.float32)
        self.compute_dtype = None
        return self
