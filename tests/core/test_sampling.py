"""Sampler behaviour beyond the official code: chunking, schedulers, dtypes, callbacks and cancellation."""
import pytest
import torch

from disco_core import SCHEDULERS, Cancelled, InputError, animate
from disco_core.sampling.steps import make_scheduler

FAST = dict(height=64, width=48, num_inference_steps=3, seed=7)


def test_frames_do_not_depend_on_chunk_size(tiny_model, person_inputs):
    ref, mask, poses = person_inputs
    one = animate(tiny_model, ref, mask, poses, frames_per_batch=1, **FAST)
    three = animate(tiny_model, ref, mask, poses, frames_per_batch=3, **FAST)
    two = animate(tiny_model, ref, mask, poses, frames_per_batch=2, **FAST)
    assert one.shape == (3, 64, 48, 3) and one.dtype == torch.float32 and one.device.type == "cpu"
    assert 0 <= one.min() and one.max() <= 1
    assert torch.allclose(one, three, atol=1e-4) and torch.allclose(one, two, atol=1e-4)
    # ... while each frame still gets its own noise and pose
    assert (one[0] - one[1]).abs().mean() > 1e-3


def test_stochastic_scheduler_is_chunk_invariant_too(tiny_model, person_inputs):
    ref, mask, poses = person_inputs
    a = animate(tiny_model, ref, mask, poses, frames_per_batch=1, scheduler="euler_ancestral", **FAST)
    b = animate(tiny_model, ref, mask, poses, frames_per_batch=3, scheduler="euler_ancestral", **FAST)
    assert torch.allclose(a, b, atol=1e-4)


def test_official_noise_mode_restarts_noise_every_batch(tiny_model, person_inputs):
    ref, mask, poses = person_inputs
    same_pose = poses[:1].expand(4, -1, -1, -1)
    official = animate(tiny_model, ref, mask, same_pose, frames_per_batch=2, noise_mode="official", **FAST)
    per_frame = animate(tiny_model, ref, mask, same_pose, frames_per_batch=2, **FAST)
    assert torch.allclose(official[0], official[2], atol=1e-5)       # batch 2 starts from batch 1's noise
    assert (official[0] - official[1]).abs().mean() > 1e-3          # but frames within a batch differ
    assert (per_frame[0] - per_frame[2]).abs().mean() > 1e-3


@pytest.mark.parametrize("name", ["ddim", "dpmpp_2m", "euler_ancestral", "unipc"])
def test_scheduler_choice(tiny_model, person_inputs, name):
    ref, mask, poses = person_inputs
    out = animate(tiny_model, ref, mask, poses[:1], scheduler=name, **FAST)
    ddim = animate(tiny_model, ref, mask, poses[:1], scheduler="ddim", **FAST)
    assert torch.isfinite(out).all()
    assert (name == "ddim") == torch.allclose(out, ddim)


def test_official_scheduler_config():
    s = make_scheduler("ddim", {"_class_name": "PNDMScheduler", "beta_start": 0.00085, "beta_end": 0.012,
                                "beta_schedule": "scaled_linear", "num_train_timesteps": 1000,
                                "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1,
                                "clip_sample": True})
    s.set_timesteps(50)
    assert s.timesteps[0] == 981 and s.timesteps[-1] == 1 and len(s.timesteps) == 50
    assert s.config.clip_sample is False
    with pytest.raises(InputError, match="choose one of"):
        make_scheduler("nope", {})
    assert {"ddim", "dpmpp_2m", "euler_ancestral", "unipc"} <= set(SCHEDULERS)


def test_reduced_precision_keeps_clip_in_fp32(tiny_checkpoint, tiny_model, person_inputs):
    from disco_core import load_model
    ref, mask, poses = person_inputs
    bf16 = load_model(tiny_checkpoint, dtype=torch.bfloat16)
    assert bf16.unet.dtype == torch.bfloat16 and bf16.vae.dtype == torch.bfloat16
    assert bf16.clip_image_encoder.dtype == torch.float32
    fp16 = load_model(tiny_checkpoint, dtype=torch.float16)
    assert fp16.controlnet.nets[1].dtype == torch.float16 and fp16.clip_image_encoder.dtype == torch.float32
    low = animate(bf16, ref, mask, poses[:1], **FAST)
    full = animate(tiny_model, ref, mask, poses[:1], **FAST)
    assert low.dtype == torch.float32 and torch.isfinite(low).all()
    assert (low - full).abs().mean() < 0.05


def test_step_callback_and_preview(tiny_model, person_inputs):
    ref, mask, poses = person_inputs
    seen = []
    animate(tiny_model, ref, mask, poses, frames_per_batch=2, preview_every=2, on_step=seen.append, **FAST)
    assert [i.done for i in seen] == list(range(1, 7)) and all(i.total == 6 for i in seen)
    assert [i.chunk for i in seen] == [0, 0, 0, 1, 1, 1]
    previews = [i.preview for i in seen if i.preview is not None]
    assert len(previews) == 4 and previews[0].shape == (64, 48, 3)   # steps 2 and 3 of both chunks


def test_previews_show_the_schedulers_clean_estimate(tiny_model, person_inputs):
    """DDIM gives its estimate of the clean latents at every step; the preview decodes that estimate, not the
    noisy latents (which decode to noise at early steps)."""
    from disco_core.model.encode import decode
    ref, mask, poses = person_inputs
    seen = []
    animate(tiny_model, ref, mask, poses[:1], preview_every=1, on_step=seen.append, **FAST)
    assert len(seen) == 3 and all(i.x0 is not None and i.x0.shape == i.latents.shape for i in seen)
    assert (seen[0].x0 - seen[0].latents).abs().mean() > 1e-2
    expected = decode(tiny_model, seen[0].x0[:1])[0].permute(1, 2, 0).float()
    torch.testing.assert_close(seen[0].preview, expected, rtol=0, atol=1e-6)


def test_cancellation_between_steps(tiny_model, person_inputs):
    ref, mask, poses = person_inputs
    calls = []

    def should_cancel():
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(Cancelled):
        animate(tiny_model, ref, mask, poses, should_cancel=should_cancel, **FAST)
    assert len(calls) == 3


def test_guidance_and_branch_scales_change_the_result(tiny_model, person_inputs):
    ref, mask, poses = person_inputs
    base = animate(tiny_model, ref, mask, poses[:1], guidance_scale=1.5, **FAST)
    for kw in (dict(guidance_scale=1.0), dict(guidance_scale=1.5, pose_scale=0.0),
               dict(guidance_scale=1.5, background_scale=0.0), dict(guidance_scale=1.5, uncond="zeros"),
               dict(guidance_scale=1.5, pose_scale=0.5), dict(guidance_scale=1.5, background_scale=0.5)):
        assert (animate(tiny_model, ref, mask, poses[:1], **kw, **FAST) - base).abs().mean() > 1e-4, kw


def test_ddim_eta_adds_noise_to_each_step(tiny_model, person_inputs):
    """`eta` reaches DDIM's step (0: deterministic DDIM, 1: DDPM-like, fresh noise each step)."""
    ref, mask, poses = person_inputs
    deterministic = animate(tiny_model, ref, mask, poses[:1], scheduler="ddim", eta=0.0, **FAST)
    stochastic = animate(tiny_model, ref, mask, poses[:1], scheduler="ddim", eta=1.0, **FAST)
    assert (stochastic - deterministic).abs().mean() > 1e-3


def test_background_override_one_or_per_frame(tiny_model, person_inputs):
    ref, mask, poses = person_inputs
    own = animate(tiny_model, ref, mask, poses, **FAST)
    swapped = animate(tiny_model, ref, mask, poses, background=torch.full((1, 3, 50, 50), 0.2), **FAST)
    per_frame = animate(tiny_model, ref, mask, poses, background=torch.rand(3, 3, 50, 50), **FAST)
    assert (own - swapped).abs().mean() > 1e-3 and (swapped - per_frame).abs().mean() > 1e-3
    with pytest.raises(InputError, match="give 1 or one per pose frame"):
        animate(tiny_model, ref, mask, poses, background=torch.rand(2, 3, 50, 50), **FAST)


def test_per_frame_background_is_chunk_invariant(tiny_model, person_inputs):
    """Background swap with one image per frame: each frame's background posterior sample is seeded by its
    global frame index, so frames_per_batch does not change the video. Mutation that must fail: seeding it
    with the chunk-local index (`background_generator(seed, noise_mode, i)` in pipeline.animate)."""
    ref, mask, poses = person_inputs
    backgrounds = torch.rand(3, 3, 50, 50, generator=torch.Generator().manual_seed(1))
    one = animate(tiny_model, ref, mask, poses, background=backgrounds, frames_per_batch=1, **FAST)
    three = animate(tiny_model, ref, mask, poses, background=backgrounds, frames_per_batch=3, **FAST)
    two = animate(tiny_model, ref, mask, poses, background=backgrounds, frames_per_batch=2, **FAST)
    assert torch.allclose(one, three, atol=1e-4) and torch.allclose(one, two, atol=1e-4)


@pytest.mark.parametrize("fit", ["crop", "pad"])
def test_any_multiple_of_8_output_size(tiny_model, person_inputs, fit):
    ref, mask, poses = person_inputs
    out = animate(tiny_model, ref, mask, poses[:1], fit=fit, **{**FAST, "height": 40, "width": 72})
    assert out.shape == (1, 40, 72, 3)
    with pytest.raises(InputError, match="multiple of 8"):
        animate(tiny_model, ref, mask, poses[:1], **{**FAST, "height": 60})


def test_bad_inputs_are_reported(tiny_model, person_inputs):
    ref, mask, poses = person_inputs
    with pytest.raises(InputError, match="NaN"):
        animate(tiny_model, ref * float("nan"), mask, poses, **FAST)
    with pytest.raises(InputError, match=r"poses must be a float tensor \[batch, 3"):
        animate(tiny_model, ref, mask, poses[:, :1], **FAST)


def test_reference_is_encoded_once_per_video(tiny_model, person_inputs):
    ref, mask, poses = person_inputs
    calls = {"clip": 0, "vae_encode": 0}

    def count(name):
        def hook(*_):
            calls[name] += 1
        return hook
    handles = [tiny_model.clip_image_encoder.register_forward_hook(count("clip")),
               tiny_model.vae.encoder.register_forward_hook(count("vae_encode"))]
    try:
        animate(tiny_model, ref, mask, poses, frames_per_batch=1, guidance_scale=1.5, **FAST)  # 3 chunks
    finally:
        for h in handles:
            h.remove()
    assert calls == {"clip": 2, "vae_encode": 1}   # CLIP: photo + blank (CFG uncond); VAE: the background
