"""Robustness: sanitising, gap filling, people leaving the frame, smoothing, fps resampling."""
import numpy as np
import pytest

from disco_core.errors import InputError
from disco_core.pose import PoseSequence, render_pose_sequence
from disco_core.pose.filtering import fill_missing, resample_fps, resample_indices, sanitize, smooth_poses


def _walk(t_n=10, canvas=(200, 300)):
    """A stick figure moving right 5 px per frame."""
    base = np.array([[100, 40], [100, 60], [85, 60], [80, 90], [78, 120], [115, 60], [120, 90], [122, 120],
                     [92, 130], [90, 180], [90, 230], [108, 130], [110, 180], [110, 230], [96, 36], [104, 36],
                     [92, 38], [108, 38]], np.float32)
    kp = np.zeros((t_n, 18, 3), np.float32)
    kp[..., :2] = base + np.arange(t_n)[:, None, None] * np.array([5.0, 0.0])
    kp[..., 2] = 0.9
    return PoseSequence(kp, canvas, fps=30.0)


def test_sanitize_drops_nan_inf_and_off_canvas_without_crashing():
    seq = _walk(3)
    kp = seq.keypoints.copy()
    kp[0, 3] = (np.inf, 5, 1)
    kp[1, 4] = (-20, 5, 1)
    kp[2, 5] = (50, 1e9, 1)
    kp[2, 6, 2] = 7.0  # silly confidence
    out = sanitize(PoseSequence(kp, seq.canvas))
    assert out.keypoints[0, 3, 2] == 0 and out.keypoints[1, 4, 2] == 0 and out.keypoints[2, 5, 2] == 0
    assert np.isnan(out.keypoints[0, 3, 0]) and out.keypoints[2, 6, 2] == 1.0
    assert len(out) == 3
    render_pose_sequence(out)  # renders without error


def test_interior_gaps_are_interpolated_edges_left_alone():
    seq = _walk(10)
    kp = seq.keypoints.copy()
    kp[3:6, 4] = (np.nan, np.nan, 0)   # wrist lost for 3 frames
    kp[0:2, 7] = (np.nan, np.nan, 0)   # other wrist missing at the start
    out = fill_missing(PoseSequence(kp, seq.canvas))
    assert np.allclose(out.keypoints[3:6, 4, :2], seq.keypoints[3:6, 4, :2], atol=1e-4)  # linear motion
    assert (out.keypoints[3:6, 4, 2] > 0).all()
    assert (out.keypoints[0:2, 7, 2] == 0).all()
    short = fill_missing(PoseSequence(kp, seq.canvas), max_gap=2)
    assert (short.keypoints[3:6, 4, 2] == 0).all()


def test_person_leaves_the_frame_hold_or_empty():
    seq = _walk(10)
    kp = seq.keypoints.copy()
    kp[6:] = (np.nan, np.nan, 0)   # walks out after frame 5
    kp[:2] = (np.nan, np.nan, 0)   # and only appears at frame 2
    clip = PoseSequence(kp, seq.canvas)
    held = fill_missing(clip, empty_policy="hold")
    assert len(held) == 10 and not held.empty_frames.any()
    assert np.array_equal(held.keypoints[7], held.keypoints[5], equal_nan=True)
    assert np.array_equal(held.keypoints[0], held.keypoints[2], equal_nan=True)
    empty = fill_missing(clip, empty_policy="empty")
    assert len(empty) == 10 and empty.empty_frames.tolist() == [True] * 2 + [False] * 4 + [True] * 4
    assert render_pose_sequence(empty)[8].max() == 0
    with pytest.raises(InputError):
        fill_missing(clip, empty_policy="bogus")


def test_smoothing_removes_jitter_but_follows_motion():
    rng = np.random.default_rng(0)
    seq = _walk(60, canvas=(800, 300))
    clean = seq.keypoints.copy()
    noisy = clean.copy()
    noisy[..., :2] += rng.normal(0, 3.0, size=noisy[..., :2].shape)
    noisy_seq = PoseSequence(noisy, seq.canvas, fps=30.0)
    assert np.array_equal(smooth_poses(noisy_seq, 0).keypoints, noisy_seq.keypoints)
    out = smooth_poses(noisy_seq, 0.8)
    err_before = np.abs(noisy[..., :2] - clean[..., :2]).mean()
    err_after = np.abs(out.keypoints[..., :2] - clean[..., :2]).mean()
    assert err_after < 0.5 * err_before
    # no lag: the smoothed walk stays centred on the true path (mean signed error near zero)
    assert abs(float((out.keypoints[10:50, :, 0] - clean[10:50, :, 0]).mean())) < 0.5
    assert len(out) == 60


def test_smoothing_keeps_missing_joints_missing():
    seq = _walk(12)
    kp = seq.keypoints.copy()
    kp[4:7, 2] = (np.nan, np.nan, 0)
    out = smooth_poses(PoseSequence(kp, seq.canvas, fps=30), 1.0)
    assert (out.keypoints[4:7, 2, 2] == 0).all() and np.isfinite(out.keypoints[7:, 2, :2]).all()


def test_resample_keeps_duration_and_returns_indices():
    seq = _walk(30)  # 1 s at 30 fps
    down, idx = resample_fps(seq, 30, 12)
    assert len(down) == 12 and down.fps == 12 and idx[0] == 0 and np.all(np.diff(idx) > 0)
    assert np.array_equal(down.keypoints, seq.keypoints[idx])
    up, idx_up = resample_fps(seq, 30, 60)
    assert len(up) == 60 and np.array_equal(idx_up[::2], np.arange(30))
    assert resample_indices(25, 25, 8).tolist() == [0, 3, 6, 9, 12, 15, 18, 21]
    assert len(resample_indices(100, 29.97, 8)) == round(100 * 8 / 29.97)
    with pytest.raises(InputError):
        resample_fps(seq, 0, 8)
