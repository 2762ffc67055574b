"""Tiny-model helpers for the fine-tuning tests: the in-repo train_crossattn fixture's weights as a checkpoint, and
a synthetic 'person' (frames, masks, rendered poses) that needs no detector."""
from __future__ import annotations

from pathlib import Path

import torch

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "parity" / "train_crossattn"


def tiny_base(tmp_dir: Path) -> Path:
    from disco_core import convert_checkpoint
    return convert_checkpoint(FIXTURE / "weights.safetensors", tmp_dir / "disco_tiny.safetensors",
                              configs=FIXTURE / "configs.json")


def load_base(path: Path):
    from disco_core import load_model
    from disco_core.training.personal import remember_base
    return remember_base(load_model(path, keep_file_precision=False), path)


def synthetic_person(n: int = 4, h: int = 48, w: int = 40, seed: int = 0):
    """A red figure on a noisy grey background that moves a little from frame to frame."""
    from disco_core.training.data import PersonFrames
    g = torch.Generator().manual_seed(seed)
    frames = torch.rand(n, 3, h, w, generator=g) * 0.2 + 0.4
    masks = torch.zeros(n, 1, h, w)
    poses = torch.zeros(n, 3, h, w)
    for i in range(n):
        top, left = 8 + i, 10 + i
        frames[i, :, top:top + 30, left:left + 16] = torch.tensor([0.9, 0.15, 0.1])[:, None, None]
        masks[i, :, top:top + 30, left:left + 16] = 1
        poses[i, i % 3, top:top + 30, left + 6:left + 10] = 1
    return PersonFrames(frames, masks, poses)
