"""Flow-guided temporal smoothing of generated frames, and metrics to measure flicker.

Frames are float [T,H,W,3] in 0..1 (ComfyUI IMAGE layout). Optical flow is OpenCV DIS (no weights);
warping is kornia. The filter is recursive: each output frame blends the current frame with the previous
output warped onto it, weighted by strength x per-pixel confidence, once forwards and once backwards in
time, and the two passes are averaged. Only a few frames are held at once, so memory is constant in T
(besides the output itself, which can live in a file: `buffer_dir`); flows are recomputed in the backward pass
rather than stored, on a second thread ahead of the blending (run_ahead.py).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from kornia.filters import gaussian_blur2d
from kornia.geometry.transform import remap

from ..errors import InputError
from ..media.frame_file import frame_buffer
from .run_ahead import run_ahead

# strength 1 keeps at most this share of the warped history, so a frame always refreshes a bit and
# flow errors cannot freeze content forever
MAX_HISTORY = 0.9
# photometric residual (in per-frame standard deviations) at which confidence falls to 1/e
PHOTO_TAU = 0.35
# forward-backward flow mismatch allowed: relative to flow magnitude, plus an absolute floor in px^2
FB_REL, FB_ABS = 0.05, 2.0
# OpenCV and torch threads while smoothing. Each frame's work is small (flow and warps at output size), so extra
# threads mostly spin waiting for each other; on a busy CPU (pose detection, other jobs) they get descheduled
# and the pass stalls. Measured on 2 cores at load ~14 (bench/RESULTS.md): 85-334 ms/frame with 1 thread, 490-
# 4233 with the default 2. One thread also makes the result the same on every machine (the thread count moves
# reductions by an ulp).
SMOOTH_THREADS = 1
# frame pairs whose flow is computed ahead of the blending, on a second thread: the second core is used without
# intra-op threads; each pair held is two flows at output size
FLOWS_AHEAD = 2


# ----------------------------------------------------------------------------- flow


def _flow_gray(frame: torch.Tensor, scale: float) -> np.ndarray:
    """[H,W,3] float -> uint8 luma normalised to zero mean / unit std, so global gain flicker
    does not look like motion to the flow."""
    g = (frame[..., 0] * 0.299 + frame[..., 1] * 0.587 + frame[..., 2] * 0.114).float().cpu().numpy()
    g = (g - g.mean()) / (g.std() + 1e-6)
    g = np.clip(128.0 + 48.0 * g, 0, 255).astype(np.uint8)
    if scale != 1.0:
        h, w = g.shape
        # DIS refuses images under 12 px on both sides: at flow_scale 0.1 (the node's minimum) a frame under
        # 120 px would fail, so the flow never runs below 16 px a side
        g = cv2.resize(g, (max(16, round(w * scale)), max(16, round(h * scale))), interpolation=cv2.INTER_AREA)
    return g


class _Flow:
    """DIS optical flow between normalised grey frames, returned full size as a [1,2,H,W] tensor."""

    def __init__(self, size: tuple[int, int], scale: float, device: torch.device):
        self.dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        self.size, self.scale, self.device = size, scale, device

    def __call__(self, src: np.ndarray, dst: np.ndarray) -> torch.Tensor:
        """Flow such that src(x) ~ dst(x + flow(x))."""
        flow = self.dis.calc(src, dst, None)
        h, w = self.size
        if flow.shape[:2] != (h, w):
            sy, sx = h / flow.shape[0], w / flow.shape[1]
            flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
            flow[..., 0] *= sx
            flow[..., 1] *= sy
        return torch.from_numpy(flow).permute(2, 0, 1)[None].to(self.device)


def _grid(h: int, w: int, device: torch.device) -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.arange(h, device=device, dtype=torch.float32),
                            torch.arange(w, device=device, dtype=torch.float32), indexing="ij")
    return torch.stack([xs, ys])[None]  # [1,2,H,W]


def _warp(img: torch.Tensor, flow: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Sample img [1,C,H,W] at x + flow(x)."""
    coords = grid + flow
    return remap(img, coords[:, 0], coords[:, 1], mode="bilinear", padding_mode="border", align_corners=True)


def _fb_confidence(back: torch.Tensor, fwd: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Soft forward-backward consistency in 0..1, zero where the flow leaves the frame ([1,1,H,W]).
    `back` maps current->previous, `fwd` previous->current; a round trip should return home."""
    fwd_at = _warp(fwd, back, grid)
    err = (back + fwd_at).pow(2).sum(1, keepdim=True)
    tol = FB_REL * (back.pow(2).sum(1, keepdim=True) + fwd_at.pow(2).sum(1, keepdim=True)) + FB_ABS
    conf = torch.exp(-err / tol)
    h, w = back.shape[-2:]
    coords = grid + back
    inside = (coords[:, :1] >= 0) & (coords[:, :1] <= w - 1) & (coords[:, 1:] >= 0) & (coords[:, 1:] <= h - 1)
    return conf * inside


def _standardise(img: torch.Tensor) -> torch.Tensor:
    mean = img.mean(dim=(-2, -1), keepdim=True)
    std = img.std(dim=(-2, -1), keepdim=True)
    return (img - mean) / (std + 1e-3)


def _lowpass(img: torch.Tensor) -> torch.Tensor:
    """Blur at ~1/24 of the frame size; done at 1/8 resolution because a full-size kernel is slow."""
    h, w = img.shape[-2:]
    small = F.interpolate(img, size=(max(1, h // 8), max(1, w // 8)), mode="area")
    sigma = max(h, w) / 24.0 / 8.0
    k = int(2 * round(2.5 * sigma) + 1)
    small = gaussian_blur2d(small, (k, k), (sigma, sigma), border_type="replicate")
    return F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)


def _photo_confidence(warped: torch.Tensor, cur: torch.Tensor) -> torch.Tensor:
    """Confidence from the structural mismatch of warped vs current ([1,1,H,W]).
    Both are standardised per channel and the residual is high-passed, so brightness/contrast
    and low-frequency colour flicker (what we want to remove) do not read as occlusion."""
    d = _standardise(warped) - _standardise(cur)
    d = d - _lowpass(d)
    e = d.abs().mean(1, keepdim=True)
    e = gaussian_blur2d(e, (5, 5), (1.0, 1.0), border_type="replicate")
    return torch.exp(-(e / PHOTO_TAU).pow(2))


# ----------------------------------------------------------------------------- smoothing


def _as_frames(frames) -> tuple[torch.Tensor, bool]:
    was_numpy = isinstance(frames, np.ndarray)
    x = torch.from_numpy(frames) if was_numpy else frames
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[-1] != 3:
        shape = list(getattr(x, "shape", [])) or type(frames).__name__
        raise InputError(f"Temporal smooth expects frames shaped [T,H,W,3], got {shape}.")
    if not x.is_floating_point():
        raise InputError(f"Temporal smooth expects float frames in 0..1, got {x.dtype}; divide uint8 by 255.")
    return x, was_numpy


def _pair_flows(x: torch.Tensor, order: range, flow: _Flow):
    """(t, flow current->previous, flow previous->current) along `order`; None, None for its first frame."""
    prev_gray = None
    for t in order:
        gray = _flow_gray(x[t], flow.scale)
        if prev_gray is None:
            yield t, None, None
        else:
            yield t, flow(gray, prev_gray), flow(prev_gray, gray)
        prev_gray = gray


def _pass(x: torch.Tensor, order: range, a: float, flow: _Flow, grid: torch.Tensor, emit):
    """One recursive pass over `order`; emit(t, smoothed_t [H,W,3]) for each frame. The flows are computed on a
    second thread, a frame or two ahead of the blending (run_ahead.py)."""
    prev_out = None
    for t, back, fwd in run_ahead(_pair_flows(x, order, flow), depth=FLOWS_AHEAD):
        cur = x[t].float().permute(2, 0, 1)[None]  # [1,3,H,W]
        if prev_out is None:
            out = cur
        else:
            warped = _warp(prev_out, back, grid)
            conf = _fb_confidence(back, fwd, grid) * _photo_confidence(warped, cur)
            out = cur + (a * conf) * (warped - cur)
        emit(t, out[0].permute(1, 2, 0))
        prev_out = out


@contextmanager
def bounded_threads(threads: int):
    """OpenCV's and torch's intra-op thread counts set to `threads` inside the block, restored after it."""
    cv_before, torch_before = cv2.getNumThreads(), torch.get_num_threads()
    cv2.setNumThreads(threads)
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        cv2.setNumThreads(cv_before)
        torch.set_num_threads(torch_before)


def _new_like(x: torch.Tensor, folder: str | None) -> torch.Tensor:
    return frame_buffer(tuple(x.shape), folder, x.dtype) if folder else torch.empty_like(x)


def temporal_smooth(frames, strength: float = 0.5, *, flow_scale: float = 1.0,
                    bidirectional: bool = True,
                    on_frame: Callable[[int, int], None] | None = None, buffer_dir: str | None = None):
    """Reduce frame-to-frame flicker along optical flow.

    frames: float [T,H,W,3] in 0..1 (torch tensor or numpy array; the same type comes back).
    strength: 0..1; 0 returns the input unchanged, 1 smooths hardest.
    flow_scale: resolution factor for the flow (e.g. 0.5 for speed on large frames).
    bidirectional: average a forward and a backward pass (no lag, twice the work).
    on_frame(done, total): progress callback, called once per processed frame; it may raise to cancel.
    buffer_dir: a folder on disk for the output of a CPU torch tensor (a file-backed tensor, frame_file.py), so
    a long clip is not held in RAM twice; None keeps it in memory.
    """
    x, was_numpy = _as_frames(frames)
    if not 0.0 <= float(strength) <= 1.0:
        raise InputError(f"strength must be between 0 and 1, got {strength}.")
    if not 0.05 <= float(flow_scale) <= 2.0:
        raise InputError(f"flow_scale must be between 0.05 and 2, got {flow_scale}.")
    T, H, W, _ = x.shape
    on_disk = buffer_dir if not was_numpy and x.device.type == "cpu" else None
    if strength == 0 or T < 2:
        out = _new_like(x, on_disk).copy_(x)
        return out.numpy() if was_numpy else out

    a = MAX_HISTORY * float(strength)
    grid = _grid(H, W, x.device)
    flow = _Flow((H, W), float(flow_scale), x.device)
    out = _new_like(x, on_disk)
    total = 2 * T if bidirectional else T
    done = 0

    def tick():
        nonlocal done
        done += 1
        if on_frame is not None:
            on_frame(done, total)

    def store(t, frame):
        out[t] = frame.to(out.dtype)
        tick()

    def merge(t, frame):
        out[t] = ((out[t].float() + frame) * 0.5).to(out.dtype)
        tick()

    with torch.no_grad(), bounded_threads(SMOOTH_THREADS):
        _pass(x, range(T), a, flow, grid, store)
        if bidirectional:
            _pass(x, range(T - 1, -1, -1), a, flow, grid, merge)
    out.clamp_(0.0, 1.0)
    return out.numpy() if was_numpy else out


# ----------------------------------------------------------------------------- metrics


def _metric_frames_any(v) -> torch.Tensor:
    """Tensor/array -> float CPU tensor in 0..1 (uint8 is divided by 255)."""
    x = torch.from_numpy(np.asarray(v)) if not isinstance(v, torch.Tensor) else v.detach().cpu()
    return x.float() / 255.0 if not x.is_floating_point() else x.float()


def _metric_frames(frames) -> torch.Tensor:
    x = _metric_frames_any(frames)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise InputError(f"Expected frames shaped [T,H,W,3], got {list(x.shape)}.")
    return x


def reference_flows(reference, fb_threshold: float = 0.5) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """For each t>=1: (flow current->previous [1,2,H,W], valid mask [1,1,H,W]) computed on `reference`.
    The mask keeps pixels whose forward-backward check passes, i.e. not occluded."""
    ref = _metric_frames(reference)
    T, H, W, _ = ref.shape
    grid = _grid(H, W, torch.device("cpu"))
    flow = _Flow((H, W), 1.0, torch.device("cpu"))
    flows, prev = [], _flow_gray(ref[0], 1.0)
    for t in range(1, T):
        cur = _flow_gray(ref[t], 1.0)
        back, fwd = flow(cur, prev), flow(prev, cur)
        flows.append((back, _fb_confidence(back, fwd, grid) > fb_threshold))
        prev = cur
    return flows


def temporal_warp_error(frames, reference=None, *, flows=None) -> float:
    """Mean absolute difference (0..1 scale) between each frame and the previous frame warped onto it,
    over non-occluded pixels. Flow comes from `reference` (default: `frames`) or precomputed `flows`
    from reference_flows(); use the clean clip as reference to compare before/after fairly."""
    x = _metric_frames(frames)
    if flows is None:
        flows = reference_flows(x if reference is None else reference)
    if len(flows) != x.shape[0] - 1:
        raise InputError(f"Got {len(flows)} flows for {x.shape[0]} frames; they must come from a clip of the same length.")
    grid = _grid(x.shape[1], x.shape[2], torch.device("cpu"))
    errs = []
    for t, (back, valid) in enumerate(flows, start=1):
        cur = x[t].permute(2, 0, 1)[None]
        warped = _warp(x[t - 1].permute(2, 0, 1)[None], back, grid)
        m = valid.float()
        errs.append(float(((warped - cur).abs() * m).sum() / (3.0 * m.sum()).clamp_min(1.0)))
    return float(np.mean(errs)) if errs else 0.0


def psnr(a, b) -> float:
    """PSNR in dB over whole clips/images; float inputs are 0..1, uint8 inputs 0..255."""
    x, y = _metric_frames_any(a), _metric_frames_any(b)
    if x.shape != y.shape:
        raise InputError(f"psnr needs equal shapes, got {list(x.shape)} and {list(y.shape)}.")
    mse = float((x.double() - y.double()).pow(2).mean())
    return float("inf") if mse == 0 else 10.0 * float(np.log10(1.0 / mse))

