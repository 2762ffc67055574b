"""How much memory one sampler chunk needs besides the weights, for ComfyUI's `load_models_gpu(memory_required=)`.

activation_bytes = FIXED + PER_DENOISE x (frames x CFG factor) x latent pixels x dtype bytes
                         + PER_DECODE x frames x latent pixels x dtype bytes

The three coefficients were measured on the CPU as peak RSS above the loaded full-size weights for one chunk
(`bench/activation_memory.py`, table in bench/RESULTS.md): CLIP + background encode (fixed part), both
ControlNets and the UNet on the CFG-doubled batch (held skip connections and ControlNet residuals grow with it),
and the VAE decode of the chunk's frames. A GPU run uses the same tensors; attention goes through PyTorch's
scaled-dot-product kernels there and here, so no (pixels x pixels) score matrix is counted.
"""
from __future__ import annotations

import torch

VAE_SCALE = 8
FIXED = 260 * 2**20         # bytes: CLIP ViT-L/14 at 224 px and one background VAE encode
PER_DENOISE = 30_000        # bytes per latent pixel per dtype byte of each denoised sample (CFG doubles them)
PER_DECODE = 17_000         # bytes per latent pixel per dtype byte of each decoded frame
SAFETY = 1.25               # allocator slack and kernels' workspaces beyond what RSS sees on the CPU


def fit_terms(frames: int, height: int, width: int, dtype: torch.dtype, cfg: float) -> tuple[float, float, float]:
    """The three terms the coefficients multiply (also used to fit them)."""
    latent = (height // VAE_SCALE) * (width // VAE_SCALE)
    size = torch.finfo(dtype).bits // 8 if dtype.is_floating_point else 4
    doubled = 2 if cfg > 1.0 else 1
    return 1.0, float(frames * doubled * latent * size), float(frames * latent * size)


def activation_bytes(frames: int, height: int, width: int, dtype: torch.dtype, cfg: float) -> int:
    """Bytes to keep free on the device for one chunk of `frames` frames at height x width (pixels)."""
    one, denoise, decode = fit_terms(frames, height, width, dtype, cfg)
    return int(SAFETY * (FIXED * one + PER_DENOISE * denoise + PER_DECODE * decode))
