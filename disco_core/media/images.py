"""Pure tensor preprocessing, as the official val-split dataset does it, generalised to any output size.

Everything is `b c h w` float. Geometry: a *window* of the source image with the output's aspect ratio is taken
(`crop`: inside the image, `pad`: around it with padding) and resized to the output size. `official` takes the
largest centred square and stretches it to the output size, as the official `RandomResizedCrop(scale=(1, 1),
ratio=(1, 1))` fallback does; for square outputs `crop` and `official` agree.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..errors import InputError

FIT_MODES = ("crop", "pad", "official")
# CLIP ViT-L/14 normalisation (the official ref_transform).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def fit_window(src_h: int, src_w: int, out_h: int, out_w: int, mode: str) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the source region that becomes the output; may extend past the image."""
    if mode not in FIT_MODES:
        raise InputError(f"fit mode {mode!r} is unknown; use one of {FIT_MODES}")
    if mode == "official":
        side = min(src_h, src_w)
        return (src_h - side) // 2, (src_w - side) // 2, side, side
    target = out_w / out_h
    if (src_w / src_h > target) == (mode == "crop"):   # crop: too wide -> narrow it; pad: too tall -> widen it
        h, w = src_h, max(1, round(src_h * target))
    else:
        h, w = max(1, round(src_w / target)), src_w
    return (src_h - h) // 2, (src_w - w) // 2, h, w


def take_window(x: torch.Tensor, window, fill: str = "zeros") -> torch.Tensor:
    """Crop `x` to `window`, padding where it extends past the image (`fill`: 'zeros' or 'replicate')."""
    top, left, h, w = window
    H, W = x.shape[-2:]
    pads = (max(0, -left), max(0, left + w - W), max(0, -top), max(0, top + h - H))
    if any(pads):
        x = F.pad(x, pads, mode="constant" if fill == "zeros" else "replicate")
        top, left = top + pads[2], left + pads[0]
    return x[..., top:top + h, left:left + w]


def pad_to_square(x: torch.Tensor) -> torch.Tensor:
    h, w = x.shape[-2:]
    side = max(h, w)
    return take_window(x, ((h - side) // 2, (w - side) // 2, side, side))


def resize(x: torch.Tensor, size: tuple[int, int], mode: str, antialias: bool = True) -> torch.Tensor:
    """PIL-like resize: bilinear/bicubic with antialias matches PIL's filters on downscaling."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode=mode, align_corners=False, antialias=antialias)


def fit(x: torch.Tensor, height: int, width: int, mode: str, fill: str = "zeros") -> torch.Tensor:
    window = fit_window(*x.shape[-2:], height, width, mode)
    return resize(take_window(x, window, fill), (height, width), "bilinear")


def pil_resize_mask(mask: torch.Tensor, size: int) -> torch.Tensor:
    """The official CLIP mask path: a uint8 PIL image resized bicubically (PIL's filter, clipped to 0..255)."""
    out = []
    for m in mask[:, 0].detach().cpu():
        img = Image.fromarray((m.clamp(0, 1) * 255).round().to(torch.uint8).numpy(), mode="L")
        arr = np.asarray(img.resize((size, size), Image.BICUBIC), dtype=np.float32) / 255
        out.append(torch.from_numpy(arr))
    return torch.stack(out)[:, None].to(mask)


def clip_normalize(x: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(CLIP_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def clip_input(image: torch.Tensor, mask: torch.Tensor, window, clip_size: int) -> torch.Tensor:
    """Masked, CLIP-normalised foreground (official order: bicubic without antialias, normalise, x mask).

    The region outside the person is 0 *after* normalisation (the CLIP mean colour), as in training.
    """
    img = pad_to_square(take_window(image, window, "replicate"))
    msk = pad_to_square(take_window(mask, window, "zeros"))
    img = resize(img, (clip_size, clip_size), "bicubic", antialias=False)
    return clip_normalize(img) * pil_resize_mask(msk, clip_size)


def background_input(image: torch.Tensor, mask: torch.Tensor, window, height: int, width: int) -> torch.Tensor:
    """Reference with the person removed, in [-1, 1]; the person region is 0 (mid-grey), as in training."""
    img = resize(take_window(image, window, "replicate"), (height, width), "bilinear")
    msk = resize(take_window(mask, window, "zeros"), (height, width), "bilinear")
    return (img * 2 - 1) * (1 - msk)


def check_image(x: torch.Tensor, name: str, channels: int) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != channels:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise InputError(f"{name} must be a float tensor [batch, {channels}, height, width] in 0..1, got {shape}")
    if x.shape[-1] < 8 or x.shape[-2] < 8:
        raise InputError(f"{name} is {x.shape[-1]}x{x.shape[-2]} pixels; give at least 8x8")
    if not torch.isfinite(x).all():
        raise InputError(f"{name} contains NaN or infinite values; check the node or file that produced it")
    return x.float().clamp(0, 1)
