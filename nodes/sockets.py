"""Values that travel on the pack's own sockets (DISCO_REFERENCE, DISCO_POSES). DISCO_MODEL is glue.ManagedModel.

Plain data, no ComfyUI import. Tensors are in the core's layout: float32 [B,C,H,W] in 0..1 on the CPU.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

DISCO_MODEL = "DISCO_MODEL"
DISCO_REFERENCE = "DISCO_REFERENCE"
DISCO_POSES = "DISCO_POSES"
POSE_KEYPOINT = "POSE_KEYPOINT"  # comfyui_controlnet_aux: list of OpenPose dicts, one per frame


@dataclass
class DiscoReference:
    """The person to animate: the photo [1,3,H,W] and its person mask [1,1,H,W] (1 = person)."""
    image: torch.Tensor
    mask: torch.Tensor

    def __repr__(self) -> str:
        return f"DiscoReference(image={tuple(self.image.shape)}, mask={tuple(self.mask.shape)})"


@dataclass
class DiscoPoses:
    """Driving poses, one per output frame: `frames` makes the skeleton images DisCo was trained on when the
    sampler asks for them (a `disco_core.pose.frames.PoseFrames`: keypoints + canvas size, or uint8 frames for
    already rendered skeletons), `keypoints` the `PoseSequence` they come from (None when the input was already
    rendered) and `fps` the output frame rate."""
    frames: Any
    keypoints: Any = None
    fps: float | None = None

    def __len__(self) -> int:
        return len(self.frames)

    def __repr__(self) -> str:
        w, h = self.frames.size
        return f"DiscoPoses(frames={len(self)}, canvas={w}x{h}, fps={self.fps})"
