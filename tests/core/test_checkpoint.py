"""Checkpoint reading, strict mapping, conversion, and every error a user can meet."""
import collections
import json
import sys
import types

import pytest
import torch
from safetensors.torch import load_file, save_file

from disco_core import CheckpointError, DiscoConfig, convert_checkpoint, load_model
from disco_core.model.checkpoint import convert_official, model_shapes, read_checkpoint
from disco_core.cli import main
from tests.paths import FIXTURES


@pytest.fixture(scope="module")
def official_sd(parity_image_dir):
    return load_file(str(parity_image_dir / "weights.safetensors"))


@pytest.fixture(scope="module")
def tiny_config(parity_image_dir):
    return DiscoConfig.from_file(parity_image_dir / "configs.json")


def test_full_size_official_keys_cover_the_model_both_ways():
    manifest = json.loads((FIXTURES / "official_keys_image.json").read_text())["keys"]
    official = {k: torch.empty(v["shape"], device="meta") for k, v in manifest.items()}
    ours = convert_official(official)
    shapes = model_shapes(DiscoConfig.sd_image_variations())  # full size, on the meta device
    assert len(manifest) == 1994
    assert set(ours) == set(shapes), (sorted(set(shapes) - set(ours))[:5], sorted(set(ours) - set(shapes))[:5])
    assert all(tuple(ours[k].shape) == tuple(shapes[k]) for k in shapes)
    dropped = set(manifest) - {k for k in manifest if k in ours or ".attentions.0." in k}
    assert dropped == {"clip_image_encoder.vision_model.embeddings.position_ids"}


def test_converted_file_loads_alone_and_conversion_is_deterministic(parity_image_dir, tmp_path, official_sd):
    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    for dst in (a, b):
        assert main(["convert", str(parity_image_dir / "weights.safetensors"), str(dst),
                     "--configs", str(parity_image_dir / "configs.json")]) == 0
    assert a.read_bytes() == b.read_bytes()
    model = load_model(a)  # no configs given: they come from the file's metadata
    assert model.config.clip_image_size == 32 and model.config.uncond == "blank"
    w = official_sd["controlnet.nets.1.controlnet_cond_embedding.conv_in.weight"].float()
    assert torch.equal(model.background_controlnet.controlnet_cond_embedding.conv_in.weight, w)
    vae_q = official_sd["vae.encoder.mid_block.attentions.0.query.weight"].float()
    assert torch.equal(model.vae.encoder.mid_block.attentions[0].to_q.weight, vae_q)
    assert model.clip_image_encoder.dtype == torch.float32


def _deepspeed_file(path, module, extra=None):
    """A file shaped like DeepSpeed's mp_rank_00_model_states.pt, with a pickled DeepSpeed helper object."""
    mod = types.ModuleType("deepspeed.runtime.fp16.loss_scaler")

    class DynamicLossScaler:
        def __init__(self):
            self.cur_scale, self.cur_iter = 65536.0, 10
    DynamicLossScaler.__module__ = mod.__name__
    DynamicLossScaler.__qualname__ = "DynamicLossScaler"
    mod.DynamicLossScaler = DynamicLossScaler
    names = ["deepspeed", "deepspeed.runtime", "deepspeed.runtime.fp16", mod.__name__]
    saved = {n: sys.modules.get(n) for n in names}
    for n in names[:-1]:
        sys.modules[n] = types.ModuleType(n)
    sys.modules[mod.__name__] = mod
    try:
        ckpt = {"module": module, "buffer_names": ["clip_image_encoder.vision_model.embeddings.position_ids"],
                "optimizer": {"loss_scaler": DynamicLossScaler(), "overflow": False},
                "param_shapes": [collections.OrderedDict((k, v.shape) for k, v in list(module.items())[:3])],
                "lr_scheduler": {"last_epoch": 10, "base_lrs": [2e-4]}, "sparse_tensor_module_names": set(),
                "skipped_steps": 0, "global_steps": 10, "global_samples": 80, "dp_world_size": 1,
                "mp_world_size": 1, "ds_config": {"fp16": {"enabled": True}}, "ds_version": "0.6.3"}
        ckpt.update(extra or {})
        torch.save(ckpt, path)
    finally:
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m


def test_official_deepspeed_file_loads_without_running_pickle_code(tmp_path, official_sd, parity_image_dir):
    pt = tmp_path / "mp_rank_00_model_states.pt"
    _deepspeed_file(pt, official_sd)
    out = convert_checkpoint(pt, tmp_path / "from_pt.safetensors", configs=parity_image_dir / "configs.json")
    ref = convert_checkpoint(parity_image_dir / "weights.safetensors", tmp_path / "from_st.safetensors",
                             configs=parity_image_dir / "configs.json")
    assert out.read_bytes() == ref.read_bytes()


class Exploit:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickle_with_code_is_refused(tmp_path, official_sd):
    pt = tmp_path / "evil.pt"
    torch.save({"module": official_sd, "payload": Exploit()}, pt)
    with pytest.raises(CheckpointError, match="refused to load evil.pt.*could run code"):
        read_checkpoint(pt)


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_truncated_file_is_reported(tmp_path, official_sd, suffix):
    good = tmp_path / f"good{suffix}"
    if suffix == ".pt":
        torch.save({"module": official_sd}, good)
    else:
        save_file(official_sd, str(good))
    bad = tmp_path / f"bad{suffix}"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt.*again"):
        read_checkpoint(bad)


def test_missing_file_says_where_to_get_weights(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist.*Wangt-CN/DisCo"):
        read_checkpoint(tmp_path / "nope.safetensors")


def test_not_a_disco_checkpoint(tmp_path):
    f = tmp_path / "sd15.safetensors"
    save_file({"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(2, 2)}, str(f))
    with pytest.raises(CheckpointError, match="not a DisCo checkpoint.*Stable Diffusion"):
        load_model(f)


def test_stage1_checkpoint_is_named(tmp_path, official_sd):
    stage1 = {k.replace("controlnet.nets.1.", "controlnet."): v for k, v in official_sd.items()
              if not k.startswith("controlnet.nets.0.")}
    f = tmp_path / "hap.safetensors"
    save_file(stage1, str(f))
    with pytest.raises(CheckpointError, match="stage-1.*no pose ControlNet.*fine-tuned"):
        load_model(f)


def test_missing_unexpected_and_mismatched_keys_are_listed(tmp_path, official_sd, tiny_config):
    sd = dict(official_sd)
    del sd["unet.conv_in.weight"]
    sd["unet.extra_layer.weight"] = torch.zeros(1)
    sd["refer_clip_proj.weight"] = torch.zeros(3, 3, dtype=torch.float16)
    f = tmp_path / "broken.safetensors"
    save_file(sd, str(f))
    with pytest.raises(CheckpointError) as e:
        load_model(f, configs=tiny_config)
    msg = str(e.value)
    assert "1 missing keys:\n  unet.conv_in.weight" in msg
    assert "1 unexpected keys:\n  unet.extra_layer.weight" in msg
    assert "refer_clip_proj.weight: file (3, 3) vs model (24, 48)" in msg


def test_full_size_default_config_rejects_tiny_weights_with_a_hint(parity_image_dir):
    with pytest.raises(CheckpointError, match="pass its configs.json with --configs"):
        load_model(parity_image_dir / "weights.safetensors")


def test_cli_reports_errors_without_traceback(tmp_path, capsys):
    assert main(["convert", str(tmp_path / "missing.pt"), str(tmp_path / "out.safetensors")]) == 1
    assert "error: checkpoint" in capsys.readouterr().err
