"""The activation estimate handed to ComfyUI's memory manager grows the way the sampler's tensors do."""
import torch

from disco_core.sampling.memory import activation_bytes


def test_estimate_scales_with_frames_size_dtype_and_cfg():
    """Mutations that must fail: ignoring CFG's doubled batch, the dtype size, or the frame count."""
    base = activation_bytes(8, 256, 256, torch.float16, 1.5)
    assert 0.5 * 2**30 < base < 4 * 2**30  # a 256x256 chunk of 8 frames in fp16: order of a GiB
    fixed = activation_bytes(0, 256, 256, torch.float16, 1.5)
    assert activation_bytes(16, 256, 256, torch.float16, 1.5) - fixed == 2 * (base - fixed)
    assert activation_bytes(8, 512, 512, torch.float16, 1.5) - fixed == 4 * (base - fixed)
    assert activation_bytes(8, 256, 256, torch.float32, 1.5) - fixed == 2 * (base - fixed)
    no_cfg = activation_bytes(8, 256, 256, torch.float16, 1.0)
    # CFG doubles the denoising batch only, not the decoded frames
    assert fixed < no_cfg < base and base - no_cfg < no_cfg - fixed


# Peak RSS above the full-size weights of one 1-step chunk, bf16 on the CPU (frames, size, CFG, MiB), measured by
# `python bench/activation_memory.py /tmp/disco_sd15_random.safetensors --dtype bf16` (bench/RESULTS.md).
MEASURED_BF16 = [(1, 128, 1.0, 161.5), (1, 128, 1.5, 158.2), (2, 128, 1.5, 207.4), (1, 192, 1.5, 274.0),
                 (4, 128, 1.5, 354.4), (2, 192, 1.0, 368.1), (2, 192, 1.5, 399.3), (4, 192, 1.5, 542.7)]


def test_estimate_covers_the_measured_full_size_peaks_without_wasting_half_the_card():
    """What ComfyUI keeps free must cover each measured peak, and not by more than 2x (over-asking unloads models
    for nothing). Mutations seen failing: the first counted PER_DECODE (33,000); FIXED at 64 MiB."""
    for frames, size, cfg, mib in MEASURED_BF16:
        estimate = activation_bytes(frames, size, size, torch.bfloat16, cfg) / 2**20
        assert mib <= estimate <= 2 * mib, (frames, size, cfg, mib, estimate)
