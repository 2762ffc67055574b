"""The image parity fixture run through this pack's sampler; temporal fixtures go to parity/temporal.py."""
from __future__ import annotations

import torch

from ..model.checkpoint import load_model
from ..model.config import DiscoConfig
from ..model.encode import decode
from ..model.networks import DiscoModel
from ..sampling.steps import Conditioning, denoise
from .fixtures import Fixture, FixtureRun, ParityResult, compare
from .temporal import run_temporal


def run_fixture(fx: Fixture, model: DiscoModel | None = None, *, uncond: str | None = None,
                pose_scale: float | None = None, background_scale: float | None = None) -> ParityResult:
    """Run our pipeline on the fixture's preprocessed inputs and random draws; compare every stored tensor."""
    if model is None:
        model = load_model(fx.path / "weights.safetensors", configs=DiscoConfig.from_dict(fx.configs),
                           variant=fx.meta["model"])
    if fx.meta["model"] == "temporal":
        return compare(run_temporal(fx, model, uncond=uncond, pose_scale=pose_scale,
                                    background_scale=background_scale), fx.outputs)
    ours: dict[str, torch.Tensor] = {}
    trace = ours.__setitem__
    run = FixtureRun.start(fx, model, uncond, pose_scale, background_scale, trace)
    with torch.no_grad():
        latents = denoise(model, fx.inputs["init_noise"],
                          Conditioning(run.tokens, run.uncond, fx.inputs["cond_imgs"], run.background),
                          trace=trace, **run.sampler_kwargs)
        trace("logits_imgs", decode(model, latents, trace))
    return compare(ours, fx.outputs)
