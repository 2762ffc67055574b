"""DisCo's temporal layers, each checked against something written outside the module under test.

References: diffusers' own stock ResnetBlock2D / BasicTransformerBlock forward (a zero-initialised temporal layer
must leave them unchanged), per-clip GroupNorm statistics and a Conv1d over frames written out by hand, and the
official init (zero temporal conv, zero temporal attention output). Blocks are built on the CPU, with real weights,
so the non-meta init path runs (the model tests build on meta).
"""
import copy

import pytest
import torch
from diffusers.models.attention import BasicTransformerBlock
from diffusers.models.attention_processor import AttnProcessor
from diffusers.models.resnet import ResnetBlock2D
from torch import nn

from disco_core.errors import InputError
from disco_core.model.temporal_layers import (FrameContext, FrameGroupNorm, TemporalResnetBlock,
                                              TemporalTransformerBlock, inflate)


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)  # the inputs are random; the same ones every run


def _context(frames):
    ctx = FrameContext()
    ctx.num_frames = frames
    return ctx


def _randomise(module, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.3)
    return module


def _resnet(**kw):
    args = dict(in_channels=6, out_channels=6, temb_channels=8, groups=2, eps=1e-5)
    args.update(kw)
    return _randomise(ResnetBlock2D(**args).eval())


def _transformer(**kw):
    args = dict(dim=8, num_attention_heads=2, attention_head_dim=4, cross_attention_dim=5)
    args.update(kw)
    return _randomise(BasicTransformerBlock(**args).eval())


# ---------------------------------------------------------------- FrameContext

def test_a_fresh_context_says_the_clip_length_is_missing():
    with pytest.raises(InputError) as err:
        FrameContext().frames(4)
    assert str(err.value) == "the temporal DisCo model needs the clip length: run it inside `model.frames(n)`"


def test_a_batch_that_is_not_whole_clips_is_refused():
    with pytest.raises(InputError) as err:
        _context(4).frames(6)
    assert str(err.value) == "a batch of 6 frames is not a whole number of 4-frame clips"
    assert _context(4).frames(8) == 4


# ---------------------------------------------------------------- FrameGroupNorm

def _clip_group_norm(x, frames, groups, weight, bias, eps):
    """GroupNorm with the statistics of each clip's frames together, written out."""
    out = torch.empty_like(x)
    c = x.shape[1]
    for start in range(0, x.shape[0], frames):
        clip = x[start:start + frames]
        for g in range(groups):
            sl = slice(g * c // groups, (g + 1) * c // groups)
            part = clip[:, sl]
            mean, var = part.mean(), part.var(unbiased=False)
            out[start:start + frames, sl] = (part - mean) / torch.sqrt(var + eps)
    return out * weight[None, :, None, None] + bias[None, :, None, None]


def test_frame_group_norm_pools_each_clips_frames_with_its_eps():
    norm = _randomise(nn.GroupNorm(2, 6, eps=0.5))
    weight, bias = norm.weight.detach().clone(), norm.bias.detach().clone()
    FrameGroupNorm.inflate(norm, _context(4))
    # 6 channels, 4 frames, 8 batch entries: a layout mix-up of channels and frames cannot pass silently
    x = torch.randn(8, 6, 3, 5) * torch.arange(1, 9.)[:, None, None, None]
    expected = _clip_group_norm(x, 4, 2, weight, bias, eps=0.5)
    torch.testing.assert_close(norm(x), expected, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- TemporalResnetBlock

def test_inflating_a_real_resnet_adds_zero_temporal_layers_on_its_device_and_dtype():
    block = _resnet(eps=0.01).double()
    TemporalResnetBlock.inflate(block, _context(2))
    assert isinstance(block.norm1, FrameGroupNorm) and isinstance(block.norm2, FrameGroupNorm)
    assert isinstance(block.tem_norm, FrameGroupNorm)
    assert (block.tem_norm.num_groups, block.tem_norm.num_channels, block.tem_norm.eps) == (2, 6, 0.01)
    conv = block.tem_conv
    assert (conv.in_channels, conv.out_channels, conv.kernel_size, conv.padding) == (6, 6, (3,), (1,))
    assert conv.weight.dtype == block.tem_norm.weight.dtype == torch.float64
    assert conv.weight.abs().sum() == 0 and conv.bias.abs().sum() == 0


def test_inflating_on_meta_leaves_the_new_layers_on_meta():
    with torch.device("meta"):
        block = ResnetBlock2D(in_channels=6, out_channels=6, temb_channels=8, groups=2)
    TemporalResnetBlock.inflate(block, _context(2))
    assert block.tem_conv.weight.is_meta and block.tem_norm.weight.is_meta


@pytest.mark.parametrize("temb_channels,give_temb", [(8, True), (8, False), (None, True)])
def test_a_fresh_temporal_resnet_on_identical_frames_is_the_stock_block(temb_channels, give_temb):
    """Zero temporal conv + identical frames (pooled stats = per-frame stats): exactly diffusers' own forward.

    A missing time embedding, or a block without a projection, skips the embedding (diffusers' block would fail
    there, so its reference runs without the embedding)."""
    stock = _resnet(temb_channels=temb_channels, output_scale_factor=2.0)
    block = TemporalResnetBlock.inflate(copy.deepcopy(stock), _context(3))
    frame = torch.randn(2, 1, 6, 4, 4)
    x = frame.expand(2, 3, 6, 4, 4).flatten(0, 1).contiguous()
    temb = torch.randn(2, 8).repeat_interleave(3, 0) if give_temb else None  # one per clip
    if temb_channels is None or not give_temb:
        stock.time_emb_proj = None
    with torch.no_grad():
        expected = stock(x, temb if stock.time_emb_proj is not None else None)
        torch.testing.assert_close(block(x, temb), expected, rtol=1e-5, atol=1e-5)


def test_a_changed_channel_count_goes_through_the_shortcut():
    stock = _resnet(out_channels=4, output_scale_factor=1.5)
    block = TemporalResnetBlock.inflate(copy.deepcopy(stock), _context(2))
    x = torch.randn(1, 1, 6, 4, 4).expand(1, 2, 6, 4, 4).flatten(0, 1).contiguous()
    temb = torch.randn(1, 8).expand(2, 8)
    with torch.no_grad():
        torch.testing.assert_close(block(x, temb), stock(x, temb), rtol=1e-5, atol=1e-5)


def test_the_temporal_conv_is_a_kernel_3_conv_over_frames_at_every_pixel():
    block = TemporalResnetBlock.inflate(_resnet(), _context(4))
    _randomise(block.tem_conv, seed=3)
    w, b = block.tem_conv.weight.detach(), block.tem_conv.bias.detach()   # (out, in, 3), (out,)
    h = torch.randn(8, 6, 2, 3)
    expected = torch.zeros_like(h)
    for clip in range(2):
        for t in range(4):
            acc = b[:, None, None].expand(6, 2, 3).clone()
            for k, dt in enumerate((-1, 0, 1)):
                s = t + dt
                if 0 <= s < 4:       # zero padding at the clip's ends, never the neighbouring clip
                    acc = acc + torch.einsum("oi,ihw->ohw", w[:, :, k], h[clip * 4 + s])
            expected[clip * 4 + t] = acc
    with torch.no_grad():
        torch.testing.assert_close(block.temporal_conv(h), expected, rtol=1e-5, atol=1e-5)


def test_the_temporal_conv_follows_the_modules_padding():
    block = TemporalResnetBlock.inflate(_resnet(), _context(4))
    _randomise(block.tem_conv, seed=3)
    block.tem_conv.padding = (2,)
    with torch.no_grad():
        assert block.temporal_conv(torch.randn(8, 6, 2, 3)).shape == (12, 6, 2, 3)


def test_a_trained_temporal_conv_adds_its_output_in_the_forward():
    """forward = stock path + temporal_conv(silu(tem_norm(h))) after conv2, then the shortcut and the scale."""
    stock = _resnet(output_scale_factor=2.0)
    block = TemporalResnetBlock.inflate(copy.deepcopy(stock), _context(2))
    _randomise(block.tem_conv, seed=4)
    _randomise(block.tem_norm, seed=6)
    frame = torch.randn(1, 6, 4, 4)
    x, temb = frame.expand(2, 6, 4, 4).contiguous(), torch.randn(1, 8).expand(2, 8)
    with torch.no_grad():   # identical frames: the stock block's h is the inflated block's h before tem_conv
        act = stock.nonlinearity
        h = stock.conv1(act(stock.norm1(x))) + stock.time_emb_proj(act(temb))[:, :, None, None]
        h = stock.conv2(stock.dropout(act(stock.norm2(h))))
        added = block.temporal_conv(nn.functional.silu(block.tem_norm(h)))
        torch.testing.assert_close(block(x, temb), stock(x, temb) + added / 2.0, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kw", [dict(up=True), dict(down=True), dict(time_embedding_norm="scale_shift")])
def test_resnets_that_are_not_disco_ones_are_refused(kw):
    with pytest.raises(InputError) as err:
        TemporalResnetBlock.inflate(_resnet(**kw), _context(2))
    assert str(err.value) == ("DisCo's temporal resnets have no up/down sampling and use the default time "
                              "embedding; this UNet config is not a DisCo one")


# ---------------------------------------------------------------- TemporalTransformerBlock

class _GainProcessor(AttnProcessor):
    """A processor that takes an extra keyword, as users' custom processors do: it must reach attn1 and attn2."""

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, gain=1.0):
        return super().__call__(attn, hidden_states, encoder_hidden_states, attention_mask, temb) * gain


def test_inflating_a_real_transformer_adds_a_zero_output_temporal_attention():
    block = TemporalTransformerBlock.inflate(_transformer(upcast_attention=True).double(),
                                             _context(2))
    tem = block.tem_attn
    assert (tem.heads, tem.inner_dim, tem.upcast_attention, tem.is_cross_attention) == (2, 8, True, False)
    assert tem.to_q.bias is None and tem.to_q.weight.dtype == torch.float64
    assert tem.to_out[0].weight.abs().sum() == 0 and tem.to_out[0].bias.abs().sum() == 0
    assert tem.to_q.weight.abs().sum() > 0, "only the output projection starts at zero"
    assert block.tem_norm.normalized_shape == (8,) and block.tem_norm.weight.dtype == torch.float64


def test_the_kept_tem_norm_follows_norm2s_affine_setting():
    block = TemporalTransformerBlock.inflate(_transformer(norm_elementwise_affine=False), _context(2))
    assert block.tem_norm.weight is None and not block.tem_norm.elementwise_affine


def test_inflating_on_meta_leaves_the_temporal_attention_on_meta():
    with torch.device("meta"):
        block = BasicTransformerBlock(dim=8, num_attention_heads=2, attention_head_dim=4, cross_attention_dim=5)
    TemporalTransformerBlock.inflate(block, _context(2))
    assert block.tem_attn.to_q.weight.is_meta and block.tem_norm.weight.is_meta


def test_a_fresh_temporal_transformer_is_the_stock_block_with_masks_and_processor_kwargs():
    stock = _transformer()
    for attn in (stock.attn1, stock.attn2):
        attn.set_processor(_GainProcessor())
    block = TemporalTransformerBlock.inflate(copy.deepcopy(stock), _context(2))
    x, ehs = torch.randn(4, 6, 8), torch.randn(4, 3, 5)
    mask = torch.zeros(4, 1, 6)
    mask[:, :, 0] = -1e4            # hide the first token from self-attention
    enc_mask = torch.zeros(4, 1, 3)
    enc_mask[:, :, 1] = -1e4
    kw = dict(attention_mask=mask, encoder_hidden_states=ehs, encoder_attention_mask=enc_mask,
              cross_attention_kwargs={"gain": 0.5})
    with torch.no_grad():
        expected = stock(x, **kw)
        torch.testing.assert_close(block(x, **kw), expected, rtol=1e-5, atol=1e-5)
        # each of these inputs changes the stock output, so dropping one on the way fails the check above
        for name, value in (("attention_mask", None), ("encoder_attention_mask", None),
                            ("cross_attention_kwargs", {"gain": 2.0})):
            assert not torch.allclose(stock(x, **{**kw, name: value}), expected, atol=1e-4), name


def test_the_temporal_attention_attends_over_each_tokens_frames_after_norm2():
    block = TemporalTransformerBlock.inflate(_transformer(), _context(3))
    _randomise(block.tem_attn, seed=5)
    x = torch.randn(6, 4, 8)
    expected = torch.empty_like(x)
    for clip in range(2):
        for tok in range(4):
            seq = x[clip * 3:(clip + 1) * 3, tok][None]                   # (1, frames, C)
            expected[clip * 3:(clip + 1) * 3, tok] = (block.tem_attn(block.norm2(seq)) + seq)[0]
    with torch.no_grad():
        torch.testing.assert_close(block.temporal_attention(x), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kw", [dict(norm_type="ada_norm", num_embeds_ada_norm=4), dict(only_cross_attention=True),
                                dict(positional_embeddings="sinusoidal", num_positional_embeddings=16)])
def test_transformers_that_are_not_disco_ones_are_refused(kw):
    with pytest.raises(InputError) as err:
        TemporalTransformerBlock.inflate(_transformer(**kw), _context(2))
    assert str(err.value) == ("DisCo's temporal transformer blocks use plain LayerNorm blocks; this UNet config "
                              "is not a DisCo one")


# ---------------------------------------------------------------- inflate

def test_inflate_reaches_every_block_and_the_output_norm():
    net = nn.Module()
    net.res = _resnet()
    net.inner = nn.Sequential(_transformer())
    net.conv_norm_out = nn.GroupNorm(2, 6)
    net.other_norm = nn.GroupNorm(2, 6)
    ctx = _context(2)
    assert inflate(net, ctx) is net
    assert isinstance(net.res, TemporalResnetBlock) and isinstance(net.inner[0], TemporalTransformerBlock)
    assert isinstance(net.conv_norm_out, FrameGroupNorm) and net.conv_norm_out.context is ctx
    assert type(net.other_norm) is nn.GroupNorm, "only the UNet's output norm is pooled over frames"
