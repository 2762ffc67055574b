"""Each exact speed-up of the sampler gives the frames of the plain (official-order) path, and is really used.

Mutations seen failing: feeding the conditioning embedding of the first frame to all frames (`value[:1].expand`)
fails the equality tests; swapping the CFG groups' keys/values (`self.key.flip(0)`) fails them (CFG cases);
a processor that always falls back (`if True:`) or a cache that is never installed fails the call counts.
"""
import dataclasses

import pytest
import torch

from disco_core import Cancelled, animate
from disco_core.sampling.fast import COMPILED, OFFICIAL_ORDER, Speed
from disco_core.sampling.steps import Conditioning, denoise, make_scheduler

FAST = dict(height=64, width=48, num_inference_steps=3, seed=7, frames_per_batch=3)
# fp32 summation order may differ in the last bits (K/V from 2 rows instead of 2B, one conv call instead of one
# per step, NHWC kernels): allowed relative to the largest value, far below any real change (>1e-3).
RTOL = 2e-6


@pytest.fixture(scope="module")
def chunk(tiny_model):
    """Three frames' sampler inputs (one photo's tokens, per-frame poses and background latents)."""
    g = torch.Generator().manual_seed(3)
    n, c = 5, tiny_model.unet.config.cross_attention_dim
    tokens = torch.randn(1, n, c, generator=g).expand(3, -1, -1)
    uncond = torch.randn(1, n, c, generator=g).expand(3, -1, -1)
    return (torch.randn(3, 4, 8, 6, generator=g),
            Conditioning(tokens, uncond, torch.rand(3, 3, 64, 48, generator=g), torch.randn(3, 4, 8, 6, generator=g)))


def _denoise(model, chunk, speed, **kw):
    latents, cond = chunk
    kw = {"guidance_scale": 1.5, **kw}
    return denoise(model, latents, cond, scheduler=make_scheduler("ddim", model.config.scheduler),
                   num_inference_steps=3, speed=speed, **kw)


def _only(**on) -> Speed:
    return dataclasses.replace(OFFICIAL_ORDER, **on)


@pytest.mark.parametrize("speed", [_only(cache_conditioning=True), _only(cache_context_kv=True),
                                   _only(channels_last=True), Speed()],
                         ids=["conditioning", "context_kv", "channels_last", "default"])
@pytest.mark.parametrize("options", [{}, {"guidance_scale": 1.0}, {"pose_scale": 0.0},
                                     {"background_scale": 0.0, "pose_scale": 0.7}],
                         ids=["cfg", "no-cfg", "no-pose", "no-background"])
def test_speedup_gives_the_plain_latents(tiny_model, chunk, speed, options):
    expected = _denoise(tiny_model, chunk, OFFICIAL_ORDER, **options)
    got = _denoise(tiny_model, chunk, speed, **options)
    assert (got - expected).abs().max() <= RTOL * expected.abs().max()
    assert (expected[0] - expected[1]).abs().mean() > 1e-2    # frames differ, so a mix-up would show


def test_default_animate_gives_the_official_order_frames(tiny_model, person_inputs):
    ref, mask, poses = person_inputs
    fast = animate(tiny_model, ref, mask, poses, **FAST)
    plain = animate(tiny_model, ref, mask, poses, speed=OFFICIAL_ORDER, **FAST)
    assert (fast - plain).abs().max() <= 1e-5


def _count_calls(modules):
    calls = {"n": 0}

    def hook(*_):
        calls["n"] += 1
    return calls, [m.register_forward_hook(hook) for m in modules]


@pytest.mark.parametrize("speed,expected", [(OFFICIAL_ORDER, 3 * 2), (Speed(), 1 * 2)], ids=["official", "fast"])
def test_conditioning_embedding_runs_once_per_chunk(tiny_model, chunk, speed, expected):
    nets = [tiny_model.pose_controlnet.controlnet_cond_embedding,
            tiny_model.background_controlnet.controlnet_cond_embedding]
    calls, handles = _count_calls(nets)
    try:
        _denoise(tiny_model, chunk, speed)   # 3 steps, 2 ControlNets
    finally:
        for h in handles:
            h.remove()
    assert calls["n"] == expected


@pytest.mark.parametrize("speed", [OFFICIAL_ORDER, Speed()], ids=["official", "fast"])
def test_context_keys_are_projected_once_per_chunk(tiny_model, chunk, speed):
    from diffusers.models.attention_processor import Attention
    cross = [m.to_k for net in (tiny_model.unet, *tiny_model.controlnet.nets) for m in net.modules()
             if isinstance(m, Attention) and m.is_cross_attention]
    calls, handles = _count_calls(cross)
    try:
        _denoise(tiny_model, chunk, speed)   # 3 steps
    finally:
        for h in handles:
            h.remove()
    assert cross and calls["n"] == len(cross) * (3 if speed == OFFICIAL_ORDER else 1)


def test_model_is_left_as_it_was(tiny_model, chunk):
    """The caches live only while a chunk is sampled, also when sampling stops with an error."""
    embedding = tiny_model.pose_controlnet.controlnet_cond_embedding
    processors = dict(tiny_model.unet.attn_processors)
    with pytest.raises(Cancelled):
        _denoise(tiny_model, chunk, Speed(), should_cancel=lambda: True)
    assert tiny_model.pose_controlnet.controlnet_cond_embedding is embedding
    assert all(tiny_model.unet.attn_processors[k] is v for k, v in processors.items())


def test_frames_with_different_tokens_are_not_shared(tiny_model):
    """The K/V cache only engages when every frame of a group has the same tokens."""
    from disco_core.sampling.fast.context_kv import shared_context_kv
    ctx = torch.randn(4, 5, tiny_model.unet.config.cross_attention_dim)
    with shared_context_kv([tiny_model.unet], ctx, groups=2) as installed:
        assert installed == []
    same = ctx[:1].expand(2, -1, -1)
    with shared_context_kv([tiny_model.unet], torch.cat([same, same + 1]), groups=2) as installed:
        assert len(installed) > 0


def test_vae_decode_in_batches_gives_the_same_images(tiny_model):
    """Mutation seen failing: slicing `latents[i:i + 1]` (the first frame of each batch only)."""
    from disco_core.model.encode import decode, decode_batch_size
    latents = torch.randn(5, 4, 8, 6, generator=torch.Generator().manual_seed(1))
    whole = decode(tiny_model, latents, batch_size=5)
    calls, handles = _count_calls([tiny_model.vae.decoder])
    try:
        pieces = decode(tiny_model, latents, batch_size=2)
    finally:
        for h in handles:
            h.remove()
    assert calls["n"] == 3 and pieces.shape == whole.shape
    assert (pieces - whole).abs().max() <= 4e-6   # images in 0..1; batch-size-dependent conv kernels round apart
    assert 1 <= decode_batch_size(tiny_model, latents) <= 5


def test_speedups_are_exact_on_the_temporal_networks(temporal_model):
    """The temporal model's networks (frames folded into the batch) under the same techniques (bench/sampler.py
    --variant temporal times them this way)."""
    g = torch.Generator().manual_seed(5)
    n, c = 5, temporal_model.unet.config.cross_attention_dim
    cond = Conditioning(torch.randn(1, n, c, generator=g).expand(4, -1, -1),
                        torch.randn(1, n, c, generator=g).expand(4, -1, -1),
                        torch.rand(4, 3, 32, 32, generator=g), torch.randn(4, 4, 4, 4, generator=g))
    latents = torch.randn(4, 4, 4, 4, generator=g)
    with temporal_model.frames(4):
        expected = _denoise(temporal_model, (latents, cond), OFFICIAL_ORDER)
        got = _denoise(temporal_model, (latents, cond), Speed())
    assert (got - expected).abs().max() <= RTOL * expected.abs().max()


def test_compiled_blocks_give_the_plain_latents_and_are_reused(tiny_model, chunk):
    """torch.compile of the UNet/ControlNet blocks (graph capture checked with the aot_eager backend; inductor
    code generation is too slow for CI): same latents, and a second chunk of the same shape compiles nothing.
    UNet + pose ControlNet without CFG, to keep the tracing time down."""
    from torch._dynamo.utils import counters
    compiled = dataclasses.replace(COMPILED, compile_backend="aot_eager")
    kw = dict(guidance_scale=1.0, background_scale=0.0)
    expected = _denoise(tiny_model, chunk, OFFICIAL_ORDER, **kw)
    try:
        got = _denoise(tiny_model, chunk, compiled, **kw)
        graphs = counters["stats"]["unique_graphs"]
        again = _denoise(tiny_model, chunk, compiled, **kw)
        assert counters["stats"]["unique_graphs"] == graphs > 0
    finally:
        _denoise(tiny_model, chunk, OFFICIAL_ORDER, **kw)   # back to eager for the other tests
    assert (got - expected).abs().max() <= RTOL * expected.abs().max()
    assert torch.equal(got, again)
    assert all(block._compiled_call_impl is None for block in tiny_model.unet.down_blocks)


def _cross_attention_keys(model):
    from diffusers.models.attention_processor import Attention
    return [m.to_k for net in (model.unet, *model.controlnet.nets) for m in net.modules()
            if isinstance(m, Attention) and m.is_cross_attention]


def _run_counted(fx, model, **kw):
    """The temporal fixture through the windowed sampler -> (its tensors, embedding calls, K/V projections)."""
    from disco_core.parity.temporal import run_temporal
    embeddings, calls = _count_calls([model.pose_controlnet.controlnet_cond_embedding,
                                      model.background_controlnet.controlnet_cond_embedding])
    keys, key_handles = _count_calls(_cross_attention_keys(model))
    try:
        out = run_temporal(fx, model, **kw)
    finally:
        for h in calls + key_handles:
            h.remove()
    return out, embeddings["n"], keys["n"]


@pytest.mark.parametrize("windows_per_batch,cache_mb,embedding_calls", [(1, 64, 3 + 1), (2, 64, 2 + 2),
                                                                        (2, 0, 2 * 2 * 4), (1, "one", 6 + 3 * 5)],
                         ids=["window-per-batch", "two-windows-per-batch", "embeddings-past-budget",
                              "budget-of-one-embedding"])
def test_windowed_temporal_sampler_gives_the_official_order_frames_exactly(
        temporal_fixture, temporal_model, windows_per_batch, cache_mb, embedding_calls):
    """The temporal parity fixture (4 frames, CFG 2.5, 4 DDIM steps) in windows of 2 overlapping by 1 (3 windows,
    fused at every step), default `Speed()` against the official order: every latent and pixel equal to the bit.
    Two windows per batch gives batches of 4 and 2 frames (two token tensors, one K/V serves both).
    Embedding calls: one pose embedding per batch of windows and one background embedding per batch size (one
    background image) for the whole run, instead of 2 per batch and step; past the cache budget, 2 per batch and
    step (each over one CFG half). K/V: projected once per run instead of once per batch and step.
    A budget of exactly one pose embedding (given in MiB) keeps the first batch's pose embedding only: 6 calls
    at the first step, then 5 per step.
    Mutations seen failing: every batch given the first batch's pose embedding (key `(name, 0)` in
    `_conditioning`), the CFG groups' K/V swapped (`self.key.flip(0)`), and merging a group's frames into one
    query (the earlier processor: equal only to ~7e-7 relative on this model)."""
    from disco_core.sampling.windows import plan_windows
    plan = plan_windows(4, window=2, overlap=1)
    assert plan.starts == (0, 1, 2)
    kw = dict(plan=plan, windows_per_batch=windows_per_batch)
    if cache_mb == "one":
        poses = temporal_fixture.inputs["cond_img_seq"][0].transpose(0, 1)[:2]
        with torch.no_grad():
            one = temporal_model.pose_controlnet.controlnet_cond_embedding(poses)
        cache_mb = one.numel() * one.element_size() / 2**20
    plain, plain_embeddings, plain_keys = _run_counted(temporal_fixture, temporal_model, speed=OFFICIAL_ORDER, **kw)
    fast, fast_embeddings, fast_keys = _run_counted(temporal_fixture, temporal_model, embedding_cache_mb=cache_mb,
                                                    **kw)
    for name in ("final_latents", "logits_img_seq", "step0_noise_pred"):
        assert torch.equal(fast[name], plain[name]), name
    latents = plain["final_latents"][0].transpose(0, 1)   # (4, f, h, w) -> frames
    assert (latents[0] - latents[3]).abs().mean() > 1e-2  # frames differ, so a mix-up would show
    batches = 3 if windows_per_batch == 1 else 2
    assert plain_embeddings == 2 * batches * 4 and fast_embeddings == embedding_calls
    assert plain_keys == len(_cross_attention_keys(temporal_model)) * batches * 4
    assert fast_keys == len(_cross_attention_keys(temporal_model))
