"""Disentangle Image: reference photo (+ optional person mask) -> DISCO_REFERENCE, foreground, background, mask."""
from __future__ import annotations

import torch

from ..disco_core.errors import DependencyError, InputError
from . import comfy_glue as glue
from .sockets import DISCO_REFERENCE, DiscoReference


def _segment(image_bchw) -> torch.Tensor:
    """Built-in person mask of a [1,3,H,W] photo -> [1,1,H,W], 1 = person."""
    try:
        from ..disco_core.pose.segment import segment_person
        person = segment_person(glue.bchw_to_image(image_bchw)[0].numpy())
    except (ImportError, DependencyError) as e:  # mediapipe is imported when the segmenter runs
        raise DependencyError(
            f"No mask is connected and the built-in person segmenter is unavailable ({e}). Connect a MASK "
            "(1 = person) from any segmentation node, or install the pack's 'pose' extra "
            "(pip install 'mediapipe>=0.10.9,<0.10.22') and restart ComfyUI.") from e
    return torch.from_numpy(person).float()[None, None]


class DisCoDisentangleImage:
    CATEGORY = "DisCo"
    DESCRIPTION = (
        "Splits the reference photo into the person (foreground, what DisCo's CLIP branch sees) and the scene "
        "(background, what its background ControlNet keeps). Without a mask the person is found with the "
        "built-in segmenter. Only the first image of a batch is used."
    )
    RETURN_TYPES = (DISCO_REFERENCE, "IMAGE", "IMAGE", "MASK")
    RETURN_NAMES = ("reference", "foreground", "background", "mask")
    OUTPUT_TOOLTIPS = (
        "Photo and person mask, for the DisCo Sampler (and Pose Sequence retargeting).",
        "The person on black [1,H,W,3].",
        "The scene with the person blacked out [1,H,W,3].",
        "Person mask [1,H,W], 1 = person.",
    )
    FUNCTION = "disentangle"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": ("IMAGE", {
                    "tooltip": "Photo of one person, any size (the first image of a batch is "  # pragma: no mutate
                               "used). Full body, facing the camera works best."}),  # pragma: no mutate
            },
            "optional": {
                "mask": ("MASK", {
                    "tooltip": "Person mask, 0..1, 1 = person; resized to the photo if its size "  # pragma: no mutate
                               "differs. Leave empty to use the built-in segmenter."}),  # pragma: no mutate
                "invert_mask": ("BOOLEAN", {
                    "default": False,
                    "tooltip": "Turn the mask around. Use it for LoadImage's alpha mask, where 1 marks the "  # pragma: no mutate
                               "transparent (background) pixels."}),  # pragma: no mutate
            },
        }

    def disentangle(self, image, mask=None, invert_mask=False):
        photo = glue.image_to_bchw(image, "image")[:1]
        height, width = photo.shape[-2:]
        if mask is None:
            person = _segment(photo)
        else:
            person = glue.mask_to_b1hw(mask, height, width, "mask")[:1]
        if invert_mask:
            person = 1.0 - person
        if float(person.max()) <= 0.5:  # as the message says: no pixel above 0.5
            raise InputError(
                "The person mask is empty (no pixel above 0.5)" + (", after invert_mask" if invert_mask else "")
                + ". LoadImage gives an all-zero 64x64 mask for images without transparency: connect a real "
                "person mask (1 = person), flip invert_mask if yours marks the background, or leave mask "
                "unconnected to use the built-in segmenter." if mask is not None else
                "The built-in segmenter found no person in the photo. Use a photo of one clearly visible person, "
                "or connect a MASK (1 = person) from a segmentation node.")
        reference = DiscoReference(image=photo, mask=person)
        foreground = glue.bchw_to_image(photo * person)
        background = glue.bchw_to_image(photo * (1.0 - person))
        return (reference, foreground, background, person[:, 0].contiguous())


NODE_CLASS_MAPPINGS = {"DisCoDisentangleImage": DisCoDisentangleImage}
NODE_DISPLAY_NAME_MAPPINGS = {"DisCoDisentangleImage": "Disentangle Image"}
