"""The temporal DisCo model (official `TemConvNet`): the image model's networks with DisCo's temporal layers.

Same surface as `DiscoModel`; the UNet and both ControlNets take frames folded into the batch
(`clips * frames`, clip-major) and must be called inside `with model.frames(n):` so the temporal layers know
the clip length. The VAE and CLIP are per frame, as in the official code.
"""
from __future__ import annotations

import contextlib

from .config import DiscoConfig
from .networks import DiscoModel
from .temporal_layers import FrameContext, inflate


class TemporalDiscoModel(DiscoModel):
    is_temporal = True

    def __init__(self, cfg: DiscoConfig):
        super().__init__(cfg)
        self.frame_context = FrameContext()
        for network in (self.unet, *self.controlnet.nets):  # the ControlNets have temporal layers too
            inflate(network, self.frame_context)

    @contextlib.contextmanager
    def frames(self, num_frames: int):
        """Run the UNet/ControlNets on clips of `num_frames` consecutive batch entries."""
        previous = self.frame_context.num_frames
        self.frame_context.num_frames = int(num_frames)
        try:
            yield self
        finally:
            self.frame_context.num_frames = previous
