"""Fine-tuning the tiny model: it learns its frames, saves only what changed, and round-trips exactly."""
from __future__ import annotations

import pytest
import torch

from disco_core.errors import Cancelled, CheckpointError, InputError
from disco_core.training.personal import apply_personal, read_personal, save_personal
from disco_core.training.trainer import FineTuneSettings, FineTuner, evaluation_loss, fine_tune

from tests.core.training_helpers import load_base, synthetic_person, tiny_base

SIZE = dict(height=32, width=32)


@pytest.fixture(scope="module")
def base_path(tmp_path_factory):
    return tiny_base(tmp_path_factory.mktemp("base"))


@pytest.fixture(scope="module")
def person():
    return synthetic_person()


@pytest.fixture(scope="module")
def official_run(base_path, person):
    base = load_base(base_path)
    before = {k: v.clone() for k, v in base.state_dict().items()}
    reports = []

    def on_step(report):
        report.checkpointing = [result_model().unet.is_gradient_checkpointing]
        reports.append(report)

    tuner = FineTuner(base, person, FineTuneSettings(steps=10, batch_size=2, seed=3, **SIZE))
    result_model = lambda: tuner.model  # noqa: E731
    result = tuner.run(on_step=on_step)
    return base, before, result, reports


def _eval(model, person):
    return evaluation_loss(model, person, batches=2, batch_size=2, **SIZE)


def test_fine_tune_lowers_the_loss_on_its_own_frames(official_run, person):
    """Mutation seen failing: optimizer.step() removed from train_step -> the loss does not move."""
    base, _, result, reports = official_run
    before, after = _eval(base, person), _eval(result.model, person)
    assert after < 0.95 * before, (before, after)
    assert [r.step for r in reports] == list(range(1, 11)) and all(r.total == 10 for r in reports)
    assert [r.loss for r in reports] == result.losses
    # warm-up: the first update uses the official minimum lr, the peak is the base lr after 10 % of the steps
    assert reports[0].lr == pytest.approx(1e-8) and max(r.lr for r in reports) == pytest.approx(1e-3)


def test_gradient_checkpointing_is_on_while_training_only(official_run):
    _, _, result, reports = official_run
    assert all(r.checkpointing == [True] for r in reports)
    assert not result.model.unet.is_gradient_checkpointing and not result.model.training


def test_bf16_autocast_keeps_fp32_master_weights_and_the_model_dtype(base_path, person):
    from disco_core import load_model
    from disco_core.training.personal import remember_base
    base = remember_base(load_model(base_path, dtype=torch.bfloat16), base_path)
    result = fine_tune(base, person, FineTuneSettings(steps=2, batch_size=1, height=16, width=16))
    assert all(v.dtype == torch.float32 for v in result.trained.values())  # master weights
    name = "unet.mid_block.attentions.0.transformer_blocks.0.attn2.to_q.weight"
    trained = dict(result.model.named_parameters())[name]
    assert trained.dtype == torch.bfloat16 and torch.equal(trained, result.trained[name].to(torch.bfloat16))
    assert all(l == l and l < 10 for l in result.losses)
    assert not torch.equal(trained, dict(base.named_parameters())[name])


def test_base_model_is_not_modified(official_run):
    base, before, result, _ = official_run
    assert all(torch.equal(before[k], v) for k, v in base.state_dict().items())
    assert set(result.trained) and all(v.dtype == torch.float32 for v in result.trained.values())
    changed = [k for k, v in result.model.state_dict().items() if not torch.equal(v, before[k])]
    assert sorted(changed) == sorted(result.trained)  # exactly the official set changed, nothing else


def test_personal_file_holds_only_the_trained_tensors_and_round_trips(official_run, base_path, tmp_path):
    base, _, result, _ = official_run
    from disco_core.training.personal import base_identity
    name, sha = base_identity(base)
    out = save_personal(result, tmp_path / "me.safetensors", name, sha)
    tensors, meta = read_personal(out)
    assert sorted(tensors) == sorted(result.trained) and meta["base_sha256"] == sha
    assert meta["base_name"] == base_path.name and meta["trainable"] == "official"
    assert out.stat().st_size < 0.5 * base_path.stat().st_size
    fresh = apply_personal(load_base(base_path), out)
    trained = result.model.state_dict()
    assert all(torch.equal(v, trained[k]) for k, v in fresh.state_dict().items())


def test_personal_file_is_refused_on_another_base(official_run, base_path, tmp_path):
    base, _, result, _ = official_run
    out = save_personal(result, tmp_path / "me.safetensors", "disco_tiny.safetensors", "0" * 64)
    with pytest.raises(CheckpointError, match="was trained on 'disco_tiny.safetensors'.*fine-tune again"):
        apply_personal(load_base(base_path), out)


def test_lora_trains_only_adapters_and_round_trips(base_path, person, tmp_path):
    base = load_base(base_path)
    result = fine_tune(base, person, FineTuneSettings(steps=3, batch_size=1, trainable="lora", rank=2, **SIZE))
    assert result.trained and all(k.startswith("lora.") and k.endswith((".down.weight", ".up.weight"))
                                  for k in result.trained)
    assert all(v.shape[0] == 2 for k, v in result.trained.items() if k.endswith("down.weight"))
    assert any(float(v.abs().max()) > 0 for k, v in result.trained.items() if k.endswith("up.weight"))
    from disco_core.training.personal import base_identity
    out = save_personal(result, tmp_path / "lora.safetensors", *base_identity(base))
    fresh = apply_personal(load_base(base_path), out)
    x = torch.Generator().manual_seed(1)
    assert _eval(fresh, person) == _eval(result.model, person)
    assert _eval(fresh, person) != _eval(base, person)  # the adapters do something
    trained = result.model.state_dict()
    assert all(torch.equal(v, trained[k]) for k, v in fresh.state_dict().items())


def test_cancel_saves_state_and_resume_gives_the_uninterrupted_result(base_path, person, tmp_path):
    settings = dict(steps=4, batch_size=1, seed=5, trainable="crossattn-kv", height=16, width=16)
    straight = fine_tune(load_base(base_path), person, FineTuneSettings(**settings))
    calls = []

    def cancel_after_two():
        calls.append(1)
        return len(calls) > 2

    state = tmp_path / "state.safetensors"
    with pytest.raises(Cancelled, match="after 2 of 4 steps"):
        fine_tune(load_base(base_path), person, FineTuneSettings(**settings), should_cancel=cancel_after_two,
                  state_path=state)
    resumed = fine_tune(load_base(base_path), person, FineTuneSettings(**settings), resume=state)
    assert resumed.losses == straight.losses
    assert all(torch.equal(resumed.trained[k], v) for k, v in straight.trained.items())
    with pytest.raises(InputError, match="other settings"):
        fine_tune(load_base(base_path), person, FineTuneSettings(**{**settings, "lr": 5e-4}), resume=state)


def test_bad_settings_are_refused_with_what_to_do():
    with pytest.raises(InputError, match="trainable set 'everything' is unknown"):
        FineTuneSettings(trainable="everything")
    with pytest.raises(InputError, match="steps must be at least 1"):
        FineTuneSettings(steps=0)
    assert FineTuneSettings(trainable="crossattn").trainable == "official"


def test_fine_tune_works_inside_inference_mode_as_comfyui_runs_nodes(base_path, person):
    """ComfyUI executes nodes under torch.inference_mode, so the base weights are inference tensors.
    Before the training-mode wrapper, the real ComfyUI run failed with "element 0 of tensors does not require
    grad" (tests/integration)."""
    with torch.inference_mode():
        base = load_base(base_path)
        result = fine_tune(base, person, FineTuneSettings(steps=1, batch_size=1, trainable="lora", rank=2,
                                                          height=16, width=16))
    assert len(result.losses) == 1 and result.trained


def test_fine_tunes_a_model_loaded_with_the_file_precision_default(base_path, person):
    """The loader's default keeps the file's fp16 weights, widened layer by layer (what ComfyUI's loader node gives).
    Mutation seen failing: the trainer's widening of the copy removed -> "mat1 and mat2 must have the same dtype"."""
    from disco_core import load_model
    base = load_model(base_path)
    assert base.unet.conv_in.weight.dtype == torch.float16 and base.dtype == torch.float32
    result = FineTuner(base, person, FineTuneSettings(steps=2, batch_size=1, seed=1, **SIZE)).run()
    assert len(result.losses) == 2 and all(torch.isfinite(torch.tensor(result.losses)))
    assert base.unet.conv_in.weight.dtype == torch.float16  # the base is left as it was
