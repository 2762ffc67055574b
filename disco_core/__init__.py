"""DisCo (CVPR 2024) human dance generation: the model, its checkpoints and a sampler. No ComfyUI imports."""
from .checkpoint import convert_checkpoint, load_model
from .config import DiscoConfig
from .errors import Cancelled, CheckpointError, DependencyError, DiscoError, InputError
from .model import DiscoModel, build_model
from .pipeline import animate
from .sampling import SCHEDULERS, StepInfo

__all__ = ["animate", "load_model", "convert_checkpoint", "build_model", "DiscoModel", "DiscoConfig",
           "SCHEDULERS", "StepInfo", "DiscoError", "CheckpointError", "InputError", "DependencyError",
           "Cancelled"]
