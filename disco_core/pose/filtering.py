"""Pose clean-up over time. Every function keeps the frame count (except `resample_fps`, on purpose) and
returns a new PoseSequence; missing joints stay NaN/0 unless a function's job is to fill them."""
from __future__ import annotations

import math

import numpy as np

from ..errors import InputError
from .keypoints import PoseSequence


def sanitize(seq: PoseSequence, margin: float = 0.0) -> PoseSequence:
    """Drop joints that cannot be drawn honestly: non-finite values, confidence ≤ 0, and positions
    outside the canvas by more than `margin` × canvas size (detectors extrapolate off-frame joints,
    and huge values would overflow drawing). Confidences are clipped to [0, 1]."""
    out = seq.copy()
    w, h = seq.canvas
    for name in ("keypoints", "hands", "face"):
        kp = getattr(out, name)
        if kp is None:
            continue
        x, y = kp[..., 0], kp[..., 1]
        with np.errstate(invalid="ignore"):
            inside = (x >= -margin * w) & (x < (1 + margin) * w) & (y >= -margin * h) & (y < (1 + margin) * h)
        bad = ~np.isfinite(kp).all(-1) | ~(kp[..., 2] > 0) | ~inside
        kp[bad] = (np.nan, np.nan, 0.0)
        kp[..., 2] = np.clip(kp[..., 2], 0.0, 1.0)
        kp[bad, 2] = 0.0
    return out


def _runs(mask: np.ndarray):
    """(start, end_exclusive) of each run of True in a 1-D bool array."""
    padded = np.concatenate([[False], mask, [False]])
    d = np.diff(padded.astype(np.int8))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def fill_missing(seq: PoseSequence, empty_policy: str = "hold", max_gap: int = 12) -> PoseSequence:
    """Fill gaps over time.

    - A joint missing for up to `max_gap` frames between two frames that have it (and a person in
      every frame of the gap) is interpolated linearly; its confidence is the lower of the two ends.
      Joints missing at the start or end of the clip are left missing (they may really be out of view).
    - Frames with no person: `"hold"` repeats the last pose (the first pose for leading frames);
      `"empty"` keeps them empty, which DisCo renders as a black skeleton image.
    """
    if empty_policy not in ("hold", "empty"):
        raise InputError(f"empty_policy must be 'hold' or 'empty', got {empty_policy!r}")
    out = seq.copy()
    kp = out.keypoints
    empty = seq.empty_frames
    for j in range(kp.shape[1]):
        missing = ~(kp[:, j, 2] > 0)
        for a, b in _runs(missing):
            if a == 0 or b == len(kp) or b - a > max_gap or empty[a:b].any():
                continue
            w = (np.arange(a, b) - (a - 1)) / (b - (a - 1))
            kp[a:b, j, :2] = (1 - w)[:, None] * kp[a - 1, j, :2] + w[:, None] * kp[b, j, :2]
            kp[a:b, j, 2] = min(kp[a - 1, j, 2], kp[b, j, 2])
    if empty_policy == "hold" and empty.any() and not empty.all():
        src = np.arange(len(kp))
        src[empty] = -1
        src = np.maximum.accumulate(src)           # last frame with a person
        first = int(np.flatnonzero(~empty)[0])
        src[src < 0] = first                       # leading empty frames take the first pose
        for name in ("keypoints", "hands", "face"):
            arr = getattr(out, name)
            if arr is not None:
                setattr(out, name, arr[src].copy())
    return out


def _one_euro(x: np.ndarray, valid: np.ndarray, dt: float, min_cutoff: float, beta: float,
              d_cutoff: float = 1.0) -> np.ndarray:
    """One-Euro filter (Casiez et al., CHI 2012) along axis 0 of x [T,N]; restarts after invalid samples."""
    def alpha(cutoff):
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    out = x.copy()
    prev = np.full(x.shape[1:], np.nan)
    dprev = np.zeros(x.shape[1:])
    for t in range(len(x)):
        v = valid[t]
        fresh = v & np.isnan(prev)
        prev[fresh], dprev[fresh] = x[t][fresh], 0.0
        cont = v & ~fresh
        dx = (x[t] - prev) / dt
        dhat = dprev + alpha(d_cutoff) * (dx - dprev)
        cutoff = min_cutoff + beta * np.abs(dhat)
        a = 1.0 / (1.0 + 1.0 / (2 * math.pi * cutoff * dt))
        new = prev + a * (x[t] - prev)
        out[t][cont] = new[cont]
        prev[cont], dprev[cont] = new[cont], dhat[cont]
        prev[~v] = np.nan
        out[t][~v] = x[t][~v]
    return out


def smooth_poses(seq: PoseSequence, strength: float = 0.5, fps: float | None = None) -> PoseSequence:
    """Remove jitter with a One-Euro filter run forwards and backwards (averaged, so no lag offline).

    strength 0 returns the poses unchanged; 1 smooths the most. Fast moves are followed closely (the
    filter's cutoff rises with speed); missing joints stay missing and restart the filter.
    """
    strength = float(strength)
    if not math.isfinite(strength) or strength < 0:
        raise InputError(f"smoothing strength must be ≥ 0, got {strength}")
    out = seq.copy()
    if strength == 0 or len(seq) < 3:
        return out
    strength = min(strength, 1.0)
    dt = 1.0 / float(fps or seq.fps or 30.0)
    min_cutoff = 0.4 / strength ** 2      # Hz: 0.4 at strength 1, 1.6 at 0.5, 40 at 0.1
    beta = 4.0 * (1.0 - 0.7 * strength)    # per (canvas heights / s): how fast the cutoff opens with speed
    scale = float(seq.canvas[1])           # speed in canvas heights, so settings do not depend on resolution
    kp = out.keypoints
    t_n = len(kp)
    valid = np.repeat(kp[:, :, 2:3] > 0, 2, axis=2).reshape(t_n, -1)
    x = np.nan_to_num(kp[:, :, :2].reshape(t_n, -1).astype(np.float64) / scale)
    fwd = _one_euro(x, valid, dt, min_cutoff, beta)
    bwd = _one_euro(x[::-1], valid[::-1], dt, min_cutoff, beta)[::-1]
    sm = ((fwd + bwd) / 2 * scale).reshape(t_n, -1, 2)
    present = kp[:, :, 2] > 0
    kp[present, :2] = sm[present]
    return out


def resample_indices(n_frames: int, src_fps: float, dst_fps: float) -> np.ndarray:
    """Source frame shown at each output frame time: the clip's duration is kept (n_out = round(n·dst/src)),
    so an audio track of the source's length still fits; frames are dropped or repeated, never blended."""
    if not (src_fps > 0 and dst_fps > 0 and math.isfinite(src_fps) and math.isfinite(dst_fps)):
        raise InputError(f"fps must be positive numbers, got source {src_fps} and target {dst_fps}")
    if n_frames <= 0:
        raise InputError("no frames to resample")
    n_out = max(1, int(round(n_frames * dst_fps / src_fps)))
    t = np.arange(n_out) / dst_fps                       # output timestamps (s)
    idx = np.floor(t * src_fps + 1e-6).astype(np.int64)  # the source frame on screen at that time
    return np.minimum(idx, n_frames - 1)


def resample_fps(seq: PoseSequence, src_fps: float | None, dst_fps: float) -> tuple[PoseSequence, np.ndarray]:
    """Poses at `dst_fps` by timestamp; returns (poses, source frame index per output frame)."""
    src = seq.fps if src_fps is None else src_fps
    if src is None:
        raise InputError("the source fps is unknown: give src_fps (the driving video's frame rate)")
    idx = resample_indices(len(seq), float(src), float(dst_fps))
    out = seq[idx]
    out.fps = float(dst_fps)
    return out, idx
