"""The inputs of `animate` with the temporal model (sampling/animate_temporal.py): a background image (one, or
one per pose frame) replacing the photo's own, the two noise modes, CFG's unconditional tokens, a mask of
another size, batches of references, the input named in a shape error, the defaults, and the `speed` and
pose-cache options reaching the sampler.

Expected values are never computed by the module: two runs that must agree (a background equal to the photo
behind an empty mask is the photo's own background; the first of two references is the reference), two runs
that must differ (an input that matters), hand-derived facts (messages, shapes, the joint draw written out
with `torch.randn`, call counts) or another module (`disco_core.animate`'s image-model signature, the mask
resized here with `torch.nn.functional.interpolate`).

Mutations seen failing these tests (mutmut, then by hand): the background scaled `* 2 + 1` or `/ 2 - 1`, its
posterior sample drawn without the seeded generator or with the frame index dropped, `shape[1]` for the image
count, every frame given the first background, fitting without "replicate" (black padding), the official mode's
background sample seeded instead of drawn from the global RNG, `noise_mode` dropped from the initial latents
(official = per-frame), the latents drawn in fp32 for a bf16 model, guidance `> 2` / `>= 1` for CFG, CFG's
unconditional tokens dropped, `uncond` not falling back to the checkpoint's, the mask not resized (or resized
"nearest"), `[:2]` for the first reference, the input names in messages, the defaults of `TemporalVideo`,
`speed` ignored, and the pose cache kept in fp32 for a bf16 model. Run of 2026-12-05: 311/331 (94 %, was 184).
Kept (equivalent): 7 `device=None` (one CPU), `shape[+2:]` / `[-3:]` on 4-D tensors (6: the same slice, or a
resize to the size it has), "replicate" mutated or None (anything but "zeros" replicates), the noise mode None
or a mutated "per_frame" default (every mode but "official" is per-frame), and a joint draw of 2 videos whose
first is the one drawn (randn fills in order).
"""
import inspect

import pytest
import torch

from disco_core import InputError, animate, load_model
from disco_core.sampling.animate import animate_chunks
from disco_core.sampling.animate_temporal import TemporalVideo, animate_windows
from disco_core.sampling.fast import OFFICIAL_ORDER, Speed
from disco_core.sampling.noise import frame_generators

H = W = 64  # the fixture model's size
FAST = dict(height=H, width=W, num_inference_steps=2, seed=5, window=4, overlap=0)


def _poses(n, seed=2):
    return torch.rand(n, 3, 40, 40, generator=torch.Generator().manual_seed(seed))


def _square_person(seed=0):
    """A square photo (crop and pad fit it the same way) and an empty mask: its background is the whole photo."""
    return torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(seed)), torch.zeros(1, 1, 64, 64)


def _run(model, ref, mask, poses, global_seed=None, **kw):
    """`animate` with the fast options; `global_seed`: the global RNG's seed for this run (official mode draws the
    background's posterior sample from it), restored afterwards."""
    with torch.random.fork_rng():
        if global_seed is not None:
            torch.manual_seed(global_seed)
        return animate(model, ref, mask, poses, **{**FAST, **kw})


def _differ(a, b):
    return (a - b).abs().mean() > 1e-3


# --- the background override ---------------------------------------------------------------------------------

@pytest.mark.parametrize("noise_mode", ["per_frame", "official"])
def test_a_background_equal_to_the_photo_gives_the_photos_own_background(temporal_model, noise_mode):
    """With an empty mask the photo's own background is the whole photo, in [-1, 1], fitted with replicated edges
    and sampled with the same generator: `background=photo` must give the very same frames. A different image
    gives other frames."""
    ref, empty = _square_person()
    poses = _poses(4)
    own = _run(temporal_model, ref, empty, poses, noise_mode=noise_mode, global_seed=0)
    same = _run(temporal_model, ref, empty, poses, background=ref, noise_mode=noise_mode, global_seed=0)
    torch.testing.assert_close(same, own, rtol=0, atol=1e-6)
    other = _run(temporal_model, ref, empty, poses, background=ref.flip(-1), noise_mode=noise_mode, global_seed=0)
    assert _differ(other, own)


@pytest.mark.parametrize("background", [None, "photo", "per_frame"])
def test_official_mode_draws_the_background_sample_from_the_global_rng(temporal_model, background):
    """noise.py: in the official mode the background's VAE posterior sample uses the global RNG (as the official
    code), in the per-frame mode a generator seeded from `seed`, whatever the global RNG."""
    ref, empty = _square_person()
    poses = _poses(4)
    bg = {None: None, "photo": ref, "per_frame": torch.rand(4, 3, 50, 50, generator=torch.Generator().manual_seed(1))}
    kw = dict(background=bg[background])
    a = _run(temporal_model, ref, empty, poses, noise_mode="official", global_seed=0, **kw)
    torch.testing.assert_close(_run(temporal_model, ref, empty, poses, noise_mode="official", global_seed=0, **kw),
                               a, rtol=0, atol=0)
    assert _differ(_run(temporal_model, ref, empty, poses, noise_mode="official", global_seed=1, **kw), a)
    b = _run(temporal_model, ref, empty, poses, global_seed=0, **kw)
    torch.testing.assert_close(_run(temporal_model, ref, empty, poses, global_seed=1, **kw), b, rtol=0, atol=0)


def test_background_count_must_be_one_or_one_per_pose_frame(temporal_model, person_inputs):
    ref, mask, _ = person_inputs
    with pytest.raises(InputError, match=r"^background has 2 images; give 1 or one per pose frame \(5\)$"):
        _run(temporal_model, ref, mask, _poses(5), background=torch.rand(2, 3, 50, 50))
    with pytest.raises(InputError, match=r"^background has 4 images; give 1 or one per pose frame \(3\)$"):
        _run(temporal_model, ref, mask, _poses(3), background=torch.rand(4, 3, 50, 50))  # not the padded 4


def test_each_frame_gets_its_own_background(temporal_model):
    """One background per pose frame, in windows of one frame (each frame sampled on its own): changing the third
    background changes the third frame only; frame 0 is what the first image alone gives, later frames are not;
    and even the same image on every frame gets its own posterior sample per frame (as the image model's)."""
    ref, empty = _square_person()
    poses = _poses(3)
    bgs = torch.rand(3, 3, 50, 70, generator=torch.Generator().manual_seed(3))
    kw = dict(window=1, overlap=0)
    per_frame = _run(temporal_model, ref, empty, poses, background=bgs, **kw)
    assert per_frame.shape == (3, H, W, 3)
    changed = _run(temporal_model, ref, empty, poses, background=torch.cat([bgs[:2], bgs[:1].flip(-1)]), **kw)
    torch.testing.assert_close(changed[:2], per_frame[:2], rtol=0, atol=1e-6)
    assert _differ(changed[2], per_frame[2])
    first = _run(temporal_model, ref, empty, poses, background=bgs[:1], **kw)
    torch.testing.assert_close(per_frame[0], first[0], rtol=0, atol=1e-6)
    assert _differ(per_frame[1], first[1]) and _differ(per_frame[2], first[2])
    repeated = _run(temporal_model, ref, empty, poses, background=bgs[:1].expand(3, -1, -1, -1), **kw)
    torch.testing.assert_close(repeated[0], first[0], rtol=0, atol=1e-6)
    assert (repeated[1:] - first[1:]).abs().max() > 1e-4


def test_a_short_video_takes_one_background_per_pose_frame(temporal_model):
    """3 pose frames in a 4-frame window (the last one mirrored): 3 backgrounds, not 4, and 3 frames out."""
    ref, empty = _square_person()
    bgs = torch.rand(3, 3, 50, 50, generator=torch.Generator().manual_seed(4))
    out = _run(temporal_model, ref, empty, _poses(3), background=bgs)
    assert out.shape == (3, H, W, 3)
    assert _differ(out, _run(temporal_model, ref, empty, _poses(3), background=bgs[:1]))


@pytest.mark.parametrize("fit", ["pad", "crop", "official"])
def test_a_background_is_fitted_with_its_edges_replicated(temporal_model, fit):
    """A one-colour background of another shape, fitted to the output: padding repeats its edges, so it is the
    same as a one-colour background of the output's size (black padding would show)."""
    ref, empty = _square_person()
    poses = _poses(4)
    grey = torch.full((1, 3, 40, 90), 0.7)
    fitted = _run(temporal_model, ref, empty, poses, background=grey, fit=fit)
    plain = _run(temporal_model, ref, empty, poses, background=torch.full((1, 3, H, W), 0.7), fit=fit)
    torch.testing.assert_close(fitted, plain, rtol=0, atol=1e-4)
    if fit == "pad":  # the same background with black bars above and below (what zero padding would give)
        barred = torch.zeros(1, 3, 90, 90)
        barred[..., 25:65, :] = 0.7
        assert _differ(_run(temporal_model, ref, empty, poses, background=barred, fit=fit), plain)


def test_the_fit_mode_reaches_the_background(temporal_model):
    """Square photo and poses (every fit mode takes all of them): only the wide background is fitted differently
    ('official' is 'crop' for a square output)."""
    ref, empty = _square_person()
    poses = _poses(4)
    wide = torch.rand(1, 3, 40, 90, generator=torch.Generator().manual_seed(5))
    crop = _run(temporal_model, ref, empty, poses, background=wide, fit="crop")
    assert _differ(_run(temporal_model, ref, empty, poses, background=wide, fit="pad"), crop)


# --- shapes, names and batches of the images --------------------------------------------------------------------

@pytest.mark.parametrize("which,name,channels", [("reference", "reference image", 3), ("mask", "reference mask", 1),
                                                 ("background", "background", 3)])
def test_a_wrong_image_shape_names_the_input(temporal_model, person_inputs, which, name, channels):
    ref, mask, _ = person_inputs
    images = dict(reference=ref, mask=mask, background=None)
    images[which] = torch.rand(1, 2, 50, 50)
    with pytest.raises(InputError, match=rf"^{name} must be a float tensor \[batch, {channels}, height, width\] "
                                         r"in 0..1, got \(1, 2, 50, 50\)$"):
        _run(temporal_model, images["reference"], images["mask"], _poses(4), background=images["background"])


def test_only_the_first_reference_image_and_mask_are_used(temporal_model, person_inputs):
    ref, mask, _ = person_inputs
    poses = _poses(4)
    one = _run(temporal_model, ref, mask, poses)
    two = _run(temporal_model, torch.cat([ref, ref.flip(-1)]), torch.cat([mask, 1 - mask]), poses)
    torch.testing.assert_close(two, one, rtol=0, atol=1e-6)


def test_a_mask_of_another_size_is_resized_bilinearly_to_the_photo(temporal_model, person_inputs):
    ref, _, _ = person_inputs                                                   # 96 x 64
    small = torch.rand(1, 1, 24, 16, generator=torch.Generator().manual_seed(6))
    poses = _poses(4)
    got = _run(temporal_model, ref, small, poses)
    resized = torch.nn.functional.interpolate(small, size=(96, 64), mode="bilinear")
    torch.testing.assert_close(got, _run(temporal_model, ref, resized, poses), rtol=0, atol=1e-6)
    nearest = torch.nn.functional.interpolate(small, size=(96, 64), mode="nearest")
    assert (got - _run(temporal_model, ref, nearest, poses)).abs().max() > 1e-4


# --- noise ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_initial_noise_of_each_mode_in_the_models_dtype(temporal_model, person_inputs, dtype):
    """Official: one draw `randn((1, 4, frames, h, w))` from a generator seeded with `seed`, in the model's dtype
    (written out here); per-frame: each frame's own generator (noise.py), whatever the dtype. 3 poses in a window
    of 4: the padded frame has noise too."""
    ref, mask, _ = person_inputs
    kw = dict(height=H, width=W, seed=43, window=4, overlap=0)
    latents, _ = TemporalVideo(temporal_model, ref, mask, _poses(3), noise_mode="official",
                               **kw).initial_latents("cpu", dtype)
    expected = torch.randn((1, 4, 4, H // 8, W // 8), generator=torch.Generator("cpu").manual_seed(43), dtype=dtype)
    assert latents.dtype == dtype and torch.equal(latents, expected[0].transpose(0, 1))
    latents, _ = TemporalVideo(temporal_model, ref, mask, _poses(3), noise_mode="per_frame",
                               **kw).initial_latents("cpu", dtype)
    expected = torch.stack([torch.randn((4, H // 8, W // 8), generator=g) for g in frame_generators(43, range(4))])
    assert latents.dtype == dtype and torch.equal(latents, expected.to(dtype))


def test_the_noise_mode_changes_the_frames(temporal_model, person_inputs):
    ref, mask, _ = person_inputs
    poses = _poses(4)
    per_frame = _run(temporal_model, ref, mask, poses, global_seed=0)
    official = _run(temporal_model, ref, mask, poses, noise_mode="official", global_seed=0)
    assert _differ(official, per_frame)


# --- classifier-free guidance -------------------------------------------------------------------------------------

def _clip_calls(model, fn):
    calls = []
    handle = model.clip_image_encoder.register_forward_hook(lambda *_: calls.append(1))
    try:
        fn()
    finally:
        handle.remove()
    return len(calls)


def test_guidance_above_one_uses_the_unconditional_tokens(temporal_model, person_inputs):
    """Guidance 1 is the conditional prediction alone: CLIP runs once (the photo); above 1 the blank image is
    encoded too and the guidance scale changes the frames (1.5 and 2.5 both, and they differ)."""
    ref, mask, _ = person_inputs
    poses = _poses(4)
    runs = {}
    calls = {g: _clip_calls(temporal_model, lambda g=g: runs.__setitem__(g, _run(temporal_model, ref, mask, poses,
                                                                                   guidance_scale=g)))
             for g in (1.0, 1.5, 2.5)}
    assert calls == {1.0: 1, 1.5: 2, 2.5: 2}
    assert _differ(runs[1.5], runs[1.0]) and _differ(runs[2.5], runs[1.5]) and _differ(runs[2.5], runs[1.0])
    assert _clip_calls(temporal_model, lambda: _run(temporal_model, ref, mask, poses, uncond="zeros")) == 1


def test_uncond_defaults_to_the_checkpoints(temporal_model, temporal_checkpoint, person_inputs):
    """`uncond` None: the checkpoint's own mode ('blank' for the fixture; a model loaded with 'zeros' uses
    zeros); either mode given explicitly wins over the checkpoint's."""
    ref, mask, _ = person_inputs
    poses = _poses(4)
    zeros_model = load_model(temporal_checkpoint, uncond="zeros")
    assert temporal_model.config.uncond == "blank" and zeros_model.config.uncond == "zeros"
    blank = _run(temporal_model, ref, mask, poses)
    zeros = _run(temporal_model, ref, mask, poses, uncond="zeros")
    assert _differ(zeros, blank)
    torch.testing.assert_close(_run(temporal_model, ref, mask, poses, uncond="blank"), blank, rtol=0, atol=0)
    torch.testing.assert_close(_run(zeros_model, ref, mask, poses), zeros, rtol=0, atol=1e-6)
    torch.testing.assert_close(_run(zeros_model, ref, mask, poses, uncond="blank"), blank, rtol=0, atol=1e-6)


# --- defaults and options passed through ----------------------------------------------------------------------

def _defaults(fn):
    return {n: p.default for n, p in inspect.signature(fn).parameters.items() if p.default is not p.empty}


SHARED = ("height", "width", "fit", "guidance_scale", "seed", "noise_mode", "pose_scale", "background_scale",
          "uncond", "window", "overlap")


def test_temporal_video_defaults_are_the_documented_ones():
    """The cluster's workers build `TemporalVideo` from the options they are sent: its defaults must be
    `animate_windows`' (the local path's), and, but for the batch size (a multiple of the window for the
    temporal model: one window per model call), those of `disco_core.animate` (`animate_chunks`)."""
    video, windows, chunks = _defaults(TemporalVideo.__init__), _defaults(animate_windows), _defaults(animate_chunks)
    assert set(SHARED) <= set(video)
    assert {n: windows[n] for n in video} == video
    assert {n: video[n] for n in SHARED} == {n: chunks[n] for n in SHARED}
    assert video["frames_per_batch"] % video["window"] == 0


def test_a_temporal_video_without_options_is_the_one_with_the_documented_values(temporal_model, person_inputs):
    """The same check by behaviour (mutmut's trampoline shows the original signature): `TemporalVideo` built
    without options encodes, draws and batches as with `animate_chunks`' defaults given explicitly (and
    `animate_windows`' batch size)."""
    ref, mask, _ = person_inputs
    documented = {n: _defaults(animate_chunks)[n] for n in SHARED}
    documented["frames_per_batch"] = _defaults(animate_windows)["frames_per_batch"]
    plain = TemporalVideo(temporal_model, ref, mask, _poses(20))
    given = TemporalVideo(temporal_model, ref, mask, _poses(20), **documented)
    assert plain.plan == given.plan and plain.output_chunks() == given.output_chunks()
    for name in ("tokens", "unc", "bg"):
        assert getattr(given, name) is not None and torch.equal(getattr(plain, name), getattr(given, name)), name
    assert torch.equal(plain.initial_latents("cpu", torch.float32)[0], given.initial_latents("cpu", torch.float32)[0])
    a, b = plain.job(), given.job()
    assert (a.batches, a.guidance_scale, a.pose_scale, a.background_scale, a.speed) == \
        (b.batches, b.guidance_scale, b.pose_scale, b.background_scale, b.speed)
    assert torch.equal(plain.pose_for([0, 19]), given.pose_for([0, 19]))


def _embedding_calls(model, fn):
    calls = []
    nets = [model.pose_controlnet.controlnet_cond_embedding, model.background_controlnet.controlnet_cond_embedding]
    handles = [m.register_forward_hook(lambda *_: calls.append(1)) for m in nets]
    try:
        fn()
    finally:
        for h in handles:
            h.remove()
    return len(calls)


def test_speed_reaches_the_sampler(temporal_model, person_inputs):
    """One window, 2 steps: in the official order both ControlNets embed their condition every step (2 x 2);
    the default speed-ups embed each once for the run (2) -- with the same frames."""
    ref, mask, _ = person_inputs
    poses = _poses(4)
    out = {}
    plain = _embedding_calls(temporal_model, lambda: out.__setitem__(
        "plain", _run(temporal_model, ref, mask, poses, speed=OFFICIAL_ORDER)))
    fast = _embedding_calls(temporal_model, lambda: out.__setitem__(
        "fast", _run(temporal_model, ref, mask, poses, speed=Speed())))
    assert (plain, fast) == (2 * 2, 2)
    torch.testing.assert_close(out["fast"], out["plain"], rtol=0, atol=1e-5)


class CountedPoses:
    """Pose frames that count how many are read (fitted)."""

    def __init__(self, n):
        self.frames, self.read = _poses(n), 0

    def __len__(self):
        return len(self.frames)

    def __getitem__(self, s):
        self.read += s.stop - s.start
        return self.frames[s]


def test_fitted_poses_are_cached_in_the_models_dtype(temporal_checkpoint, person_inputs):
    """window_poses.py keeps fitted poses in the dtype the model is fed: a budget of three bf16 frames (in MiB)
    holds three of a bf16 model's frames. Windows 0-3, 2-5, 3-6 and 2 steps: 7 frames fitted for the first step,
    the 4 not kept fitted again for the second."""
    ref, mask, _ = person_inputs
    model = load_model(temporal_checkpoint, dtype=torch.bfloat16)
    poses = CountedPoses(7)
    budget_mb = 3 * (3 * H * W * 2) / 2**20
    chunks = list(animate_windows(model, ref, mask, poses, **{**FAST, "overlap": 2}, pose_cache_mb=budget_mb))
    assert sum(len(r) for r, _ in chunks) == 7
    assert poses.read == 7 + (7 - 3)
