"""Load DisCo Model: a checkpoint from models/disco -> DISCO_MODEL (weights handed to ComfyUI's memory manager)."""
from __future__ import annotations

import os

import torch

from ..disco_core import load_model
from ..disco_core.cluster.source import ModelSource
from ..disco_core.training.personal import apply_personal, remember_base
from . import comfy_glue as glue
from .sockets import DISCO_MODEL

CFG_VARIANTS = {"auto": None, "blank-image": "blank", "zeros": "zeros"}
NO_PERSONALISATION = "none"
DTYPE_NAMES = {"fp16": "fp16", "bf16": "bf16", "fp32": "fp32"}  # auto: each worker picks for its device


class DisCoModelLoader:
    CATEGORY = "DisCo"
    DESCRIPTION = (
        "Loads a DisCo checkpoint from the 'models/disco' folder (or a 'disco:' path in extra_model_paths.yaml): "
        "a .safetensors file made by `python -m disco_core convert`, or an official DisCo .pt file, of the image "
        "model or the temporal model (DisCo with temporal module; picked from the file). The weights "
        "rest on the CPU and ComfyUI moves them to the GPU when the sampler runs, offloading other models. "
        "The official DisCo weights are released for research use; check their licence before other uses."
    )
    RETURN_TYPES = (DISCO_MODEL,)
    RETURN_NAMES = ("model",)
    OUTPUT_TOOLTIPS = ("The DisCo model, for the DisCo Sampler.",)
    FUNCTION = "load"

    @classmethod
    def INPUT_TYPES(cls):
        glue.register_model_folder()
        return {"required": {
            "checkpoint": (glue.list_checkpoints(), {
                "tooltip": "Checkpoint file in ComfyUI/models/disco (.safetensors from `python -m disco_core "  # pragma: no mutate
                           "convert`, or an official mp_rank_00_model_states.pt); image or temporal model."}),  # pragma: no mutate
            "dtype": (["auto", "fp16", "bf16", "fp32"], {
                "default": "auto",
                "tooltip": "Weight and compute precision. auto: what ComfyUI picks for this device (fp32 on CPU, "  # pragma: no mutate
                           "fp16/bf16 on GPUs). fp16 or bf16 take about 4.5 GB of weights instead of 7.9 GB (CLIP stays fp32)."}),  # pragma: no mutate
            "cfg_variant": (list(CFG_VARIANTS), {
                "default": "auto",
                "tooltip": "How the unconditional branch of classifier-free guidance is built. blank-image: "  # pragma: no mutate
                           "CLIP of a blank image (checkpoints trained with CFG, e.g. *_cfg); zeros: zero "  # pragma: no mutate
                           "embeddings (the *_nocfg checkpoints); auto: read from the checkpoint."}),  # pragma: no mutate
        }, "optional": {
            "personalisation": ([NO_PERSONALISATION] + glue.list_personalisations(), {
                "default": NO_PERSONALISATION,
                "tooltip": "A person-specific fine-tune from models/disco/personal (made by DisCo Fine-Tune or "  # pragma: no mutate
                           "`python -m disco_core finetune`). It only loads on the checkpoint it was trained on."}),  # pragma: no mutate
        }}

    @classmethod
    def VALIDATE_INPUTS(cls, checkpoint):
        glue.register_model_folder()
        # None: linked from another node's output, known only when the graph runs (load says if it is missing)
        if checkpoint is None or checkpoint in glue.list_checkpoints():
            return True
        return glue.missing_checkpoint_message(checkpoint)

    @classmethod
    def IS_CHANGED(cls, checkpoint, personalisation=NO_PERSONALISATION, **_):
        try:
            stamp = os.path.getmtime(glue.checkpoint_path(checkpoint))
            if personalisation and personalisation != NO_PERSONALISATION:
                stamp = (stamp, os.path.getmtime(glue.personal_path(personalisation)))
            return stamp
        except Exception:  # the error itself is reported when the node runs
            return ""

    def load(self, checkpoint, dtype="auto", cfg_variant="auto", personalisation=NO_PERSONALISATION):
        path = glue.checkpoint_path(checkpoint)
        with torch.inference_mode(False):  # normal tensors: DisCo Fine-Tune can train on them without a copy
            model = load_model(path, device=glue.offload_device(), dtype=glue.resolve_dtype(dtype),
                               uncond=CFG_VARIANTS[cfg_variant])
        remember_base(model, path, checkpoint)
        personal = None
        if personalisation and personalisation != NO_PERSONALISATION:
            personal = glue.personal_path(personalisation)
            apply_personal(model, personal)
            checkpoint = f"{checkpoint} + {personalisation}"
        # what DisCo Cluster's workers load: the same files, by path
        model.disco_source = ModelSource(str(path), personal=None if personal is None else str(personal),
                                         uncond=CFG_VARIANTS[cfg_variant], dtype=DTYPE_NAMES.get(dtype, "auto"))
        return (glue.ManagedModel(model, name=checkpoint),)


NODE_CLASS_MAPPINGS = {"DisCoModelLoader": DisCoModelLoader}
NODE_DISPLAY_NAME_MAPPINGS = {"DisCoModelLoader": "Load DisCo Model"}
