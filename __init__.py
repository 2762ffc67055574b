"""DisCo for ComfyUI. ComfyUI imports this file; plain Python (tests, the CLI) never needs the node surface."""
import importlib.util

WEB_DIRECTORY = "./web"

if importlib.util.find_spec("comfy") is not None:  # inside ComfyUI (or a test that put it on sys.path)
    from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

    __all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
