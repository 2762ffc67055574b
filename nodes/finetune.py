"""DisCo Fine-Tune: teach the model one person from frames of them (the official human-specific fine-tuning)."""
from __future__ import annotations

import torch

from ..disco_core.errors import InputError
from ..disco_core.training.data import prepare_person, spaced_indices
from ..disco_core.training.personal import base_identity, save_personal
from ..disco_core.training.plot import loss_curve_image
from ..disco_core.training.trainable import TRAINABLE_SETS
from ..disco_core.training.trainer import FineTuner, FineTuneSettings
from . import comfy_glue as glue
from .sockets import DISCO_MODEL, DISCO_POSES

SEED_MAX = 0xFFFFFFFFFFFFFFFF
SHORT_SIDE = 384  # frames are downsized to this before training (crops are resized to 256 anyway)
# Room asked of ComfyUI's memory manager per training sample (256x256, gradient checkpointing) on top of the
# weights. An estimate, not yet measured at full size (bench/RESULTS.md, "Fine-tuning"); it only decides how
# much ComfyUI offloads first.
BYTES_PER_SAMPLE = 600 * 2**20


class DisCoFineTune:
    CATEGORY = "DisCo"
    DESCRIPTION = (
        "Human-specific fine-tuning (DisCo's official recipe): a few hundred steps on frames of one person "
        "sharpen their face, clothes and identity. Give a short clip or several photos of the person; masks "
        "and poses are detected unless you connect them. Returns the personalised model (for the DisCo "
        "Sampler) and a loss curve, and saves the personalisation (only what changed, tied to this checkpoint) "
        "to models/disco/personal/<save_name>.safetensors for Load DisCo Model. Cancel stops between steps and "
        "keeps a state file, so the same settings resume where they stopped."
    )
    RETURN_TYPES = (DISCO_MODEL, "IMAGE")
    RETURN_NAMES = ("model", "loss_curve")
    OUTPUT_TOOLTIPS = ("The model with the personalisation applied (the input model is left unchanged).",
                       "Training loss against step (grey: per step, blue: moving average).")
    FUNCTION = "fine_tune"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "model": (DISCO_MODEL, {
                    "tooltip": "From Load DisCo Model (a fine-tuned DisCo checkpoint)."}),  # pragma: no mutate
                "frames": ("IMAGE", {
                    "tooltip": "Frames of the person [N,H,W,3]: a short clip (e.g. Get Video "  # pragma: no mutate
                               "Components) or a batch of photos. One person, whole body."}),  # pragma: no mutate
                "steps": ("INT", {"default": 500, "min": 1, "max": 100000,
                                  "tooltip": "Training steps (count). The official recipe uses 500."}),  # pragma: no mutate
                "lr": ("FLOAT", {"default": 1e-3, "min": 1e-7, "max": 0.1, "step": 1e-5, "round": 1e-7,
                                 "tooltip": "Peak learning rate (unitless; AdamW, after a linear warm-up over 10 % of the "  # pragma: no mutate
                                            "steps, then linear decay). Official: 1e-3."}),  # pragma: no mutate
                "trainable": (list(TRAINABLE_SETS), {
                    "default": "official",
                    "tooltip": "What trains. official: UNet cross-attention + background ControlNet + CLIP "  # pragma: no mutate
                               "projection (309 M values, file ~1.2 GB); crossattn-kv: the same with only the "  # pragma: no mutate
                               "cross-attention keys/values; lora: small adapters on the UNet attention (a few "  # pragma: no mutate
                               "MB, lighter on memory)."}),  # pragma: no mutate
                "batch_size": ("INT", {"default": 8, "min": 1, "max": 64,
                                       "tooltip": "Samples per step (count). Official: 8. Lower it if the GPU "  # pragma: no mutate
                                                  "runs out of memory."}),  # pragma: no mutate
                "seed": ("INT", {"default": 0, "min": 0, "max": SEED_MAX, "control_after_generate": False,
                                 "tooltip": "Seed of the sample choice, augmentation and noise (integer)."}),  # pragma: no mutate
                "save_name": ("STRING", {"default": "my_person",
                                         "tooltip": "File name in models/disco/personal (no extension). Empty: "  # pragma: no mutate
                                                    "do not save."}),  # pragma: no mutate
            },
            "optional": {
                "mask": ("MASK", {
                    "tooltip": "Person masks, one per frame (or one for all). Empty: detected."}),  # pragma: no mutate
                "poses": (DISCO_POSES, {
                    "tooltip": "Poses of these frames, one per frame (Pose Sequence on the "  # pragma: no mutate
                               "same frames). Empty: detected."}),  # pragma: no mutate
                "lora_rank": ("INT", {"default": 4, "min": 1, "max": 128,
                                      "tooltip": "LoRA rank (count; only for trainable = lora)."}),  # pragma: no mutate
                "max_frames": ("INT", {"default": 64, "min": 1, "max": 10000,
                                       "tooltip": "Use at most this many frames, evenly spaced (count)."}),  # pragma: no mutate
                "size": ("INT", {"default": 256, "min": 64, "max": 1024, "step": 8,
                                 "tooltip": "Training resolution in pixels (square, multiple of 8). DisCo "  # pragma: no mutate
                                            "trains at 256."}),  # pragma: no mutate
                "precision": (["auto", "fp32", "bf16", "fp16"], {
                    "default": "auto",
                    "tooltip": "Compute precision (trained weights stay fp32). auto: the model's dtype."}),  # pragma: no mutate
            },
            "hidden": {"unique_id": "UNIQUE_ID"},
        }

    def fine_tune(self, model, frames, steps, lr, trainable, batch_size, seed, save_name, mask=None, poses=None,
                  lora_rank=4, max_frames=64, size=256, precision="auto", unique_id=None):
        target = glue.personal_path(save_name.strip(), must_exist=False) if save_name.strip() else None
        images = glue.image_to_bchw(frames, "frames")
        masks = None if mask is None else glue.mask_to_b1hw(mask, *images.shape[-2:], name="mask")
        rendered = None
        if poses is not None:
            images, masks, rendered = _training_poses(poses, images, masks, max_frames)
        person = prepare_person(images, masks, rendered, max_frames=max_frames, short_side=SHORT_SIDE)
        settings = FineTuneSettings(steps=steps, lr=lr, trainable=trainable, rank=lora_rank,
                                    batch_size=batch_size, seed=seed, height=size, width=size, precision=precision)
        base_name, base_sha = base_identity(model.model) if target else (None, None)
        with torch.inference_mode(False):  # weights moved now are normal tensors, usable by autograd
            device = model.ready(memory_required=BYTES_PER_SAMPLE * batch_size * (size / 256) ** 2)
        tuner = FineTuner(model.model, person, settings, device=device)
        state = None if target is None else target.replace(".safetensors", ".state.safetensors")
        if state is not None:
            _resume_if_possible(tuner, state)
        result = tuner.run(on_step=glue.training_progress(steps, unique_id),
                           should_cancel=glue.raise_if_interrupted, state_path=state)
        if target is not None:
            save_personal(result, target, base_name, base_sha)
            _remove(state)
        curve = torch.from_numpy(loss_curve_image(result.losses, steps))[None]
        name = f"{model.name} + {save_name or 'fine-tune'}"
        return (glue.ManagedModel(result.model, name=name), glue.to_image(curve))


def _training_poses(poses, images, masks, max_frames):
    """Only the frames training keeps, with their skeletons drawn at the frames' size (DISCO_POSES draws on
    demand: a long clip's skeletons never all exist at once)."""
    pose_frames = getattr(poses, "frames", None)
    if pose_frames is None:
        raise InputError("the poses input carries no pose frames; connect Pose Sequence's poses output")
    count = images.shape[0]
    if len(pose_frames) != count:
        raise InputError(f"got {len(pose_frames)} poses for {count} frames; give one pose per frame")
    keep = spaced_indices(count, max_frames)
    h, w = images.shape[-2:]
    rendered = torch.cat([pose_frames.model_input(t, t + 1, h, w, "pad") for t in keep])
    masks = masks[keep] if masks is not None and masks.shape[0] > 1 else masks
    return images[keep], masks, rendered


def _resume_if_possible(tuner: FineTuner, state: str) -> None:
    import os
    if not os.path.isfile(state):
        return
    try:
        tuner.resume(state)
    except Exception as e:  # noqa: BLE001 - a stale or foreign state file: start over, say why
        glue.log.warning("DisCo Fine-Tune: not resuming from %s (%s); starting over", state, e)


def _remove(path: str | None) -> None:
    import os
    if path and os.path.isfile(path):
        os.remove(path)


NODE_CLASS_MAPPINGS = {"DisCoFineTune": DisCoFineTune}
NODE_DISPLAY_NAME_MAPPINGS = {"DisCoFineTune": "DisCo Fine-Tune"}
