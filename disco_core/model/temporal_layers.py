"""The layers DisCo's temporal model adds to the stock 2-D UNet and ControlNets (official `disco_w_tm`).

The 2-D networks run on frames folded into the batch, `(clips * frames, C, H, W)`, with the frames of one clip
consecutive. What differs from the image model, and nothing else, is written here:

* GroupNorm statistics pooled over all frames of a clip (official norms on 5-D tensors): `FrameGroupNorm`, used
  for every resnet norm and the UNet's `conv_norm_out` (not the transformers' input norm, which is per frame);
* a zero-initialised temporal Conv1d (kernel 3 over frames, per pixel) after each resnet's `conv2`, behind its own
  frame-pooled GroupNorm `tem_norm`: `TemporalResnetBlock`;
* a temporal self-attention over frames (per spatial token, no positional encoding) after the spatial
  self-attention of every transformer block, normalised with `norm2` (the official code creates `tem_norm` there
  but never uses it): `TemporalTransformerBlock`.

The clip length is not a tensor dimension the 2-D blocks can see, so every added layer reads it from a shared
`FrameContext` that the model sets for each call.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.models.attention import BasicTransformerBlock
from diffusers.models.attention_processor import Attention
from diffusers.models.resnet import ResnetBlock2D
from torch import nn

from ..errors import InputError


class FrameContext:
    """How many consecutive batch entries form one clip, for the model call in progress."""

    def __init__(self):
        self.num_frames: int | None = None

    def frames(self, batch: int) -> int:
        f = self.num_frames
        if f is None:
            raise InputError("the temporal DisCo model needs the clip length: run it inside `model.frames(n)`")
        if batch % f:
            raise InputError(f"a batch of {batch} frames is not a whole number of {f}-frame clips")
        return f


def _to_clips(x: torch.Tensor, f: int) -> torch.Tensor:
    """(b*f, C, ...) -> (b, C, f, ...): the layout the official 5-D layers work in."""
    return x.unflatten(0, (-1, f)).transpose(1, 2)


def _from_clips(x: torch.Tensor) -> torch.Tensor:
    return x.transpose(1, 2).flatten(0, 1)


class FrameGroupNorm(nn.GroupNorm):
    """GroupNorm whose statistics are pooled over all frames of a clip (same parameters as nn.GroupNorm)."""

    context: FrameContext

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.context.frames(x.shape[0])
        y = F.group_norm(_to_clips(x, f), self.num_groups, self.weight, self.bias, self.eps)
        return _from_clips(y)

    @classmethod
    def inflate(cls, norm: nn.GroupNorm, context: FrameContext) -> "FrameGroupNorm":
        norm.__class__ = cls  # same parameters, same keys; only the statistics change
        norm.context = context
        return norm


class TemporalResnetBlock(ResnetBlock2D):
    """ResnetBlock2D + frame-pooled norms + `tem_norm`/`tem_conv` (official ResnetBlock3D)."""

    context: FrameContext

    @classmethod
    def inflate(cls, block: ResnetBlock2D, context: FrameContext) -> "TemporalResnetBlock":
        if block.upsample is not None or block.downsample is not None or block.time_embedding_norm != "default":
            raise InputError("DisCo's temporal resnets have no up/down sampling and use the default time "
                             "embedding; this UNet config is not a DisCo one")
        block.__class__ = cls
        block.context = context
        FrameGroupNorm.inflate(block.norm1, context)
        FrameGroupNorm.inflate(block.norm2, context)
        channels, groups, eps = block.norm2.num_channels, block.norm2.num_groups, block.norm2.eps
        param = block.conv2.weight
        block.tem_norm = FrameGroupNorm.inflate(
            nn.GroupNorm(groups, channels, eps=eps, device=param.device, dtype=param.dtype), context)
        block.tem_conv = nn.Conv1d(channels, channels, kernel_size=3, padding=1, device=param.device,
                                   dtype=param.dtype)
        if not param.is_meta:  # the official init; trained checkpoints overwrite it
            nn.init.zeros_(block.tem_conv.weight)
            nn.init.zeros_(block.tem_conv.bias)
        return block

    def temporal_conv(self, h: torch.Tensor) -> torch.Tensor:
        """Conv1d over frames at every pixel, as a (3, 1, 1) Conv3d on the clip layout (no reshuffling)."""
        f = self.context.frames(h.shape[0])
        w = self.tem_conv.weight[..., None, None]
        y = F.conv3d(_to_clips(h, f), w, self.tem_conv.bias, padding=(self.tem_conv.padding[0], 0, 0))
        return _from_clips(y)

    def forward(self, input_tensor: torch.Tensor, temb: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        h = self.conv1(self.nonlinearity(self.norm1(input_tensor)))
        if self.time_emb_proj is not None and temb is not None:
            h = h + self.time_emb_proj(self.nonlinearity(temb))[:, :, None, None]
        h = self.conv2(self.dropout(self.nonlinearity(self.norm2(h))))
        h = h + self.temporal_conv(self.nonlinearity(self.tem_norm(h)))
        shortcut = input_tensor if self.conv_shortcut is None else self.conv_shortcut(input_tensor)
        return (shortcut + h) / self.output_scale_factor


class TemporalTransformerBlock(BasicTransformerBlock):
    """BasicTransformerBlock + temporal self-attention between the spatial self- and cross-attention."""

    context: FrameContext

    @classmethod
    def inflate(cls, block: BasicTransformerBlock, context: FrameContext) -> "TemporalTransformerBlock":
        if block.norm_type != "layer_norm" or block.only_cross_attention or block.pos_embed is not None:
            raise InputError("DisCo's temporal transformer blocks use plain LayerNorm blocks; this UNet config "
                             "is not a DisCo one")
        block.__class__ = cls
        block.context = context
        attn1, norm2 = block.attn1, block.norm2
        param = attn1.to_q.weight
        block.tem_attn = Attention(query_dim=attn1.query_dim, heads=attn1.heads,
                                   dim_head=attn1.inner_dim // attn1.heads, bias=False,
                                   upcast_attention=attn1.upcast_attention).to(param.device, param.dtype)
        # Created and saved by the official code, never used in its forward (norm2 is): kept for the keys only.
        block.tem_norm = nn.LayerNorm(norm2.normalized_shape, elementwise_affine=norm2.elementwise_affine,
                                      device=param.device, dtype=param.dtype)
        if not param.is_meta:
            nn.init.zeros_(block.tem_attn.to_out[0].weight)
            nn.init.zeros_(block.tem_attn.to_out[0].bias)
        return block

    def temporal_attention(self, x: torch.Tensor) -> torch.Tensor:
        """x: (b*f, tokens, C) -> self-attention over the f frames at every token, residual added."""
        f = self.context.frames(x.shape[0])
        b, tokens = x.shape[0] // f, x.shape[1]
        seq = x.unflatten(0, (b, f)).transpose(1, 2).flatten(0, 1)          # (b*tokens, f, C)
        seq = self.tem_attn(self.norm2(seq)) + seq
        return seq.unflatten(0, (b, tokens)).transpose(1, 2).flatten(0, 1)

    def forward(self, hidden_states: torch.Tensor, attention_mask=None, encoder_hidden_states=None,
                encoder_attention_mask=None, timestep=None, cross_attention_kwargs=None, class_labels=None,
                added_cond_kwargs=None) -> torch.Tensor:
        kwargs = dict(cross_attention_kwargs or {})
        x = self.attn1(self.norm1(hidden_states), attention_mask=attention_mask, **kwargs) + hidden_states
        x = self.temporal_attention(x)
        if self.attn2 is not None:
            x = self.attn2(self.norm2(x), encoder_hidden_states=encoder_hidden_states,
                           attention_mask=encoder_attention_mask, **kwargs) + x
        return self.ff(self.norm3(x)) + x


def inflate(network: nn.Module, context: FrameContext) -> nn.Module:
    """Add DisCo's temporal layers to every resnet and transformer block of a 2-D UNet or ControlNet."""
    for module in list(network.modules()):
        if isinstance(module, ResnetBlock2D):
            TemporalResnetBlock.inflate(module, context)
        elif isinstance(module, BasicTransformerBlock):
            TemporalTransformerBlock.inflate(module, context)
    if isinstance(getattr(network, "conv_norm_out", None), nn.GroupNorm):  # the UNet's output norm
        FrameGroupNorm.inflate(network.conv_norm_out, context)
    return network
