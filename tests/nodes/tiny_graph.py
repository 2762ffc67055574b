"""The inputs of a DisCo Sampler call made by the pack's own nodes (loader, disentangle, pose JSON), with the tiny
model: for node tests that look at what the sampler does with them (memory, files, previews)."""
from __future__ import annotations

import importlib
import os

from tests.synthetic_inputs import dance_json, person_photo

POSE = dict(detector="builtin", fps=12.0, target_fps=0.0, max_frames=0, smoothing=0.0, retarget=False)


def tiny_graph(pack, models_dir, frames: int):
    """-> (node instances by class name, model, reference, poses of `frames` frames, the comfy_glue module)."""
    nodes = {k: v() for k, v in pack.NODE_CLASS_MAPPINGS.items()}
    os.environ["DISCO_MODELS_DIR"] = str(models_dir)
    try:
        model = nodes["DisCoModelLoader"].load("tiny.safetensors", "fp32", "auto")[0]
    finally:
        del os.environ["DISCO_MODELS_DIR"]
    reference = nodes["DisCoDisentangleImage"].disentangle(*person_photo())[0]
    poses = nodes["DisCoPoseSequence"].build(**POSE, pose_json=dance_json(frames, (160, 240)), canvas_width=160,
                                             canvas_height=240)[0]
    glue = importlib.import_module(pack.__name__ + ".comfy_glue")
    return nodes, model, reference, poses, glue
