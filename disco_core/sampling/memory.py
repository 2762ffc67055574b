"""How much memory one sampler chunk needs besides the weights, for ComfyUI's `load_models_gpu(memory_required=)`.

activation_bytes = SAFETY x (FIXED + PER_DENOISE x (frames x CFG factor) x latent pixels x dtype bytes
                                    + PER_DECODE x frames x latent pixels x dtype bytes)

FIXED and PER_DECODE are measured, PER_DENOISE is counted from the SD1.x architecture DisCo uses (per latent
pixel of one sample). `python bench/activation_memory.py CKPT --dtype bf16` measures the peak RSS of one chunk above
the full-size weights on the CPU for 8 (frames, size, CFG) cases (bench/RESULTS.md, "Activation memory") and
fails if this estimate is below any of them; tests/core/test_memory_estimate.py checks the recorded peaks too.
- decoding dominates the measured peaks: ~100,700 values per latent pixel of each decoded frame (the VAE
  decoder's full-resolution 128-channel stages; on the CPU bf16 upsampling also runs in fp32), 3x the
  ~33,000 first counted from four live tensors.
- denoising: the UNet's skip connections held for the up path (~2040 channels summed over the down blocks and
  their resolutions), the ControlNet residuals of the same shapes (two sets while the branches are summed), and
  the working set of a level-0 transformer block (GEGLU 2560 + 1280 + 1280, attention and hidden states
  ~2600): about 13,800 values. Attention goes through scaled-dot-product kernels, so no pixels x pixels score
  matrix is held. CFG doubles the batch. Denoising and decoding peak at different times, so adding both
  over-counts: the estimate errs on the side of keeping memory free.
- fixed: CLIP ViT-L/14 at 224 px, one background encode and the sampler's buffers: 135 MiB measured.
"""
from __future__ import annotations

import torch

VAE_SCALE = 8
FIXED = 135 * 2**20    # bytes, measured
PER_DENOISE = 13_800   # values per latent pixel of each denoised sample (x dtype bytes)
PER_DECODE = 100_700   # values per latent pixel of each decoded frame (x dtype bytes), measured
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
