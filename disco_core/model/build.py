"""Which model class a config names, and randomly initialised models for tests and benchmarks."""
from __future__ import annotations

import torch

from .config import DiscoConfig
from .networks import DiscoModel
from .temporal import TemporalDiscoModel


def create_model(cfg: DiscoConfig) -> DiscoModel:
    """The model class the config's variant names, built on the current default device."""
    if cfg.variant == "temporal":
        return TemporalDiscoModel(cfg)
    return DiscoModel(cfg)


def build_model(cfg: DiscoConfig, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
                seed: int | None = 0) -> DiscoModel:
    """A randomly initialised model (tests, benchmarks). `device="meta"` allocates nothing."""
    if seed is not None:
        torch.manual_seed(seed)
    with torch.device(device):  # initialise in place (a GPU initialises full size in seconds)
        model = create_model(cfg)
    if str(device) != "meta":
        model.set_dtype(dtype)
    return model.eval().requires_grad_(False)
