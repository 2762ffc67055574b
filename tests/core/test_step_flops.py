"""README "Speed and memory" / bench/RESULTS.md "Arithmetic": at full size one frame-step at 256² with CFG is
638 GFLOP (50 steps: 31.9 TFLOP), and the step-invariant work the sampler computes once per chunk is 1.2 % of it
(both ControlNets' conditioning embeddings) and 5.9 % (cross-attention keys/values of the CLIP tokens). Counted
with torch's FLOP counter on the meta device, as `bench/sampler.py` does: no memory, deterministic."""
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.sampler import num_tokens
from disco_core import DiscoConfig, build_model


def test_full_size_step_flops_and_the_cached_shares_are_the_readme_figures():
    cfg = DiscoConfig.sd_image_variations()
    model = build_model(cfg, device="meta")
    x = torch.empty(1, model.unet.config.in_channels, 32, 32, device="meta")  # one CFG half of one frame, 256²
    t = torch.tensor(981, device="meta")
    tokens = torch.empty(1, num_tokens(cfg), cfg.unet["cross_attention_dim"], device="meta")
    with FlopCounterMode(display=False) as counter:
        model.pose_controlnet(x, t, encoder_hidden_states=tokens, controlnet_cond=torch.empty(1, 3, 256, 256,
                                                                                             device="meta"))
        model.background_controlnet(x, t, encoder_hidden_states=tokens, controlnet_cond=x)
        model.unet(x, t, encoder_hidden_states=tokens)
    by_module = {name: sum(counts.values()) for name, counts in counter.get_flop_counts().items()}
    half = by_module["Global"]
    assert round(2 * half / 1e9) == 638 and round(50 * 2 * half / 1e12, 1) == 31.9
    conditioning = sum(v for k, v in by_module.items() if k.endswith(".controlnet_cond_embedding"))
    keys_values = sum(v for k, v in by_module.items() if k.endswith(("attn2.to_k", "attn2.to_v")))
    assert 100 * conditioning / half == pytest.approx(1.2, abs=0.05)
    assert 100 * keys_values / half == pytest.approx(5.9, abs=0.05)
