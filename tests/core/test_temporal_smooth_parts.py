"""The parts of temporal_smooth.py one at a time, against hand-derived values, tiny reference implementations
written here, or properties (a known shift is recovered, a flat image stays flat, ...). CPU only, no shared data."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from disco_core.errors import InputError
from disco_core.smoothing import temporal_smooth as ts
from disco_core.smoothing.temporal_smooth import psnr, reference_flows, temporal_smooth, temporal_warp_error
from tests.synthetic_inputs import _texture

CPU = torch.device("cpu")


def _uniform_flow(dx: float, dy: float, h: int, w: int) -> torch.Tensor:
    return torch.tensor([dx, dy], dtype=torch.float32).view(1, 2, 1, 1).expand(1, 2, h, w).contiguous()


def _flicker(t: int = 4, h: int = 32, w: int = 40) -> torch.Tensor:
    """A static textured scene whose brightness flickers frame to frame."""
    base = torch.from_numpy(_texture(h, w, 7))
    gains = torch.tensor([1.0, 1.2, 0.85, 1.15, 0.9, 1.1][:t]).view(-1, 1, 1, 1)
    return (base[None] * gains).clamp(0, 1)


# ----------------------------------------------------------------------------- _flow_gray


def test_flow_gray_maps_luma_to_128_plus_48_std():
    """Dark/bright halves: z = -+0.5/(0.5 + 1e-6), so grey 128 -+ 48 z, truncated to uint8 (80 and 175)."""
    frame = torch.zeros(16, 20, 3)
    frame[:, 10:] = 1.0
    g = ts._flow_gray(frame, 1.0)
    assert g.dtype == np.uint8 and g.shape == (16, 20)
    z = 0.5 / (0.5 + 1e-6)
    assert (g[:, :10] == int(128 - 48 * z)).all() and (g[:, 10:] == int(128 + 48 * z)).all()
    assert int(128 - 48 * z) == 80 and int(128 + 48 * z) == 175


def test_flow_gray_clips_outliers_at_zero_instead_of_wrapping():
    """One black pixel among white ones is ~16 std below the mean: it clips to 0 (not wraps round uint8); the
    white ones sit 1/sqrt(255) std above the mean: 128 + 48/sqrt(255) = 131.0 -> 131."""
    frame = torch.ones(16, 16, 3)
    frame[3, 5] = 0.0
    g = ts._flow_gray(frame, 1.0)
    assert g[3, 5] == 0
    others = np.delete(g.ravel(), 3 * 16 + 5)
    assert (others == int(128 + 48 / math.sqrt(255))).all()


def test_flow_gray_clips_outliers_at_255_instead_of_wrapping():
    """The mirror case: one white pixel among black ones clips to 255; the black ones read 128 - 48/sqrt(255)."""
    frame = torch.zeros(16, 16, 3)
    frame[3, 5] = 1.0
    g = ts._flow_gray(frame, 1.0)
    assert g[3, 5] == 255
    others = np.delete(g.ravel(), 3 * 16 + 5)
    assert (others == int(128 - 48 / math.sqrt(255))).all()


def test_flow_gray_uses_rec601_luma():
    """Red 0.587 and green 0.299 have the same Rec.601 luma (0.299*0.587): the frame is flat grey to the flow."""
    frame = torch.zeros(16, 16, 3)
    frame[:, :8, 0] = 0.587
    frame[:, 8:, 1] = 0.299
    g = ts._flow_gray(frame, 1.0).astype(int)
    assert np.abs(g - 128).max() <= 2


def test_flow_gray_near_flat_frame_is_not_blown_up():
    """Luma differing by 2e-6 (std ~1e-6): the 1e-6 guard keeps it near mid-grey instead of 0/255."""
    frame = torch.full((16, 16, 3), 0.5)
    frame[:, 8:] += 2e-6
    g = ts._flow_gray(frame, 1.0).astype(int)
    assert 40 < g.min() and g.max() < 215


@pytest.mark.parametrize("h,w,scale,shape", [(48, 64, 0.5, (24, 32)), (20, 200, 0.1, (16, 20)),
                                             (200, 20, 0.1, (20, 16)), (16, 24, 2.0, (32, 48))])
def test_flow_gray_size_follows_scale_with_a_16_px_floor(h, w, scale, shape):
    assert ts._flow_gray(torch.rand(h, w, 3), scale).shape == shape


def test_flow_gray_downscales_by_area_averaging():
    """Columns 1,0,0,0 repeating: grey 211 and 100 (z = +1.73, -0.58); at 1/4 each output pixel averages one period
    (211 + 3*100)/4 = 127.75 -> 128 (point sampling would give 100 or 211)."""
    frame = torch.zeros(32, 64, 3)
    frame[:, 0::4] = 1.0
    full = ts._flow_gray(frame, 1.0)
    assert set(np.unique(full)) == {100, 211}
    small = ts._flow_gray(frame, 0.25)
    assert small.shape == (16, 16) and (np.abs(small.astype(int) - 128) <= 1).all()


# ----------------------------------------------------------------------------- _Flow, _warp, _fb_confidence


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_flow_recovers_a_known_shift_at_full_size(scale):
    """Texture moved by (4, 2) px: flow current->previous is (-4, -2) in full-size pixels, also when computed at
    half resolution (the flow is resized and its x, y components scaled by 2)."""
    a = torch.from_numpy(_texture(96, 128, 1))
    b = torch.from_numpy(_texture(96, 128, 1, shift=(4.0, 2.0)))
    flow = ts._Flow((96, 128), scale, CPU)
    f = flow(ts._flow_gray(b, scale), ts._flow_gray(a, scale))
    assert f.shape == (1, 2, 96, 128) and f.dtype == torch.float32 and f.device == CPU
    inner = f[0, :, 20:-20, 20:-20].flatten(1).median(1).values
    assert inner[0].item() == pytest.approx(-4.0, abs=0.3) and inner[1].item() == pytest.approx(-2.0, abs=0.3)


def test_warp_samples_at_x_plus_flow_and_repeats_the_border():
    """Flow (+2, 0) on a column ramp reads the value 2 columns right; past the right edge it repeats the edge."""
    img = torch.arange(8, dtype=torch.float32).view(1, 1, 1, 8).expand(1, 1, 4, 8)
    out = ts._warp(img, _uniform_flow(2, 0, 4, 8), ts._grid(4, 8, CPU))
    torch.testing.assert_close(out[0, 0, 0], torch.tensor([2., 3, 4, 5, 6, 7, 7, 7]))
    flat = torch.full((1, 3, 6, 6), 0.5)
    torch.testing.assert_close(ts._warp(flat, _uniform_flow(-3, 4, 6, 6), ts._grid(6, 6, CPU)), flat)


def test_grid_is_x_then_y():
    g = ts._grid(2, 3, CPU)
    assert g.shape == (1, 2, 2, 3)
    assert g[0, 0].tolist() == [[0, 1, 2], [0, 1, 2]] and g[0, 1].tolist() == [[0, 0, 0], [1, 1, 1]]


def _conf(dx, dy, h=6, w=7):
    back = _uniform_flow(dx, dy, h, w)
    return ts._fb_confidence(back, -back, ts._grid(h, w, CPU))[0, 0]


def test_fb_confidence_is_one_for_consistent_flow_inside_the_frame():
    """Zero flow: every pixel, the border ones included (coordinates exactly 0 and w-1, h-1), is fully confident."""
    c = _conf(0, 0)
    assert c.shape == (6, 7) and torch.equal(c, torch.ones(6, 7))


@pytest.mark.parametrize("dx,dy,zero_rows,zero_cols", [(1, 0, [], [6]), (-1, 0, [], [0]), (0, 1, [5], []),
                                                        (0, -1, [0], []), (2, -2, [0, 1], [5, 6])])
def test_fb_confidence_is_zero_where_the_flow_leaves_the_frame(dx, dy, zero_rows, zero_cols):
    """A consistent shift by whole pixels: exactly the rows/columns it carries outside get 0, the rest 1."""
    expected = torch.ones(6, 7)
    expected[zero_rows] = 0
    expected[:, zero_cols] = 0
    assert torch.equal(_conf(dx, dy), expected)


def test_fb_confidence_falls_where_forward_and_backward_disagree():
    """back = 0 but fwd = (3, 0) in the left half: round-trip error 9 px^2, tolerance 0.05 * 9 + 2 = 2.45, so
    confidence exp(-9 / 2.45) there and 1 where both flows are 0."""
    h, w = 8, 10
    back = torch.zeros(1, 2, h, w)
    fwd = torch.zeros(1, 2, h, w)
    fwd[:, 0, :, :5] = 3.0
    c = ts._fb_confidence(back, fwd, ts._grid(h, w, CPU))[0, 0]
    assert torch.allclose(c[:, :5], torch.full((h, 5), math.exp(-9 / 2.45)))
    assert torch.equal(c[:, 5:], torch.ones(h, 5))


def test_fb_confidence_of_a_batch_is_each_pair_alone():
    """Two flow pairs at once give two [1,H,W] maps, each the one that pair gives alone."""
    h, w = 6, 7
    grid = ts._grid(h, w, CPU)
    backs = torch.cat([_uniform_flow(1, 0, h, w), torch.zeros(1, 2, h, w)])
    fwds = torch.cat([-_uniform_flow(1, 0, h, w), _uniform_flow(2, 0, h, w)])
    both = ts._fb_confidence(backs, fwds, grid)
    assert both.shape == (2, 1, h, w)
    for i in range(2):
        assert torch.equal(both[i:i + 1], ts._fb_confidence(backs[i:i + 1], fwds[i:i + 1], grid))


# ----------------------------------------------------------------------------- _standardise, _lowpass, photo


def test_standardise_is_per_channel_zero_mean_unit_std():
    """Each channel minus its own mean over H, W, divided by its own (unbiased) std + 1e-3; a flat channel -> 0."""
    rng = np.random.default_rng(0)
    img = rng.random((1, 3, 5, 6)).astype(np.float32) * np.array([1.0, 0.2, 0.0], np.float32)[:, None, None] + 0.3
    expected = np.stack([(c - c.mean()) / (c.std(ddof=1) + 1e-3) for c in img[0]])[None]
    out = ts._standardise(torch.from_numpy(img))
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-4)
    assert torch.equal(out[0, 2], torch.zeros(5, 6))


def _blur_reference(a: np.ndarray, sigma: float, r: int) -> np.ndarray:
    """Normalised Gaussian of 2r+1 taps along H and W of [N,C,H,W], edge pixels repeated past the border."""
    taps = np.exp(-np.arange(-r, r + 1) ** 2 / (2 * sigma ** 2))
    taps /= taps.sum()
    for axis in (2, 3):
        pad = [(0, 0)] * 4
        pad[axis] = (r, r)
        p = np.pad(a, pad, mode="edge")
        a = sum(t * np.take(p, range(i, i + a.shape[axis]), axis=axis) for i, t in enumerate(taps))
    return a


def _lowpass_reference(img: np.ndarray) -> np.ndarray:
    """The documented lowpass, written plainly: mean of 8x8 blocks, a Gaussian of sigma max(h,w)/192 and
    2*round(2.5 sigma)+1 taps, then bilinear back up (half-pixel centres)."""
    n, c, h, w = img.shape
    small = img.reshape(n, c, h // 8, 8, w // 8, 8).mean(axis=(3, 5))
    sigma = max(h, w) / 192
    small = _blur_reference(small, sigma, round(2.5 * sigma))
    up = F.interpolate(torch.from_numpy(small.astype(np.float32)), size=(h, w), mode="bilinear", align_corners=False)
    return up.numpy()


def test_lowpass_matches_a_plain_reference():
    img = np.random.default_rng(1).random((1, 3, 64, 96)).astype(np.float32)  # sigma 0.5, 3 taps, 8x12 cells
    np.testing.assert_allclose(ts._lowpass(torch.from_numpy(img)).numpy(), _lowpass_reference(img), rtol=0, atol=1e-5)


def test_lowpass_of_a_fine_checkerboard_is_its_mean():
    """Area averaging: each 8x8 cell of a 1-px checkerboard averages to exactly 0.5."""
    img = ((torch.arange(64)[:, None] + torch.arange(72)[None]) % 2).float().expand(1, 3, 64, 72)
    assert torch.allclose(ts._lowpass(img), torch.full((1, 3, 64, 72), 0.5), atol=1e-6)


def test_lowpass_of_an_image_under_16_px_is_its_mean():
    """Under 16 px a side the 1/8 grid is one cell: one bright quadrant of an 8x8 image blurs to 0.25 everywhere."""
    img = torch.zeros(1, 1, 8, 8)
    img[..., :4, :4] = 1.0
    torch.testing.assert_close(ts._lowpass(img), torch.full((1, 1, 8, 8), 0.25))


def test_photo_confidence_matches_a_plain_reference():
    """Standardise both per channel, subtract the residual's lowpass, mean |residual| over channels, blur it
    (sigma 1, 5 taps, edges repeated), exp(-(e / 0.35)^2). A flaw touching the left edge checks the border."""
    rng = np.random.default_rng(2)
    cur = rng.random((1, 3, 64, 96)).astype(np.float32)
    warped = cur.copy()
    warped[..., 20:30, 0:6] = rng.random((1, 3, 10, 6))
    std = lambda a: (a - a.mean(axis=(2, 3), keepdims=True)) / (a.std(axis=(2, 3), ddof=1, keepdims=True) + 1e-3)  # noqa: E731
    d = std(warped) - std(cur)
    d = d - _lowpass_reference(d)
    e = _blur_reference(np.abs(d).mean(axis=1, keepdims=True), 1.0, 2)
    expected = np.exp(-(e / 0.35) ** 2)
    got = ts._photo_confidence(torch.from_numpy(warped), torch.from_numpy(cur)).numpy()
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)
    assert got[0, 0, 25, 0] < 0.5 < got[0, 0, 50, 50]


def test_photo_confidence_is_isotropic():
    """Transposing both inputs transposes the confidence map (the residual blur is round, sigma 1 both ways)."""
    rng = torch.Generator().manual_seed(0)
    cur = torch.rand(1, 3, 24, 24, generator=rng)
    warped = cur.clone()
    warped[..., 10:13, 5:7] = torch.rand(1, 3, 3, 2, generator=rng)
    c = ts._photo_confidence(warped, cur)
    ct = ts._photo_confidence(warped.transpose(-1, -2), cur.transpose(-1, -2))
    torch.testing.assert_close(ct, c.transpose(-1, -2), atol=1e-6, rtol=0)
    assert c.shape == (1, 1, 24, 24) and c.min() < 0.5 and c.max() == pytest.approx(1.0, abs=1e-3)


# ----------------------------------------------------------------------------- temporal_smooth


def test_bad_frames_are_named_in_the_message():
    with pytest.raises(InputError, match=r"got \[4, 8, 8\]"):
        temporal_smooth(torch.zeros(4, 8, 8))
    with pytest.raises(InputError, match=r"got \[8, 8, 3\]"):
        temporal_smooth(torch.zeros(8, 8, 3))
    with pytest.raises(InputError, match=r"got \[2, 8, 8, 4\]"):
        temporal_smooth(torch.zeros(2, 8, 8, 4))
    with pytest.raises(InputError, match=r"got list"):
        temporal_smooth([[0.0, 0.0, 0.0]])


def test_flow_scale_bounds_are_inclusive():
    frames = _flicker(2, 16, 16)
    for scale in (0.05, 2.0):
        assert temporal_smooth(frames, 0.5, flow_scale=scale).shape == frames.shape
    for scale in (0.049, 2.01, 3.0):
        with pytest.raises(InputError, match=rf"flow_scale must be between 0.05 and 2, got {scale}"):
            temporal_smooth(frames, 0.5, flow_scale=scale)


def test_default_strength_is_one_half():
    frames = _flicker(3)
    assert torch.equal(temporal_smooth(frames), temporal_smooth(frames, 0.5))


def test_two_frames_are_smoothed():
    """Two frames are enough to blend: their brightness moves closer together."""
    frames = _flicker(2)
    out = temporal_smooth(frames, 1.0)
    gap = lambda x: abs(float(x[0].mean() - x[1].mean()))  # noqa: E731
    assert gap(out) < 0.7 * gap(frames)


def test_output_is_clamped_to_0_1():
    """Frames straying outside 0..1 come back inside it, with both ends reached."""
    frames = _flicker(3) * 2.0 - 0.5
    assert frames.min() < 0 and frames.max() > 1
    out = temporal_smooth(frames, 0.5)
    assert out.min() == 0.0 and out.max() == 1.0


def test_strength_zero_and_single_frame_return_the_input_unchanged_in_its_type():
    """No clamping, no smoothing, a copy of the same type (numpy stays numpy)."""
    frames = _flicker(3) * 2.0 - 0.5
    out = temporal_smooth(frames, 0.0)
    assert torch.equal(out, frames) and out is not frames
    assert torch.equal(temporal_smooth(frames[:1], 1.0), frames[:1])
    as_numpy = frames.numpy()
    for out in (temporal_smooth(as_numpy, 0.0), temporal_smooth(as_numpy[:1], 0.7)):
        assert isinstance(out, np.ndarray) and out.dtype == np.float32
    np.testing.assert_array_equal(temporal_smooth(as_numpy, 0.0), as_numpy)


@pytest.mark.parametrize("bidirectional", [False, True, None])
def test_progress_counts_one_or_two_passes(bidirectional):
    """One pass forwards only; two (forwards and backwards) when bidirectional, which is the default (None here)."""
    calls = []
    options = {} if bidirectional is None else {"bidirectional": bidirectional}
    temporal_smooth(_flicker(3, 16, 16), 0.5, on_frame=lambda d, t: calls.append((d, t)), **options)
    n = 3 if bidirectional is False else 6
    assert calls == [(i, n) for i in range(1, n + 1)]


@pytest.mark.parametrize("strength", [0.0, 0.5])
def test_buffer_dir_puts_a_torch_result_in_a_file(tmp_path, strength):
    """A CPU tensor's result lives in a frames_* file in buffer_dir, the same values and dtype as in memory."""
    frames = _flicker(3, 16, 16).double()
    out = temporal_smooth(frames, strength, buffer_dir=str(tmp_path))
    assert [p.name.startswith("frames_") for p in tmp_path.iterdir()] == [True]
    assert out.dtype == torch.float64
    assert torch.equal(out, temporal_smooth(frames, strength))


@pytest.mark.parametrize("as_numpy", [False, True])
def test_buffer_dir_is_used_while_smoothing_a_tensor_but_not_numpy(tmp_path, as_numpy):
    """Seen from the progress callback: a tensor's output file exists during the passes; a numpy clip's output stays
    in memory (no file in buffer_dir at any point)."""
    frames = _flicker(3, 16, 16)
    files = []
    out = temporal_smooth(frames.numpy() if as_numpy else frames, 0.5, buffer_dir=str(tmp_path),
                          on_frame=lambda d, t: files.append(len(list(tmp_path.iterdir()))))
    assert isinstance(out, np.ndarray) == as_numpy
    assert files == [0 if as_numpy else 1] * 6


# ----------------------------------------------------------------------------- metrics


def test_warp_error_with_given_flows_is_the_mean_abs_difference():
    """Zero flows, all valid: frames 0.2 then 0.5 -> 0.3; all invalid -> 0 (not NaN); one frame -> 0."""
    frames = torch.tensor([0.2, 0.5]).view(2, 1, 1, 1).expand(2, 6, 8, 3)
    zero = torch.zeros(1, 2, 6, 8)
    assert temporal_warp_error(frames, flows=[(zero, torch.ones(1, 1, 6, 8, dtype=torch.bool))]) == pytest.approx(0.3)
    assert temporal_warp_error(frames, flows=[(zero, torch.zeros(1, 1, 6, 8, dtype=torch.bool))]) == 0.0
    assert temporal_warp_error(frames[:1]) == 0.0


def test_warp_error_takes_its_flow_from_the_reference():
    """A static clip has no warp error along its own flow, but does along a panning reference's flow."""
    static = torch.from_numpy(_texture(48, 64, 2))[None].expand(3, 48, 64, 3).contiguous()
    panning = torch.from_numpy(np.stack([_texture(48, 64, 2, shift=(3.0 * t, 0.0)) for t in range(3)]))
    assert temporal_warp_error(static) < 1e-3
    assert temporal_warp_error(static, reference=static) < 1e-3
    assert temporal_warp_error(static, reference=panning) > 0.02
    assert temporal_warp_error(panning) < 0.5 * temporal_warp_error(panning, reference=static)


def test_warp_error_messages_name_the_counts_and_shapes():
    frames = torch.zeros(4, 8, 8, 3)
    flow = (torch.zeros(1, 2, 8, 8), torch.ones(1, 1, 8, 8, dtype=torch.bool))
    with pytest.raises(InputError, match="Got 2 flows for 4 frames"):
        temporal_warp_error(frames, flows=[flow, flow])
    with pytest.raises(InputError, match=r"got \[8, 8, 3\]"):
        temporal_warp_error(torch.zeros(8, 8, 3))


def test_reference_flows_start_at_the_first_pair_and_exclude_pixels_leaving_the_frame():
    """Texture moved by (4, 2) between frames 0 and 1: the first flow is (-4, -2); the left column and top row,
    whose flow points outside, are invalid even with fb_threshold 0 (their confidence is exactly 0)."""
    a = torch.from_numpy(_texture(96, 128, 1))
    b = torch.from_numpy(_texture(96, 128, 1, shift=(4.0, 2.0)))
    (back, valid), = reference_flows(torch.stack([a, b]), fb_threshold=0.0)
    assert back.shape == (1, 2, 96, 128) and valid.shape == (1, 1, 96, 128) and valid.dtype == torch.bool
    inner = back[0, :, 20:-20, 20:-20].flatten(1).median(1).values
    assert inner[0].item() == pytest.approx(-4.0, abs=0.3) and inner[1].item() == pytest.approx(-2.0, abs=0.3)
    assert not valid[0, 0, :, 0].any() and not valid[0, 0, 0].any()
    assert valid[0, 0, 20:-20, 20:-20].all()


def test_psnr_of_uint8_is_on_the_0_255_scale():
    """uint8 clips one level apart: mse (1/255)^2, PSNR 20 log10(255) = 48.13 dB, as for the float equivalent."""
    a = np.full((2, 4, 4, 3), 100, np.uint8)
    assert psnr(a, a + 1) == pytest.approx(20 * math.log10(255), abs=1e-4)
    assert psnr(torch.from_numpy(a), torch.from_numpy(a + 1)) == pytest.approx(20 * math.log10(255), abs=1e-4)


def test_psnr_accepts_tensors_that_require_grad_and_names_mismatched_shapes():
    a = torch.zeros(1, 4, 4, 3, requires_grad=True)
    assert psnr(a, a.detach() + 0.1) == pytest.approx(20.0, abs=1e-3)
    with pytest.raises(InputError, match=r"got \[1, 4, 4, 3\] and \[1, 4, 5, 3\]"):
        psnr(a, torch.zeros(1, 4, 5, 3))
