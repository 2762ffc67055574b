"""ComfyUI imports the pack under its folder's path as the module name (e.g. `/x/custom_nodes/comfyui-disco`), and
Ray sends classes by module name, so Ray workers must know that name too: this setup hook (run once in every
worker process, see connection.runtime_env) makes it a package over the pack's folder. Outside ComfyUI the pack
is plain `disco_core` and no hook runs."""
from __future__ import annotations

import importlib.util
import os
import sys
import types
from pathlib import Path

PACK_NAME, PACK_ROOT = "DISCO_PACK_MODULE", "DISCO_PACK_ROOT"


def prefix_of(module_name: str) -> str | None:
    """The name the pack is imported under when it is not plain `disco_core` (None when it is)."""
    prefix = module_name.split(".disco_core", 1)[0] if ".disco_core" in module_name else None
    return prefix or None


def install() -> None:
    name = os.environ.get(PACK_NAME)
    if not name or name in sys.modules:
        return
    root = os.environ.get(PACK_ROOT, "")
    if not Path(root, "disco_core").is_dir():  # another node: the pack where pip installed it
        spec = importlib.util.find_spec("disco_core")
        root = str(Path(spec.origin).parents[1]) if spec and spec.origin else root
    package = types.ModuleType(name)
    package.__path__ = [root]
    sys.modules[name] = package
