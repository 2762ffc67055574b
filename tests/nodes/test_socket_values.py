"""The values on the pack's own sockets print as a one-line summary (ComfyUI's log, a "show anything" node, an
error's context), not as the tensors they hold: a reference photo would print megabytes of numbers."""
import importlib

import torch


def test_reference_and_poses_print_their_shapes_not_their_pixels(pack):
    sockets = importlib.import_module(pack.__name__ + ".sockets")
    frames = importlib.import_module(sockets.__name__.rsplit(".", 2)[0] + ".disco_core.pose.frames")
    reference = sockets.DiscoReference(image=torch.rand(1, 3, 80, 60), mask=torch.ones(1, 1, 80, 48))
    assert repr(reference) == "DiscoReference(image=(1, 3, 80, 60), mask=(1, 1, 80, 48))"
    poses = sockets.DiscoPoses(frames=frames.TensorFrames(torch.rand(5, 3, 48, 40)), fps=12.5)
    assert repr(poses) == "DiscoPoses(frames=5, canvas=40x48, fps=12.5)"
