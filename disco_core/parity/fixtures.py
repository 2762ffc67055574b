"""Parity fixtures: reading one, the shared start of a run on it, and comparing our tensors with the official ones.

A fixture folder holds configs.json, weights.safetensors (official layout), inputs.safetensors (the official
preprocessed tensors and its two random draws) and outputs.safetensors (final latents, images, intermediates);
see shared/reference/README.md.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file

from ..errors import InputError
from ..model.encode import background_latents, clip_tokens, uncond_tokens
from ..sampling.steps import make_scheduler

FIXTURE_FILES = ("configs.json", "meta.json", "weights.safetensors", "inputs.safetensors", "outputs.safetensors")


class UnsupportedFixture(InputError):
    pass


@dataclass
class FixtureFiles:
    """The five files of a parity fixture folder, read."""
    path: Path
    configs: dict
    meta: dict
    inputs: dict
    outputs: dict

    @classmethod
    def read(cls, path: str | Path, layout: str = "<case>", models: tuple[str, ...] | None = None):
        """`layout`: the shared/reference/parity/ folder it should look like (for the error); `models`: the
        meta.json `model` values accepted (others raise UnsupportedFixture before the tensors are read)."""
        path = Path(path)
        missing = [f for f in FIXTURE_FILES if not (path / f).is_file()]
        if missing:
            raise InputError(f"{path} is not a parity fixture folder: {missing} missing "
                             f"(expected the layout of shared/reference/parity/{layout}/)")
        meta = json.loads((path / "meta.json").read_text())
        if models is not None and meta.get("model") not in models:
            raise UnsupportedFixture(f"{path.name}: model {meta.get('model')!r} is not one this pack runs "
                                     f"({', '.join(models)}), so this fixture cannot be checked.")
        return cls(path, json.loads((path / "configs.json").read_text()), meta,
                   load_file(str(path / "inputs.safetensors")), load_file(str(path / "outputs.safetensors")))


class Fixture(FixtureFiles):
    """A sampling fixture of the image or the temporal model."""

    @classmethod
    def load(cls, path: str | Path) -> "Fixture":
        return cls.read(path, models=("image", "temporal"))


def relative_error(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    ours, theirs = ours.detach().double().cpu(), theirs.detach().double().cpu()
    if ours.shape != theirs.shape:
        return float("inf")
    return float((ours - theirs).norm() / theirs.norm().clamp_min(1e-12))


@dataclass
class ParityResult:
    errors: dict[str, float] = field(default_factory=dict)

    @property
    def max_rel_err(self) -> float:
        return max(self.errors.values()) if self.errors else float("inf")


@dataclass
class FixtureRun:
    """What a sampling fixture's run starts from: the reference encoded as the fixture's run encoded it, and the
    sampler settings it used (scales overridable, as check-parity's tests break them on purpose)."""
    tokens: torch.Tensor
    uncond: torch.Tensor | None
    background: torch.Tensor
    sampler_kwargs: dict

    @classmethod
    @torch.no_grad()
    def start(cls, fx: Fixture, model, uncond: str | None = None, pose_scale: float | None = None,
              background_scale: float | None = None, trace=None) -> "FixtureRun":
        meta, inp = fx.meta, fx.inputs
        scales = {k: v for k, v in meta.items() if k.startswith("controlnet_conditioning_scale")}
        if pose_scale is None:
            pose_scale = scales["controlnet_conditioning_scale_cond (pose, nets.0)"]
        if background_scale is None:
            background_scale = scales["controlnet_conditioning_scale_ref (background, nets.1)"]
        guidance = float(meta["guidance_scale"])
        mode = uncond or ("blank" if float(meta.get("drop_ref", 0)) > 0 else "zeros")
        tokens = clip_tokens(model, inp["reference_img"], trace)
        unc = uncond_tokens(model, inp["reference_img"], tokens, mode, trace) if guidance > 1 else None
        bg = background_latents(model, inp["reference_img_controlnet"], noise=inp["vae_posterior_noise"],
                                trace=trace)
        scheduler = make_scheduler(meta["scheduler"]["class"].replace("Scheduler", "").lower(),
                                   fx.configs["scheduler"])
        return cls(tokens, unc, bg, dict(
            scheduler=scheduler, num_inference_steps=int(meta["scheduler"]["num_inference_steps"]),
            guidance_scale=guidance, pose_scale=pose_scale, background_scale=background_scale,
            eta=float(meta["scheduler"]["eta"])))


def compare(ours: dict[str, torch.Tensor], outputs: dict[str, torch.Tensor]) -> ParityResult:
    """Relative error of every official tensor we also produced (exact equality for integer tensors)."""
    result = ParityResult()
    for name, theirs in outputs.items():
        if name in ours and theirs.is_floating_point():
            result.errors[name] = relative_error(ours[name], theirs)
        elif name in ours:
            result.errors[name] = 0.0 if torch.equal(ours[name].cpu().to(theirs.dtype), theirs) else float("inf")
    return result
