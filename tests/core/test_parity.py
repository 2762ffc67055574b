"""The official outputs are reproduced, and each wiring error the fixture is built to catch breaks parity."""
import pytest
import torch

from disco_core.cli import main
from disco_core.parity.image import run_fixture
from tests.paths import SHARED_DATA_REASON

TOL = 1e-4


def test_parity_with_official_outputs(parity_fixture, tiny_model):
    result = run_fixture(parity_fixture, tiny_model)
    assert set(result.errors) == set(parity_fixture.outputs), "every official tensor is compared"
    assert result.errors["final_latents"] <= TOL
    assert result.errors["logits_imgs"] <= TOL
    assert result.max_rel_err <= TOL, {k: v for k, v in result.errors.items() if v > TOL}


@pytest.mark.parametrize("wrong", [dict(pose_scale=0.0), dict(background_scale=0.0), dict(uncond="zeros")],
                         ids=["no-pose-branch", "no-background-branch", "wrong-cfg-uncond"])
def test_parity_fails_when_wired_wrong(parity_fixture, tiny_model, wrong):
    assert run_fixture(parity_fixture, tiny_model, **wrong).errors["final_latents"] > 0.05


def test_parity_fails_with_in_place_residual_add(parity_fixture, tiny_model):
    """Stock diffusers 0.14 added the last down residual in place, so the mid block saw it: emulate that."""
    unet = tiny_model.unet
    original = unet.forward

    def stock_014(sample, t, encoder_hidden_states=None, down_block_additional_residuals=None, **kw):
        last = down_block_additional_residuals[-1] if down_block_additional_residuals else None

        def add_to_mid_input(module, args):
            return (args[0] + last,) + tuple(args[1:])
        handle = unet.mid_block.register_forward_pre_hook(add_to_mid_input)
        try:
            return original(sample, t, encoder_hidden_states=encoder_hidden_states,
                            down_block_additional_residuals=down_block_additional_residuals, **kw)
        finally:
            handle.remove()

    unet.forward = stock_014
    try:
        result = run_fixture(parity_fixture, tiny_model)
    finally:
        del unet.forward
    assert result.errors["step0_noise_pred_raw"] > 0.05
    assert result.max_rel_err > TOL


def test_check_parity_command(parity_image_dir, capsys):
    assert main(["check-parity", str(parity_image_dir), "--tol", "1e-4"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert any(line.startswith("final_latents") for line in out)
    value = float(out[-1].split("=", 1)[1])
    assert out[-1].startswith("max_rel_err=") and value <= 1e-4
    assert main(["check-parity", str(parity_image_dir), "--tol", "1e-9"]) == 1


@pytest.mark.shared_data
def test_image_fixture_is_an_exact_copy_of_the_shared_one(parity_image_dir):
    from tests.paths import SHARED

    shared = SHARED / "reference" / "parity" / "image"
    if not shared.is_dir():
        pytest.skip(SHARED_DATA_REASON)
    for f in shared.iterdir():
        assert (parity_image_dir / f.name).read_bytes() == f.read_bytes(), f.name
