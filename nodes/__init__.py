"""ComfyUI node surface (classic V1 API). Each node file loads on its own, so one broken optional dependency
costs one node, not the pack; the failures are logged with what to install."""
from __future__ import annotations

import importlib
import logging

from . import comfy_glue

log = logging.getLogger("DisCo")

NODE_MODULES = ("model_loader", "disentangle", "pose_sequence", "sampler", "temporal_smooth", "finetune", "cluster")

comfy_glue.clear_frames_folder()  # no outputs exist yet: frame files in the folder are an earlier run's

NODE_CLASS_MAPPINGS: dict = {}
NODE_DISPLAY_NAME_MAPPINGS: dict = {}
IMPORT_ERRORS: dict[str, str] = {}

comfy_glue.short_error_names()  # the error dialog says `InputError`, not the pack folder's module path

for _name in NODE_MODULES:
    try:
        _module = importlib.import_module(f".{_name}", package=__package__)
    except Exception as e:  # noqa: BLE001 - keep ComfyUI starting; say what failed
        IMPORT_ERRORS[_name] = f"{type(e).__name__}: {e}"
        log.warning("DisCo: node module '%s' failed to load (%s). Install the pack's requirements "
                    "(pip install -r requirements.txt in its folder) and restart ComfyUI.", _name, e)
        continue
    NODE_CLASS_MAPPINGS.update(_module.NODE_CLASS_MAPPINGS)
    NODE_DISPLAY_NAME_MAPPINGS.update(_module.NODE_DISPLAY_NAME_MAPPINGS)

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "IMPORT_ERRORS"]
