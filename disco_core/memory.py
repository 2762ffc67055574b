"""How much memory one sampler chunk needs besides the weights, for ComfyUI's `load_models_gpu(memory_required=)`.

activation_bytes = SAFETY x (FIXED + PER_DENOISE x (frames x CFG factor) x latent pixels x dtype bytes
                                    + PER_DECODE x frames x latent pixels x dtype bytes)

The coefficients are counted from the SD1.x architecture DisCo uses, per latent pixel of one sample (not yet
measured: `bench/activation_memory.py` measures the peak RSS of a chunk above the full-size weights on the
CPU, and its first run is still to be recorded in bench/RESULTS.md):
- denoising: the UNet's skip connections held for the up path (~2040 channels summed over the down blocks and
  their resolutions), the ControlNet residuals of the same shapes (two sets while the branches are summed), and
  the working set of a level-0 transformer block (GEGLU 2560 + 1280 + 1280, attention and hidden states
  ~2600): about 13,800 values. Attention goes through scaled-dot-product kernels, so no pixels x pixels score
  matrix is held. CFG doubles the batch.
- decoding: the VAE decoder's last up block at full resolution (128 channels, 8 x 8 pixels per latent pixel,
  about four live tensors): about 33,000 values per decoded frame.
- fixed: CLIP ViT-L/14 at 224 px and one background encode, well under 64 MiB.
"""
from __future__ import annotations

import torch

VAE_SCALE = 8
FIXED = 64 * 2**20     # bytes
PER_DENOISE = 13_800   # values per latent pixel of each denoised sample (x dtype bytes)
PER_DECODE = 33_000    # values per latent pixel of each decoded frame (x dtype bytes)
SAFETY = 1.25          # allocator slack and kernel workspaces


def fit_terms(frames: int, height: int, width: int, dtype: torch.dtype, cfg: float) -> tuple[float, float, float]:
    """The three terms the coefficients multiply (also used to fit them to measurements)."""
    latent = (height // VAE_SCALE) * (width // VAE_SCALE)
    size = torch.finfo(dtype).bits // 8 if dtype.is_floating_point else 4
    doubled = 2 if cfg > 1.0 else 1
    return 1.0, float(frames * doubled * latent * size), float(frames * latent * size)


def activation_bytes(frames: int, height: int, width: int, dtype: torch.dtype, cfg: float) -> int:
    """Bytes to keep free on the device for one chunk of `frames` frames at height x width (pixels)."""
    one, denoise, decode = fit_terms(frames, height, width, dtype, cfg)
    return int(SAFETY * (FIXED * one + PER_DENOISE * denoise + PER_DECODE * decode))
