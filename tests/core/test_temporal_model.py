"""The temporal DisCo model: official parity, the traps that break it, and its checkpoints.

Mutations seen failing these tests: FrameGroupNorm computing per-frame statistics (plain GroupNorm), the
temporal attention normalised with `tem_norm` instead of `norm2`, the ControlNets' temporal layers removed,
`checkpoint_variant` always answering 'image', and `inflate` skipping the ControlNets.
"""
import json
from pathlib import Path

import pytest
import torch
from diffusers.models.attention import BasicTransformerBlock
from diffusers.models.resnet import ResnetBlock2D
from safetensors.torch import load_file, save_file
from torch import nn

from disco_core import CheckpointError, DiscoConfig, convert_checkpoint, load_model
from disco_core.model.checkpoint import convert_official, model_shapes, read_checkpoint
from disco_core.cli import main
from disco_core.parity.fixtures import relative_error
from disco_core.parity.image import run_fixture
from disco_core.model.temporal_layers import FrameGroupNorm, TemporalResnetBlock, TemporalTransformerBlock, _to_clips
from disco_core.model.temporal import TemporalDiscoModel
from disco_core.sampling.windowed import predict_noise
from tests.paths import SHARED_DATA_REASON

TOL = 1e-4
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_check_parity_passes_on_the_temporal_fixture(parity_temporal_dir, temporal_fixture, capsys):
    """`check-parity` runs the pack's windowed sampler (one window of the fixture's 4 frames)."""
    assert main(["check-parity", str(parity_temporal_dir), "--tol", str(TOL)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    errors = {line.split()[0]: float(line.split("rel_err=")[1].split()[0]) for line in lines[:-1]}
    assert set(errors) == set(temporal_fixture.outputs), "every official tensor is compared"
    assert errors["final_latents"] <= 1e-5 and errors["logits_img_seq"] <= 1e-5
    assert max(errors.values()) <= TOL and lines[-1] == f"max_rel_err={max(errors.values()):.3e}"


def step0_error(fx, model) -> float:
    """Relative error of the first step's raw UNet output, from the official step-0 inputs (one forward)."""
    out, inp = fx.outputs, fx.inputs
    f = int(fx.meta["nframes"])
    x = out["unet_input_step0"].transpose(1, 2).flatten(0, 1)                  # (2, 4, f, h, w) -> (2f, ...)
    ehs = out["encoder_hidden_states"].repeat_interleave(f, 0)
    pose = inp["cond_img_seq"][0].transpose(0, 1).repeat(2, 1, 1, 1)
    bg = out["controlnet_cond_background"].repeat_interleave(f, 0)
    with torch.no_grad():
        eps = predict_noise(model, x, out["timesteps"][0], ehs, pose, bg, f, 1.0, 0.9)
    return relative_error(_to_clips(eps, f), out["step0_noise_pred_raw"])


def _per_frame_norm(self, x):
    return nn.GroupNorm.forward(self, x)


def _tem_norm_attention(self, x):
    f = self.context.frames(x.shape[0])
    b, tokens = x.shape[0] // f, x.shape[1]
    seq = x.unflatten(0, (b, f)).transpose(1, 2).flatten(0, 1)
    seq = self.tem_attn(self.tem_norm(seq)) + seq
    return seq.unflatten(0, (b, tokens)).transpose(1, 2).flatten(0, 1)


def _without_controlnet_temporal_layers(model, monkeypatch):
    for net in model.controlnet.nets:
        for module in net.modules():
            if isinstance(module, TemporalResnetBlock):
                monkeypatch.setattr(module, "forward", ResnetBlock2D.forward.__get__(module))
            elif isinstance(module, TemporalTransformerBlock):
                monkeypatch.setattr(module, "forward", BasicTransformerBlock.forward.__get__(module))


@pytest.mark.parametrize("breakage, measured", [("groupnorm-per-frame", 0.245), ("tem_norm-instead-of-norm2", 0.148),
                                                ("no-controlnet-temporal-layers", 0.513)])
def test_each_temporal_trap_breaks_parity(temporal_fixture, temporal_model, monkeypatch, breakage, measured):
    """Each trap of disco_arch.md section 5 changes the first step's UNet output by far more than 1e-4 (the
    relative errors the README quotes)."""
    if breakage == "groupnorm-per-frame":
        monkeypatch.setattr(FrameGroupNorm, "forward", _per_frame_norm)
    elif breakage == "tem_norm-instead-of-norm2":
        monkeypatch.setattr(TemporalTransformerBlock, "temporal_attention", _tem_norm_attention)
    else:
        _without_controlnet_temporal_layers(temporal_model, monkeypatch)
    assert step0_error(temporal_fixture, temporal_model) == pytest.approx(measured, abs=0.001)


@pytest.mark.parametrize("wrong", [dict(pose_scale=0.0), dict(background_scale=0.0), dict(uncond="zeros")],
                         ids=["no-pose-branch", "no-background-branch", "wrong-cfg-uncond"])
def test_temporal_parity_fails_when_wired_wrong(temporal_fixture, temporal_model, wrong):
    """Each override reaches the temporal run (the fixture's CFG negative is the blank image: drop_ref 0.05)."""
    assert run_fixture(temporal_fixture, temporal_model, **wrong).errors["final_latents"] > 0.05


def test_step0_check_agrees_with_the_full_run(temporal_fixture, temporal_model):
    """The single-forward check above is itself at parity when nothing is broken."""
    assert step0_error(temporal_fixture, temporal_model) < 1e-5


@pytest.mark.shared_data
def test_fixture_is_an_exact_copy_of_the_shared_one(parity_temporal_dir):
    shared = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "parity" / "temporal"
    if not shared.is_dir():
        pytest.skip(SHARED_DATA_REASON)
    for f in shared.iterdir():
        assert (parity_temporal_dir / f.name).read_bytes() == f.read_bytes(), f.name


def test_full_size_official_temporal_keys_cover_the_model_both_ways():
    manifest = json.loads((FIXTURES / "official_keys_temporal.json").read_text())["keys"]
    official = {k: torch.empty(v["shape"], device="meta") for k, v in manifest.items()}
    ours = convert_official(official)
    shapes = model_shapes(DiscoConfig.sd_image_variations().replace(variant="temporal"))  # meta device
    assert len(manifest) == 2372 and sum(".tem_" in k for k in manifest) == 378
    assert set(ours) == set(shapes), (sorted(set(shapes) - set(ours))[:5], sorted(set(ours) - set(shapes))[:5])
    assert all(tuple(ours[k].shape) == tuple(shapes[k]) for k in shapes)
    image = model_shapes(DiscoConfig.sd_image_variations())
    assert set(shapes) - set(image) == {k for k in ours if ".tem_" in k}   # only DisCo's temporal layers added


def test_temporal_layers_sit_in_the_unet_and_both_controlnets(temporal_model):
    assert isinstance(temporal_model, TemporalDiscoModel) and temporal_model.is_temporal
    for net in (temporal_model.unet, *temporal_model.controlnet.nets):
        assert any(isinstance(m, TemporalResnetBlock) for m in net.modules())
        assert any(isinstance(m, TemporalTransformerBlock) for m in net.modules())
    assert isinstance(temporal_model.unet.conv_norm_out, FrameGroupNorm)
    transformers = [m for m in temporal_model.unet.modules() if type(m).__name__ == "Transformer2DModel"]
    assert transformers and all(type(t.norm) is nn.GroupNorm for t in transformers)  # per frame, as official


def test_model_needs_the_clip_length(temporal_model):
    x = torch.zeros(4, 4, 8, 8)
    with pytest.raises(Exception, match="model.frames"):
        temporal_model.unet(x, 1, encoder_hidden_states=torch.zeros(4, 3, 24))
    with temporal_model.frames(3), pytest.raises(Exception, match="not a whole number of 3-frame clips"):
        temporal_model.unet(x, 1, encoder_hidden_states=torch.zeros(4, 3, 24))


def test_convert_records_the_variant_and_the_loader_picks_the_model(parity_temporal_dir, tmp_path, capsys):
    out = tmp_path / "t.safetensors"
    assert main(["convert", str(parity_temporal_dir / "weights.safetensors"), str(out),
                 "--configs", str(parity_temporal_dir / "configs.json")]) == 0
    assert "variant temporal" in capsys.readouterr().out
    assert read_checkpoint(out)[1]["disco_variant"] == "temporal"
    model = load_model(out)   # no configs, no variant: the file says
    assert isinstance(model, TemporalDiscoModel)
    sd = load_file(str(parity_temporal_dir / "weights.safetensors"))
    w = sd["controlnet.nets.0.down_blocks.0.resnets.0.tem_conv.weight"].float()
    assert torch.equal(model.pose_controlnet.down_blocks[0].resnets[0].tem_conv.weight, w)
    w = sd["unet.mid_block.attentions.0.transformer_blocks.0.tem_attn.to_out.0.bias"].float()
    assert torch.equal(model.unet.mid_block.attentions[0].transformer_blocks[0].tem_attn.to_out[0].bias, w)


def test_official_deepspeed_pt_loads_strictly(parity_temporal_dir, tmp_path):
    sd = load_file(str(parity_temporal_dir / "weights.safetensors"))
    pt = tmp_path / "mp_rank_00_model_states.pt"
    torch.save({"module": sd, "global_steps": 10, "ds_version": "0.6.3", "dp_world_size": 1}, pt)
    a = convert_checkpoint(pt, tmp_path / "a.safetensors", configs=parity_temporal_dir / "configs.json")
    b = convert_checkpoint(parity_temporal_dir / "weights.safetensors", tmp_path / "b.safetensors",
                           configs=parity_temporal_dir / "configs.json")
    assert a.read_bytes() == b.read_bytes()
    del sd["unet.up_blocks.1.resnets.0.tem_norm.bias"]
    save_file(sd, str(tmp_path / "broken.safetensors"))
    with pytest.raises(CheckpointError, match="1 missing keys:\n  unet.up_blocks.1.resnets.0.tem_norm.bias"):
        load_model(tmp_path / "broken.safetensors", configs=parity_temporal_dir / "configs.json")


def test_image_checkpoint_where_temporal_is_needed_and_the_reverse(parity_temporal_dir, tmp_path,
                                                                   temporal_checkpoint):
    image_sd = {k: v for k, v in load_file(str(parity_temporal_dir / "weights.safetensors")).items()
                if ".tem_" not in k}
    image = tmp_path / "image.safetensors"
    save_file(image_sd, str(image))
    with pytest.raises(CheckpointError, match="image-model checkpoint, but the caller asks for the temporal "
                                              "model; give a temporal checkpoint"):
        load_model(image, configs=parity_temporal_dir / "configs.json", variant="temporal")
    with pytest.raises(CheckpointError, match="image-model checkpoint, but the given configs describe the "
                                              "temporal model"):
        load_model(image, configs=parity_temporal_dir / "configs.json")
    with pytest.raises(CheckpointError, match="temporal-model checkpoint, but the caller asks for the image "
                                              "model; give an image-model checkpoint"):
        load_model(temporal_checkpoint, variant="image")
    cfg = json.loads((parity_temporal_dir / "configs.json").read_text())
    cfg["derived"]["unet_effective"]["down_block_types"] = ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"]
    (tmp_path / "image_configs.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="temporal-model checkpoint, but the given configs describe the image"):
        load_model(parity_temporal_dir / "weights.safetensors", configs=tmp_path / "image_configs.json")
    # configs that do not name a variant: the file decides
    del cfg["derived"]
    (tmp_path / "plain_configs.json").write_text(json.dumps(cfg))
    model = load_model(parity_temporal_dir / "weights.safetensors", configs=tmp_path / "plain_configs.json")
    assert model.is_temporal
