"""`WindowPoses`: the pose frames a window needs, fitted in runs of consecutive frames, kept up to a byte budget.

Written for the mutmut survivors of disco_core/sampling/window_poses.py (issue 16): the runs, the budget
accounting across calls, the count of fitted frames, the dtype and device of the result, the fit mode passed
to pose frames that render themselves, and the message for poses that are not images.
"""
import pytest
import torch

from disco_core import InputError
from disco_core.sampling.window_poses import WindowPoses
from disco_core.sampling.windows import plan_windows

H = W = 8
FRAME_BYTES = 3 * H * W * 4  # one fitted float32 frame


class Rendered:
    """Pose frames that render at the model's size; frame i is filled with the value i."""

    def __init__(self, n):
        self.n, self.calls = n, []

    def __len__(self):
        return self.n

    def model_input(self, start, stop, height, width, fit):
        self.calls.append((start, stop, height, width, fit))
        return torch.arange(start, stop, dtype=torch.float32)[:, None, None, None].expand(-1, 3, height, width)


def _poses(n=10, budget=2**20, fit="pad", dtype=torch.float32, device="cpu"):
    source = Rendered(n)
    return source, WindowPoses(source, plan_windows(n, 4, 1), H, W, fit, device, dtype, budget)


def test_consecutive_frames_are_fitted_in_one_call_each_run():
    source, poses = _poses()
    out = poses([6, 0, 1, 2, 5, 8])
    assert source.calls == [(0, 3, H, W, "pad"), (5, 7, H, W, "pad"), (8, 9, H, W, "pad")]
    assert [v for v in out[:, 0, 0, 0].tolist()] == [6, 0, 1, 2, 5, 8]  # in the order asked for
    assert poses.reads == 6
    poses([0, 1, 9])  # 0 and 1 are cached: only 9 is fitted
    assert source.calls[-1] == (9, 10, H, W, "pad") and poses.reads == 7


def test_the_cache_never_holds_more_than_its_budget_across_calls():
    source, poses = _poses(budget=3 * FRAME_BYTES)
    poses([0, 1])
    assert sorted(poses.cache) == [0, 1] and poses.used == 2 * FRAME_BYTES
    poses([5])
    assert sorted(poses.cache) == [0, 1, 5] and poses.used == 3 * FRAME_BYTES
    out = poses([7, 8])            # over the budget: fitted, returned, not kept
    assert sorted(poses.cache) == [0, 1, 5] and poses.used == 3 * FRAME_BYTES
    assert out[:, 0, 0, 0].tolist() == [7, 8]
    poses([7, 8])
    assert source.calls[-1][:2] == (7, 9) and poses.reads == 2 + 1 + 2 + 2  # fitted again each time


def test_frames_past_the_video_are_its_mirrored_frames():
    source, poses = _poses(n=3)    # plan of 3 frames in a window of 4: frame 3 is frame 1 again
    assert poses([0, 1, 2, 3])[:, 0, 0, 0].tolist() == [0, 1, 2, 1]
    assert source.calls == [(0, 3, H, W, "pad")]


def test_poses_come_in_the_model_dtype_on_its_device():
    _, poses = _poses(dtype=torch.float16, device="meta")
    out = poses([0, 1])
    assert out.dtype == torch.float16 and out.device.type == "meta" and out.shape == (2, 3, H, W)


def test_pose_tensors_are_fitted_to_the_model_size_in_the_model_dtype():
    frames = torch.rand(5, 3, 16, 16)
    poses = WindowPoses(frames, plan_windows(5, 4, 1), H, W, "crop", "cpu", torch.float16)
    out = poses([0, 4])
    assert out.dtype == torch.float16 and out.shape == (2, 3, H, W) and poses.reads == 2


def test_pose_tensors_that_are_not_rgb_images_are_refused_by_name():
    poses = WindowPoses(torch.rand(5, 4, 16, 16), plan_windows(5, 4, 1), H, W, "crop", "cpu", torch.float32)
    with pytest.raises(InputError, match=r"^poses must be a float tensor \[batch, 3, height, width\]"):
        poses([0])
