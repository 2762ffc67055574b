"""DisCo (CVPR 2024) human dance generation: the model, its checkpoints and a sampler. No ComfyUI imports.

One package per concern: `model` (networks, checkpoints), `sampling` (step loops, the animate pipeline),
`media` (video, sound, pictures), `pose` (poses and person masks), `smoothing`, `training`, `parity`,
`commands` (the CLI), `client` (ComfyUI over HTTP). docs/architecture.md shows how they fit together.

Names are imported on first use, so the pose and mask tools start without loading diffusers.
"""
import importlib

from .errors import Cancelled, CheckpointError, DependencyError, DiscoError, InputError

_LAZY = {
    "animate": ".sampling.animate", "load_model": ".model.checkpoint", "convert_checkpoint": ".model.checkpoint",
    "build_model": ".model.build", "DiscoModel": ".model.networks", "DiscoConfig": ".model.config",
    "SCHEDULERS": ".sampling.steps", "StepInfo": ".sampling.steps",
}
__all__ = sorted(_LAZY) + ["DiscoError", "CheckpointError", "InputError", "DependencyError", "Cancelled"]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
