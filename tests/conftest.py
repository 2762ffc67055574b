"""Shared fixtures: the shared data folder, the official parity fixture and a tiny DisCo model built from it."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared data folder {SHARED} is absent (it sits beside the project checkout)")
    return SHARED


@pytest.fixture(scope="session")
def parity_image_dir(shared_dir) -> Path:
    return shared_dir / "reference" / "parity" / "image"


@pytest.fixture(scope="session")
def parity_fixture(parity_image_dir):
    from disco_core.parity import Fixture
    return Fixture.load(parity_image_dir)


@pytest.fixture(scope="session")
def tiny_checkpoint(parity_image_dir, tmp_path_factory) -> Path:
    """The parity fixture's official-layout weights converted into one self-describing .safetensors."""
    from disco_core import convert_checkpoint
    out = tmp_path_factory.mktemp("models") / "disco_tiny.safetensors"
    return convert_checkpoint(parity_image_dir / "weights.safetensors", out,
                              configs=parity_image_dir / "configs.json")


@pytest.fixture(scope="session")
def tiny_model(tiny_checkpoint):
    from disco_core import load_model
    return load_model(tiny_checkpoint)


@pytest.fixture
def person_inputs():
    """A synthetic portrait photo, its mask and three different pose images (fast, deterministic)."""
    g = torch.Generator().manual_seed(0)
    reference = torch.rand(1, 3, 96, 64, generator=g)
    mask = torch.zeros(1, 1, 96, 64)
    mask[..., 20:80, 20:44] = 1
    poses = torch.zeros(3, 3, 80, 60)
    for i in range(3):
        poses[i, i % 3, 10 + 10 * i:40 + 10 * i, 20:30] = 0.6
    return reference, mask, poses


# The temporal model (issue 8): its parity fixture is carried in the repository.
PARITY_TEMPORAL = ROOT / "tests" / "fixtures" / "parity" / "temporal"


@pytest.fixture(scope="session")
def parity_temporal_dir() -> Path:
    return PARITY_TEMPORAL


@pytest.fixture(scope="session")
def temporal_fixture():
    from disco_core.parity import Fixture
    return Fixture.load(PARITY_TEMPORAL)


@pytest.fixture(scope="session")
def temporal_checkpoint(tmp_path_factory) -> Path:
    """The temporal fixture's official-layout weights converted into one self-describing .safetensors."""
    from disco_core import convert_checkpoint
    out = tmp_path_factory.mktemp("models") / "disco_temporal_tiny.safetensors"
    return convert_checkpoint(PARITY_TEMPORAL / "weights.safetensors", out, configs=PARITY_TEMPORAL / "configs.json")


@pytest.fixture(scope="session")
def temporal_model(temporal_checkpoint):
    from disco_core import load_model
    return load_model(temporal_checkpoint)
