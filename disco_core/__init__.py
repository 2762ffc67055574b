"""DisCo (CVPR 2024) human dance generation: the model, its checkpoints and a sampler. No ComfyUI imports.

Names are imported on first use, so the pose and mask tools start without loading diffusers.
"""
import importlib

from .errors import Cancelled, CheckpointError, DependencyError, DiscoError, InputError

_LAZY = {
    "animate": ".pipeline", "load_model": ".checkpoint", "convert_checkpoint": ".checkpoint",
    "build_model": ".model", "DiscoModel": ".model", "DiscoConfig": ".config", "SCHEDULERS": ".sampling",
    "StepInfo": ".sampling",
}
__all__ = sorted(_LAZY) + ["DiscoError", "CheckpointError", "InputError", "DependencyError", "Cancelled"]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
