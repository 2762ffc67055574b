"""The activation estimate handed to ComfyUI's memory manager grows the way the sampler's tensors do."""
import torch

from disco_core.memory import activation_bytes


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
