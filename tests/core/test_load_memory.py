"""Loading keeps no mapping of the checkpoint file: the model owns its weights (issue 9, memory).

Full-size resident/peak numbers are measured in bench/load_memory.py (bench/RESULTS.md); this checks the mechanism
on the tiny model. Mutation seen failing: loading with `safetensors.torch.load_file` (the old path), whose fp32 CLIP
tensors used as is keep the whole file mapped, and dropping the `.clone()` of mapped `.pt` tensors.
"""
import gc
from pathlib import Path

import pytest
import torch

from disco_core import load_model

pytestmark = pytest.mark.skipif(not Path("/proc/self/maps").is_file(), reason="needs Linux /proc/self/maps")


def _mapped(path: Path) -> list[str]:
    gc.collect()
    name = str(path.resolve())
    return [line for line in Path("/proc/self/maps").read_text().splitlines() if line.endswith(name)]


def test_safetensors_load_leaves_no_file_mapping(tiny_checkpoint):
    model = load_model(tiny_checkpoint)
    assert model.clip_image_encoder.dtype == torch.float32   # the tensors the old loader used in place
    assert _mapped(tiny_checkpoint) == []
    assert all(not p.is_meta for p in model.parameters())


def test_official_pt_load_leaves_no_file_mapping(tmp_path, tiny_checkpoint):
    from safetensors.torch import load_file
    pt = tmp_path / "mp_rank_00_model_states.pt"
    sd = load_file(str(tiny_checkpoint))
    torch.save({"module": sd}, pt)
    del sd
    reference = load_model(tiny_checkpoint)
    model = load_model(pt, configs=reference.config)
    assert _mapped(pt) == []
    for (name, a), (_, b) in zip(model.state_dict().items(), reference.state_dict().items()):
        assert torch.equal(a, b), name


def test_loaded_weights_own_their_memory(tiny_checkpoint):
    """Every parameter has its own storage: total storage bytes == parameter bytes (nothing shared with a file)."""
    model = load_model(tiny_checkpoint, dtype=torch.float16)
    params = [p for p in model.state_dict().values()]
    storages = {p.untyped_storage().data_ptr(): p.untyped_storage().nbytes() for p in params}
    assert sum(storages.values()) == sum(p.numel() * p.element_size() for p in params)


def test_fp16_file_weights_stay_fp16_and_give_the_fp32_frames(tiny_checkpoint, person_inputs):
    """fp32 compute with the file's fp16 weights widened layer by layer: the same frames, half the weight bytes.

    Mutations seen failing: not restoring the parameters after a layer (`post_hook` a no-op: later layers read the
    reused scratch), and widening into fp16 (`compute` = the stored dtype).
    """
    from disco_core import animate
    ref, mask, poses = person_inputs
    kw = dict(height=32, width=32, num_inference_steps=2, seed=3)
    stored = load_model(tiny_checkpoint)
    widened = load_model(tiny_checkpoint, keep_file_precision=False)
    assert stored.unet.conv_in.weight.dtype == torch.float16 and stored.dtype == torch.float32
    assert widened.unet.conv_in.weight.dtype == torch.float32
    weight = stored.pose_controlnet.conv_in.weight
    a = animate(stored, ref, mask, poses[:2], **kw)
    b = animate(widened, ref, mask, poses[:2], **kw)
    assert torch.equal(a, b)
    assert stored.pose_controlnet.conv_in.weight is weight          # parameters are back after each layer
    assert stored.clip_image_encoder.dtype == torch.float32
    size = {name: sum(p.numel() * p.element_size() for p in m.unet.parameters())
            for name, m in (("stored", stored), ("widened", widened))}
    assert size["stored"] * 2 == size["widened"]
