"""Videos of any length with the temporal model: window plan, fusion weights, per-step fusion, batching,
progress, cancellation and streaming.

Mutations seen failing these tests: fusing without the weights (plain average), a last window shortened
instead of moved back, padding frames kept in the output, windows batched in a different frame order, and the
progress counting steps instead of window-steps.
"""
import pytest
import torch

from disco_core import Cancelled, InputError, animate
from disco_core.sampling.steps import make_scheduler
from disco_core.sampling.animate_temporal import animate_windows, joint_noise
from disco_core.sampling.windowed import denoise_windows
from disco_core.sampling.windows import plan_windows

H = W = 64  # the fixture model's size (three 2x downsamplings of 8x8 latents)
FAST = dict(height=H, width=W, num_inference_steps=2, seed=5)


def test_window_plan_covers_the_video_with_full_windows():
    assert plan_windows(40, 16, 4).starts == (0, 12, 24)
    p = plan_windows(41, 16, 4)
    assert p.starts == (0, 12, 24, 25) and p.length == 41     # the last window moves back, keeps 16 frames
    assert all(s + 16 <= 41 for s in p.starts)
    assert plan_windows(16, 16, 4).starts == (0,) and plan_windows(17, 8, 0).starts == (0, 8, 9)
    short = plan_windows(5, 16, 4)
    assert short.starts == (0,) and short.length == 16
    assert [short.source_frame(i) for i in range(12)] == [0, 1, 2, 3, 4, 3, 2, 1, 0, 1, 2, 3]  # mirrored
    assert plan_windows(1, 8, 2).source_frame(7) == 0
    for bad in (dict(window=0, overlap=0), dict(window=8, overlap=8), dict(window=8, overlap=-1)):
        with pytest.raises(InputError, match="window|overlap"):
            plan_windows(20, **bad)
    with pytest.raises(InputError, match="^the pose sequence is empty: there is nothing to animate$"):
        plan_windows(0, 16, 4)


def test_window_plan_edges_and_messages():
    """Mutmut survivors: a start one frame too late, window 1 refused, the plan forgetting its overlap, and the
    messages' numbers and hints."""
    assert plan_windows(9, 4, 1).starts == (0, 3, 5)  # 9 - 4 + 1 = 6 is a multiple of the stride: no start at 6
    assert plan_windows(3, 1, 0).starts == (0, 1, 2)  # one frame at a time is allowed
    assert plan_windows(40, 16, 4).overlap == 4 and plan_windows(5, 16, 4).overlap == 4
    with pytest.raises(InputError, match="the released temporal checkpoints were trained on 16-frame clips, the "
                                         r"paper's on 8\)$"):
        plan_windows(20, 0, 0)
    with pytest.raises(InputError, match=r"^overlap must be between 0 and window - 1 = 7 frames, got 8$"):
        plan_windows(20, 8, 8)


# Written out by hand from the rule (windows.py docstring), not computed with the module: over an overlap of n
# frames a window's weight ramps 1/(n+1), 2/(n+1), ..., n/(n+1) towards the edge a neighbour covers (linear
# cross-fade); an edge no neighbour covers keeps 1; a window overlapped on both sides takes the smaller ramp.
HAND_WEIGHTS = {
    (16, 16, 4): [[1] * 16],                                        # one window: its own prediction
    (5, 16, 4): [[1] * 16],                                         # padded short video, still one window
    (28, 16, 4): [[1] * 12 + [.8, .6, .4, .2], [.2, .4, .6, .8] + [1] * 12],
    (8, 4, 2): [[1, 1, 2 / 3, 1 / 3], [1 / 3, 2 / 3, 2 / 3, 1 / 3], [1 / 3, 2 / 3, 1, 1]],
    (11, 4, 1): [[1, 1, 1, .5], [.5, 1, 1, .5], [.5, .75, .5, .25], [.25, .5, .75, 1]],  # last moved back
    # overlap 3 of 4: a frame is in up to four windows and its weights sum to 1.5, so fusing must divide
    (9, 4, 3): [[1, .75, .5, .25]] + [[.25, .5, .5, .25]] * 4 + [[.25, .5, .75, 1]],
}


@pytest.mark.parametrize("frames,window,overlap", list(HAND_WEIGHTS))
def test_fusion_weights_are_the_hand_written_linear_cross_fade(frames, window, overlap):
    """Mutations that must fail: a smoothstep (or any other curve) instead of the linear ramp, the ramp over n
    instead of n + 1 steps, or the ramp on the wrong edge."""
    plan = plan_windows(frames, window, overlap)
    expected = HAND_WEIGHTS[frames, window, overlap]
    assert len(plan.starts) == len(expected)
    for k, weights in enumerate(expected):
        torch.testing.assert_close(plan.weights(k), torch.tensor(weights, dtype=torch.float32), rtol=0, atol=1e-6)


def test_fusion_weights_fall_towards_overlapped_edges_and_sum_to_one():
    assert torch.equal(plan_windows(16, 16, 4).weights(0), torch.ones(16))   # one window: its own prediction
    p = plan_windows(28, 16, 4)                                              # windows 0..15 and 12..27
    a, b = p.weights(0), p.weights(1)
    assert torch.equal(a[:12], torch.ones(12)) and torch.equal(b[4:], torch.ones(12))  # video edges stay 1
    assert torch.allclose(a[12:] + b[:4], torch.ones(4))                     # linear cross-fade
    assert (a[12:].diff() < 0).all() and (b[:4].diff() > 0).all()
    dense = plan_windows(40, 8, 6)                                           # frames in up to four windows
    total = torch.zeros(40)
    for k, s in enumerate(dense.starts):
        assert (dense.weights(k) > 0).all()
        total[s:s + 8] += dense.weights(k)
    assert (total > 0).all()


def _inputs(length, seed=0):
    g = torch.Generator().manual_seed(seed)
    return dict(latents=torch.randn(length, 4, 8, 8, generator=g), poses=torch.rand(length, 3, H, W, generator=g),
                tokens=torch.randn(1, 7, 24, generator=g), uncond=torch.randn(1, 7, 24, generator=g),
                background=torch.randn(1, 4, 8, 8, generator=g))


def _denoise(model, x, plan, frames=None, steps=1, guidance_scale=2.0, **kw):
    frames = list(range(plan.length)) if frames is None else frames
    poses = x["poses"][frames]
    return denoise_windows(model, x["latents"][frames], plan, tokens=x["tokens"], uncond=x["uncond"],
                           pose_for=lambda f: poses[f], background=x["background"],
                           scheduler=make_scheduler("ddim", model.config.scheduler), num_inference_steps=steps,
                           guidance_scale=guidance_scale, **kw)


def test_overlapping_predictions_are_fused_with_the_weights(temporal_model):
    """One DDIM step is linear in the noise prediction, so the fused video equals the weighted blend of each
    window sampled alone: window A alone on frames 0-3, B alone on frames 2-5."""
    x = _inputs(6)
    plan = plan_windows(6, 4, 2)
    fused = _denoise(temporal_model, x, plan)
    a = _denoise(temporal_model, x, plan_windows(4, 4, 0), frames=[0, 1, 2, 3])
    b = _denoise(temporal_model, x, plan_windows(4, 4, 0), frames=[2, 3, 4, 5])
    wa, wb = torch.tensor([2 / 3, 1 / 3])[:, None, None, None], torch.tensor([1 / 3, 2 / 3])[:, None, None, None]
    torch.testing.assert_close(fused[:2], a[:2], rtol=0, atol=1e-6)
    torch.testing.assert_close(fused[4:], b[2:], rtol=0, atol=1e-6)
    torch.testing.assert_close(fused[2:4], wa * a[2:] + wb * b[:2], rtol=0, atol=1e-5)  # hand weights, sum 1
    assert (a[2:] - b[:2]).abs().max() > 1e-2          # the windows really disagree there


@pytest.mark.parametrize("frames,window,overlap", [(8, 4, 2), (11, 4, 1), (9, 4, 3)])
def test_multi_window_fusion_matches_a_reference_loop(temporal_model, frames, window, overlap):
    """Three, four and six windows (the last one moved back; weights summing to more than 1): the fused
    one-step result equals this test's own loop, which samples each window alone and blends the results frame
    by frame with the hand-written weights, divided by their sum (one DDIM step is linear in the noise
    prediction, so blending results = blending predictions)."""
    x = _inputs(frames, seed=2)
    fused = _denoise(temporal_model, x, plan_windows(frames, window, overlap))
    starts = {8: [0, 2, 4], 11: [0, 3, 6, 7], 9: [0, 1, 2, 3, 4, 5]}[frames]
    total = torch.zeros_like(fused)
    norm = torch.zeros(frames)
    for start, weights in zip(starts, HAND_WEIGHTS[frames, window, overlap]):
        alone = _denoise(temporal_model, x, plan_windows(window, window, 0), frames=list(range(start, start + window)))
        for i in range(window):
            total[start + i] += weights[i] * alone[i]
            norm[start + i] += weights[i]
    torch.testing.assert_close(fused, total / norm[:, None, None, None], rtol=0, atol=1e-5)


def test_running_several_windows_at_once_changes_nothing(temporal_model):
    x = _inputs(11, seed=1)
    plan = plan_windows(11, 4, 1)                      # starts 0, 3, 6, 7: a moved-back last window
    one = _denoise(temporal_model, x, plan, steps=2, windows_per_batch=1)
    for n in (2, 3, 4):
        torch.testing.assert_close(_denoise(temporal_model, x, plan, steps=2, windows_per_batch=n), one,
                                   rtol=0, atol=2e-5)


def _record_clip_lengths(model):
    seen = []

    def hook(module, args, kwargs):
        seen.append((args[0].shape[0], model.frame_context.num_frames))
    return seen, model.unet.register_forward_pre_hook(hook, with_kwargs=True)


@pytest.mark.parametrize("num_frames", [3, 11])
def test_the_model_always_sees_full_windows(temporal_model, person_inputs, num_frames):
    ref, mask, _ = person_inputs
    poses = torch.rand(num_frames, 3, 40, 40, generator=torch.Generator().manual_seed(2))
    seen, handle = _record_clip_lengths(temporal_model)
    try:
        out = animate(temporal_model, ref, mask, poses, window=4, overlap=1, frames_per_batch=8, **FAST)
    finally:
        handle.remove()
    assert out.shape == (num_frames, H, W, 3)          # padding frames of a short video are dropped
    assert seen and all(f == 4 and batch % 4 == 0 for batch, f in seen)


def test_short_video_output_matches_its_padded_run(temporal_model, person_inputs):
    """A 3-frame video is sampled as one mirrored 4-frame window; its frames are that window's first three."""
    ref, mask, _ = person_inputs
    poses = torch.rand(3, 3, 40, 40, generator=torch.Generator().manual_seed(3))
    mirrored = poses[[0, 1, 2, 1]]
    short = animate(temporal_model, ref, mask, poses, window=4, overlap=0, **FAST)
    padded = animate(temporal_model, ref, mask, mirrored, window=4, overlap=0, **FAST)
    torch.testing.assert_close(short, padded[:3], rtol=0, atol=1e-6)


def test_image_model_ignores_window_and_overlap(tiny_model, person_inputs):
    ref, mask, poses = person_inputs
    base = animate(tiny_model, ref, mask, poses, **FAST)
    assert torch.equal(animate(tiny_model, ref, mask, poses, window=2, overlap=1, **FAST), base)


def test_official_noise_is_one_joint_draw():
    noise, _ = joint_noise((4, 8, 8), 6, 43, "cpu", torch.float32)
    expected = torch.randn((1, 4, 6, 8, 8), generator=torch.Generator("cpu").manual_seed(43))
    assert torch.equal(noise, expected[0].transpose(0, 1))


def test_progress_counts_window_steps_and_cancel_stops_between_them(temporal_model, person_inputs):
    ref, mask, _ = person_inputs
    poses = torch.rand(10, 3, 40, 40, generator=torch.Generator().manual_seed(4))   # windows at 0, 3, 6
    seen = []
    animate(temporal_model, ref, mask, poses, window=4, overlap=1, frames_per_batch=4, on_step=seen.append, **FAST)
    assert [i.done for i in seen] == list(range(1, 7)) and {i.total for i in seen} == {6}
    seen.clear()
    animate(temporal_model, ref, mask, poses, window=4, overlap=1, frames_per_batch=8, on_step=seen.append, **FAST)
    assert [i.done for i in seen] == [2, 3, 5, 6]      # two windows per batch
    calls = []
    with pytest.raises(Cancelled, match="^sampling was cancelled$"):
        animate(temporal_model, ref, mask, poses, window=4, overlap=1, frames_per_batch=4,
                should_cancel=lambda: calls.append(1) or len(calls) > 4, **FAST)
    assert len(calls) == 5     # asked before each step and each batch: step 0 = 4 asks, cancelled at step 1
    calls.clear()
    with pytest.raises(Cancelled, match="^sampling was cancelled$"):   # between two batches of one step
        animate(temporal_model, ref, mask, poses, window=4, overlap=1, frames_per_batch=4,
                should_cancel=lambda: calls.append(1) or len(calls) > 2, **FAST)
    assert len(calls) == 3


class LazyPoses:
    """A pose source that renders frames only when sliced, and records what was read."""

    def __init__(self, n):
        self.n, self.reads = n, []

    def __len__(self):
        return self.n

    def __getitem__(self, s):
        self.reads.append((s.start, s.stop))
        frames = torch.arange(s.start, s.stop, dtype=torch.float32)
        return (frames[:, None, None, None] / self.n).expand(-1, 3, 40, 40).clone()


def test_poses_are_read_per_window_and_frames_stream_out_in_chunks(temporal_model, person_inputs):
    ref, mask, _ = person_inputs
    poses = LazyPoses(9)
    chunks = list(animate_windows(temporal_model, ref, mask, poses, window=4, overlap=1, frames_per_batch=4,
                                  pose_cache_mb=0, **FAST))
    assert [c[0] for c in chunks] == [range(0, 4), range(4, 8), range(8, 9)]
    assert all(f.shape == (len(r), H, W, 3) for r, f in chunks)
    assert max(stop - start for start, stop in poses.reads) <= 4
    as_tensor = LazyPoses(9)[slice(0, 9)]
    whole = animate(temporal_model, ref, mask, as_tensor, window=4, overlap=1, frames_per_batch=4, **FAST)
    assert torch.equal(torch.cat([f for _, f in chunks]), whole)


class RenderedOnDemand(LazyPoses):
    """Pose frames that render straight at the model's size (`model_input`), never sliced."""

    def __getitem__(self, s):
        raise AssertionError("model_input is preferred over slicing")

    def model_input(self, start, stop, height, width, mode="crop"):
        self.reads.append((start, stop))
        frames = torch.arange(start, stop, dtype=torch.float32)
        return (frames[:, None, None, None] / self.n).expand(-1, 3, height, width).clone()


def test_pose_frames_with_model_input_are_rendered_per_window(temporal_model, person_inputs):
    ref, mask, _ = person_inputs
    poses = RenderedOnDemand(6)
    out = torch.cat([f for _, f in animate_windows(temporal_model, ref, mask, poses, window=4, overlap=2,
                                                   frames_per_batch=4, **FAST)])
    assert out.shape == (6, H, W, 3) and poses.reads and max(b - a for a, b in poses.reads) <= 4


@pytest.mark.parametrize("scheduler", ["euler_ancestral", "dpmpp_2m"])
def test_stochastic_and_multistep_schedulers_are_batching_invariant_too(temporal_model, person_inputs, scheduler):
    """One scheduler steps all frames (per-frame generators, one multistep history), whatever the batching."""
    ref, mask, _ = person_inputs
    poses = torch.rand(7, 3, 40, 40, generator=torch.Generator().manual_seed(6))
    kw = dict(window=4, overlap=2, scheduler=scheduler, **FAST)
    seen = []
    one = animate(temporal_model, ref, mask, poses, frames_per_batch=4, on_step=seen.append, **kw)
    torch.testing.assert_close(animate(temporal_model, ref, mask, poses, frames_per_batch=12, **kw), one,
                               rtol=0, atol=2e-5)
    # progress still comes when the scheduler has no clean estimate to show (DPM++ 2M returns none)
    last = [i for i in seen if i.chunk + 1 == i.num_chunks]
    assert [i.step for i in last] == [0, 1] and all(i.latents.shape == (4, 4, H // 8, W // 8) for i in last)
    assert all((i.x0 is None) == (scheduler == "dpmpp_2m") for i in last)


def test_fitted_poses_are_cached_up_to_the_budget_with_the_same_result(temporal_model, person_inputs):
    """Every step needs every window's poses again: within the budget each frame is fitted once."""
    ref, mask, _ = person_inputs
    frame_bytes = 3 * H * W * 4
    runs = {}
    for name, budget_mb in (("all", 64), ("three", 3 * frame_bytes / 2**20), ("none", 0)):
        poses = LazyPoses(7)
        out = torch.cat([f for _, f in animate_windows(temporal_model, ref, mask, poses, window=4, overlap=2,
                                                       pose_cache_mb=budget_mb, **FAST)])
        runs[name] = (out, sum(b - a for a, b in poses.reads))
    # windows 0-3, 2-5, 3-6 in one batch: frames 0-6 are fitted once per step (2 steps) unless kept
    assert runs["all"][1] == 7 and runs["three"][1] == 7 + (7 - 3) and runs["none"][1] == 2 * 7
    assert torch.equal(runs["all"][0], runs["none"][0]) and torch.equal(runs["three"][0], runs["none"][0])


class SplitSteps:
    """`steps` for `step_loop` as the cluster driver uses them (cluster/temporal.py), on one process: each
    segment of window batches predicted from its own slice of the latents, without Ray."""

    def __init__(self, predictor, segments):
        self.predictor, self.segments = predictor, segments

    def step(self, i, t, scaled, *, should_cancel=None, on_batch=None, trace=None):
        from disco_core.sampling.windowed import batch_frames
        out = []
        for ids in self.segments:
            frames = [f for b in ids for f in batch_frames(self.predictor.job.plan, self.predictor.job.batches[b])]
            lo, hi = min(frames), max(frames) + 1
            out.append(self.predictor.predict(t, scaled[lo:hi].clone(), lo, ids))
        return out


@pytest.mark.parametrize("frames,overlap,segments", [(11, 1, [[0], [1, 2, 3]]), (11, 1, [[0, 1], [2, 3]]),
                                                     (11, 1, [[0], [1], [2], [3]]), (8, 3, [[0, 1], [2, 3, 4]])])
def test_segments_of_windows_fuse_bit_equal_to_one_process(temporal_model, frames, overlap, segments):
    """The cluster's split (contiguous segments of window batches, each summed on its own, the frames earlier
    segments also cover sent apart) gives the same bits as every batch on one process; the moved-back last
    window (starts 0, 3, 6, 7) makes segments overlap by more than one frame, and overlap 3 (starts 0-4) puts
    frames in four windows, so a second segment must continue the first one's sums, not start its own."""
    from disco_core.sampling.windowed import LocalSteps, WindowJob, WindowPredictor, step_loop, window_batches
    x = _inputs(frames, seed=3)
    plan = plan_windows(frames, 4, overlap)
    job = WindowJob(plan, window_batches(plan, 1), x["tokens"], x["uncond"], lambda f: x["poses"][f],
                    x["background"], 2.0)
    kw = dict(scheduler=make_scheduler("ddim", temporal_model.config.scheduler), num_inference_steps=2,
              dtype=temporal_model.dtype)
    with LocalSteps(temporal_model, job) as local:
        one = step_loop(local, x["latents"], plan, job.batches, **kw)
    with WindowPredictor(temporal_model, job) as predictor:
        split = step_loop(SplitSteps(predictor, segments), x["latents"], plan, job.batches, **kw)
    assert torch.equal(split, one)
    torch.testing.assert_close(one, _denoise(temporal_model, x, plan, steps=2), rtol=0, atol=0)


def test_step_info_names_each_batch_and_the_last_step_previews(temporal_model, person_inputs):
    """What `on_step` gets per batch of windows: the step, the batch, its frames, the step and batch counts;
    the very last window-step always brings a preview (the finished video), whatever `preview_every`."""
    ref, mask, _ = person_inputs
    poses = torch.rand(10, 3, 40, 40, generator=torch.Generator().manual_seed(4))   # windows at 0, 3, 6
    seen = []
    animate(temporal_model, ref, mask, poses, window=4, overlap=1, frames_per_batch=4, preview_every=5,
            on_step=seen.append, **FAST)
    windows = [range(0, 4), range(3, 7), range(6, 10)]
    assert [(i.step, i.chunk, i.frames) for i in seen] == [(s, b, windows[b]) for s in (0, 1) for b in (0, 1, 2)]
    assert {(i.num_steps, i.num_chunks) for i in seen} == {(2, 3)}
    assert all(i.latents.shape == (4, 4, H // 8, W // 8) for i in seen)     # the batch's latents, 4 frames each
    assert [i.preview is not None for i in seen] == [False] * 5 + [True]
    assert seen[-1].preview.shape == (H, W, 3)


def test_guidance_one_runs_the_windows_without_the_unconditional_half(temporal_model):
    """CFG off (guidance 1, or no unconditional tokens): one copy of each window, and the fused result is the
    conditional prediction alone, the same whatever guidance <= 1 or the uncond tokens say."""
    x = _inputs(7, seed=5)
    plan = plan_windows(7, 4, 1)
    off = _denoise(temporal_model, x, plan, steps=2, guidance_scale=1.0)
    no_uncond = _denoise(temporal_model, {**x, "uncond": None}, plan, steps=2, guidance_scale=2.0)
    torch.testing.assert_close(off, no_uncond, rtol=0, atol=0)
    assert off.shape == x["latents"].shape and torch.isfinite(off).all()
    assert (off - _denoise(temporal_model, x, plan, steps=2)).abs().mean() > 1e-3   # CFG 2.0 differs


def test_a_background_per_frame_reaches_each_window(temporal_model):
    """A background latent per frame (a moving camera): with windows that do not overlap, each window of the
    fused run equals that window sampled alone with its own frames' backgrounds, and differs from a run that
    gives every frame the first background."""
    x = _inputs(8, seed=7)
    x["background"] = torch.randn(8, 4, 8, 8, generator=torch.Generator().manual_seed(8))
    fused = _denoise(temporal_model, x, plan_windows(8, 4, 0))
    for start in (0, 4):
        frames = list(range(start, start + 4))
        alone = _denoise(temporal_model, {**x, "background": x["background"][frames]}, plan_windows(4, 4, 0),
                         frames=frames)
        torch.testing.assert_close(fused[frames], alone, rtol=0, atol=1e-6)
    shared = _denoise(temporal_model, {**x, "background": x["background"][:1]}, plan_windows(8, 4, 0))
    assert (fused[4:] - shared[4:]).abs().mean() > 1e-3


def test_one_window_with_a_stochastic_scheduler_is_the_plain_scheduler_loop(temporal_model):
    """Euler ancestral (initial sigma > 1, scaled model input, fresh noise each step from the generator): a
    video exactly one window long equals the diffusers loop written out here."""
    from disco_core.sampling.steps import predict_noise

    x = _inputs(4, seed=9)
    scheduler = make_scheduler("euler_ancestral", temporal_model.config.scheduler)
    seen = []
    got = denoise_windows(temporal_model, x["latents"], plan_windows(4, 4, 0), tokens=x["tokens"],
                          uncond=x["uncond"], pose_for=lambda f: x["poses"][f], background=x["background"],
                          scheduler=scheduler, num_inference_steps=3, guidance_scale=2.0,
                          generator=torch.Generator().manual_seed(11), on_step=seen.append)
    reference = make_scheduler("euler_ancestral", temporal_model.config.scheduler)
    reference.set_timesteps(3)
    assert reference.init_noise_sigma > 1
    generator = torch.Generator().manual_seed(11)
    latents = x["latents"] * reference.init_noise_sigma
    steps = []
    context = torch.cat([x["uncond"].expand(4, -1, -1), x["tokens"].expand(4, -1, -1)])
    pose, background = torch.cat([x["poses"]] * 2), torch.cat([x["background"].expand(4, -1, -1, -1)] * 2)
    with torch.no_grad():
        for t in reference.timesteps:
            scaled = reference.scale_model_input(latents, t)
            with temporal_model.frames(4):
                eps = predict_noise(temporal_model, torch.cat([scaled, scaled]), t, context, pose, background,
                                    1.0, 1.0)
            uncond, cond = eps.chunk(2)
            out = reference.step(uncond + 2.0 * (cond - uncond), t, latents, generator=generator)
            latents = out.prev_sample
            steps.append((latents, out.pred_original_sample))
    torch.testing.assert_close(got, latents, rtol=0, atol=1e-5)
    # progress after each step (what previews show): that step's latents and clean estimate of the window
    assert [(i.step, i.num_steps, i.chunk, i.num_chunks, i.frames, i.done, i.total) for i in seen] == [
        (s, 3, 0, 1, range(0, 4), s + 1, 3) for s in range(3)]
    for info, (latents_i, x0_i) in zip(seen, steps):
        torch.testing.assert_close(info.latents, latents_i, rtol=0, atol=1e-5)
        torch.testing.assert_close(info.x0, x0_i, rtol=0, atol=1e-5)


def test_a_bf16_model_samples_windows_in_bf16(temporal_checkpoint):
    """The latents and every condition are cast to the model's dtype (a bf16 model on the CPU): the result is
    bf16 and close to the fp32 run."""
    from disco_core import load_model

    x = _inputs(6, seed=4)
    fp32 = _denoise(load_model(temporal_checkpoint), x, plan_windows(6, 4, 2))
    bf16 = _denoise(load_model(temporal_checkpoint, dtype=torch.bfloat16), x, plan_windows(6, 4, 2))
    assert bf16.dtype == torch.bfloat16
    assert (bf16.float() - fp32).abs().mean() < 0.02 * fp32.abs().mean()


def test_a_segment_keeps_apart_only_the_frames_earlier_batches_cover(temporal_model):
    """What a cluster worker sends back (`SegmentEps`): from the first batch on, every frame is in the summed
    body and nothing is sent apart; from a later batch, exactly the frames an earlier batch also covers are
    sent apart (one entry per batch that has any), and the body starts at the first frame no earlier batch
    covers. Windows at 0, 3, 6 (window 4, overlap 1), one per batch: batch 1 shares frame 3, batch 2 frame 6."""
    from disco_core.sampling.windowed import WindowJob, WindowPredictor, window_batches
    x = _inputs(10, seed=6)
    plan = plan_windows(10, 4, 1)
    job = WindowJob(plan, window_batches(plan, 1), x["tokens"], x["uncond"], lambda f: x["poses"][f],
                    x["background"], 2.0)
    t = make_scheduler("ddim", temporal_model.config.scheduler).timesteps[0]
    with WindowPredictor(temporal_model, job) as predictor:
        whole = predictor.predict(t, x["latents"], 0, [0, 1, 2])
        later = predictor.predict(t, x["latents"][3:].clone(), 3, [1, 2])
    assert (whole.start, whole.body.shape[0], whole.head) == (0, 10, [])
    assert later.start == 4 and later.body.shape[0] == 6
    assert [index.tolist() for index, _ in later.head] == [[3]]
    # the frame sent apart carries batch 1's weighted prediction: the whole run's body minus window 0's share
    window0 = predictor.predict(t, x["latents"], 0, [0])
    torch.testing.assert_close(later.head[0][1], whole.body[3:4] - window0.body[3:4], rtol=0, atol=1e-5)


def test_the_parity_trace_records_the_first_batch_of_the_first_step_only(temporal_model):
    """`trace` (the parity fixtures' names): the step-0 UNet input is the first batch's (CFG doubled) and is
    recorded once, not once per batch; every step's fused noise prediction is recorded."""
    x = _inputs(8, seed=4)
    names, values = [], {}

    def trace(name, value):
        names.append(name)
        values.setdefault(name, value.clone())

    _denoise(temporal_model, x, plan_windows(8, 4, 0), steps=2, trace=trace)
    assert names.count("unet_input_step0") == 1
    assert torch.equal(values["unet_input_step0"], torch.cat([x["latents"][:4]] * 2))   # DDIM: input = latents
    assert names.count("step0_noise_pred") == 1 and names.count("step1_noise_pred") == 1
    assert values["step0_noise_pred"].shape == x["latents"].shape
