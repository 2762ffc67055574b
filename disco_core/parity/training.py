"""One official training step, reproduced on the `train_crossattn` parity fixture.

The fixture (shared/reference/parity/train_crossattn, carried in tests/fixtures/parity/) holds a tiny official-layout
model, a preprocessed batch, the step's random draws, and what the official code computed: intermediates, the loss,
the gradient of every trainable tensor and 8 tensors after one AdamW step. We build the model, train the same set,
replay the draws and compare everything; the trainable set itself must match name for name.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from ..model.checkpoint import load_model
from ..model.config import DiscoConfig
from .fixtures import FixtureFiles, ParityResult, relative_error
from ..training.objective import BRANCHES, Batch, Draws, denoising_loss, training_scheduler
from ..training.optim import make_optimizer
from ..training.modes import set_official_modes
from ..training.trainable import official_trainable_names

TRAINING_CASE = "human-specific fine-tuning"


def is_training_fixture(path: str | Path) -> bool:
    meta = Path(path) / "meta.json"
    try:
        return TRAINING_CASE in json.loads(meta.read_text()).get("model", "")
    except (OSError, json.JSONDecodeError):
        return False


class TrainFixture(FixtureFiles):
    """The training-step fixture: the files, and the batch, draws and trainable set they hold."""

    @classmethod
    def load(cls, path: str | Path) -> "TrainFixture":
        return cls.read(path, layout="train_crossattn")

    def batch(self) -> Batch:
        i = self.inputs
        return Batch(i["reference_img"], i["label_imgs"], i["cond_imgs"], i["reference_img_controlnet"])

    def draws(self) -> Draws:
        i = self.inputs
        return Draws(i["vae_posterior_noise_label"], i["noise"], i["timesteps"], i["vae_posterior_noise_background"])

    @property
    def trainable(self) -> list[str]:
        return list(self.meta["trainable_parameters"])


def run_train_fixture(fx: TrainFixture, *, trainable: list[str] | None = None, draws: Draws | None = None,
                      branches: tuple[str, ...] = BRANCHES) -> ParityResult:
    """Replay the official step; `trainable`, `draws` and `branches` exist so tests can break it on purpose."""
    model = load_model(fx.path / "weights.safetensors", configs=DiscoConfig.from_dict(fx.configs),
                       keep_file_precision=False)
    names = official_trainable_names(model) if trainable is None else trainable
    params = dict(model.named_parameters())
    for name in names:
        params[name].requires_grad_(True)
    set_official_modes(model)
    for net in model.controlnet.nets:  # as the official Net.__init__ does (recomputation only)
        net.enable_gradient_checkpointing()

    ours: dict[str, torch.Tensor] = {}

    def trace(name, value):
        if name == "encoder_hidden_states" and value.requires_grad:
            value.retain_grad()
        ours[name] = value

    loss = denoising_loss(model, fx.batch(), draws or fx.draws(), training_scheduler(fx.configs["scheduler"]),
                          branches=branches, trace=trace)
    loss.backward()
    ours["loss"] = loss.detach()
    if ours["encoder_hidden_states"].grad is not None:
        ours["dloss_d_encoder_hidden_states"] = ours["encoder_hidden_states"].grad
    for name in names:
        if params[name].grad is not None:
            ours[f"grad.{name}"] = params[name].grad
    make_optimizer([params[n] for n in names]).step()
    for name in names:
        ours[f"adamw.{name}"] = params[name].detach()

    result = ParityResult()
    for name, theirs in fx.outputs.items():
        if name == "loss_float64":
            theirs = theirs.float()
            name_ours = "loss"
        else:
            name_ours = name
        result.errors[name] = (relative_error(ours[name_ours], theirs) if name_ours in ours else float("inf"))
    # The same tensors must train: extra ones would change the model without changing any stored gradient.
    result.errors["trainable_set"] = 0.0 if sorted(names) == sorted(fx.trainable) else float("inf")
    return result
