"""One official fine-tuning step (loss, every gradient, the AdamW update) is reproduced, and each of the errors
the fixture exists to catch breaks it. Runs on the in-repo copy of shared/reference/parity/train_crossattn."""
from pathlib import Path

import pytest
import torch

from disco_core.cli import main
from disco_core.parity.training import TrainFixture, run_train_fixture
from tests.paths import SHARED_DATA_REASON

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "parity" / "train_crossattn"
TOL = 1e-4


@pytest.fixture(scope="module")
def fx():
    return TrainFixture.load(FIXTURE)


def test_training_step_matches_official(fx):
    result = run_train_fixture(fx)
    grads = [k for k in result.errors if k.startswith("grad.")]
    assert len(grads) == len(fx.trainable) == 103
    assert len([k for k in result.errors if k.startswith("adamw.")]) == 8
    assert result.errors["loss"] <= TOL and result.errors["trainable_set"] == 0
    assert result.max_rel_err <= TOL, {k: v for k, v in result.errors.items() if v > TOL}


def test_check_parity_command_on_training_fixture(capsys):
    assert main(["check-parity", str(FIXTURE)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert any(line.startswith("grad.refer_clip_proj.weight") for line in out)
    assert out[-1].startswith("max_rel_err=") and float(out[-1].split("=")[1]) <= TOL
    assert main(["check-parity", str(FIXTURE), "--tol", "1e-9"]) == 1


def test_wrong_parameter_set_breaks_parity(fx):
    """Mutation: drop the official `nets.0` quirk, i.e. also train the background ControlNet's resnets.0."""
    fixed = fx.trainable + [n for n in _background_resnet0_names(fx)]
    assert run_train_fixture(fx, trainable=fixed).errors["trainable_set"] > TOL
    kv_only = [n for n in fx.trainable if not (n.startswith("unet.") and ("to_q" in n or "to_out" in n))]
    result = run_train_fixture(fx, trainable=kv_only)  # crossattn-kv instead of crossattn
    assert result.max_rel_err > TOL and result.errors["grad.unet.mid_block.attentions.0.transformer_blocks.0.attn2.to_q.weight"] > 1


def _background_resnet0_names(fx):
    from disco_core.model.checkpoint import load_model
    from disco_core.model.config import DiscoConfig
    model = load_model(fx.path / "weights.safetensors", configs=DiscoConfig.from_dict(fx.configs))
    names = [n for n, _ in model.named_parameters() if n.startswith("controlnet.nets.1.") and "resnets.0" in n]
    assert names, "the tiny background ControlNet has resnets.0 tensors"
    return names


def test_wrong_timestep_noise_pairing_breaks_parity(fx):
    """Mutation: give each sample the other sample's timestep (same draws, wrong pairing)."""
    draws = fx.draws()
    draws.timesteps = draws.timesteps.flip(0)
    result = run_train_fixture(fx, draws=draws)
    assert result.errors["loss"] > 1e-3 and result.errors["noisy_latents"] > 1e-2
    assert result.errors["grad.refer_clip_proj.weight"] > 1e-2


def test_missing_controlnet_branch_breaks_parity(fx):
    """Mutation: leave out the pose ControlNet's residuals (the frozen branch is easy to forget in training)."""
    result = run_train_fixture(fx, branches=("background",))
    assert result.errors["model_pred"] > 1e-2 and result.max_rel_err > TOL


@pytest.mark.shared_data
def test_fixture_is_the_shared_one_byte_for_byte():
    shared = FIXTURE.parents[3].parent / "shared" / "reference" / "parity" / "train_crossattn"
    if not shared.is_dir():
        pytest.skip(SHARED_DATA_REASON)
    for f in shared.iterdir():
        assert (FIXTURE / f.name).read_bytes() == f.read_bytes(), f.name


def test_official_set_at_full_size_is_353_tensors_309m_elements():
    """Counted on the meta device (no memory). 353 / 309,278,272 come from running the official freeze code."""
    from disco_core import DiscoConfig, build_model
    from disco_core.training.trainable import count, official_trainable_names
    model = build_model(DiscoConfig.sd_image_variations(), device="meta")
    names = official_trainable_names(model)
    tensors, elements = count(model, names)
    assert tensors == 353 and elements == 309_278_272  # README: 1.2 GB as fp32
    assert not any(n.startswith(("controlnet.nets.0.", "vae.", "clip_image_encoder.")) for n in names)
    assert not any(n.startswith("controlnet.nets.1.") and "resnets.0" in n for n in names)


def test_crossattn_kv_and_lora_sets_at_full_size_are_the_readme_sizes():
    """README "What trains": crossattn-kv 305 tensors / 284,484,992 values; LoRA rank 4 256 tensors / 797,184
    values (3 MB as fp32). Counted on the meta device."""
    from disco_core import DiscoConfig, build_model
    from disco_core.training import lora
    from disco_core.training.trainable import count, official_trainable_names
    model = build_model(DiscoConfig.sd_image_variations(), device="meta")
    assert count(model, official_trainable_names(model, "crossattn-kv")) == (305, 284_484_992)
    adapters = lora.adapters_state(lora.add_lora(model, rank=4))
    values = sum(t.numel() for t in adapters.values())
    assert (len(adapters), values) == (256, 797_184) and round(values * 4 / 1e6) == 3


def test_official_set_on_tiny_model_is_the_fixture_list(fx):
    from disco_core.model.checkpoint import load_model
    from disco_core.model.config import DiscoConfig
    from disco_core.training.trainable import official_trainable_names
    model = load_model(fx.path / "weights.safetensors", configs=DiscoConfig.from_dict(fx.configs))
    assert sorted(official_trainable_names(model)) == sorted(fx.trainable)
