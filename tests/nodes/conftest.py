"""Fixtures for node tests: the pack imported the way ComfyUI imports it, a tiny real model, real images."""
from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.paths import PARITY_IMAGE, ROOT
from tests.synthetic_inputs import person_photo

PACK_NAME = "disco_comfy_pack"  # ComfyUI uses the folder path as the module name; any name works


def load_pack():
    """Import the repository as a package (relative imports between nodes/ and disco_core/ work as in ComfyUI)."""
    if PACK_NAME not in sys.modules:
        spec = importlib.util.spec_from_file_location(PACK_NAME, ROOT / "__init__.py",
                                                      submodule_search_locations=[str(ROOT)])
        module = importlib.util.module_from_spec(spec)
        sys.modules[PACK_NAME] = module
        spec.loader.exec_module(module)
    return importlib.import_module(f"{PACK_NAME}.nodes")


@pytest.fixture(scope="session")
def pack():
    return load_pack()


@pytest.fixture(scope="session")
def core(pack):
    return importlib.import_module(f"{PACK_NAME}.disco_core")


@pytest.fixture(scope="session")
def shared_data(shared_data_dir):
    return shared_data_dir


@pytest.fixture(scope="session")
def parity_dir():
    return PARITY_IMAGE


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory, core, parity_dir):
    """A models/disco folder holding the tiny fixture model converted to our .safetensors format."""
    folder = tmp_path_factory.mktemp("models") / "disco"
    folder.mkdir()
    core.convert_checkpoint(parity_dir / "weights.safetensors", folder / "tiny.safetensors",
                            configs=parity_dir / "configs.json")
    return folder


@pytest.fixture
def model_env(models_dir, tmp_path, monkeypatch):
    """A models/disco folder of this test's own (what a test saves there, e.g. a fine-tuned personal model, must
    not be seen by the next one), holding the tiny model as a hard link (a copy where links are refused)."""
    folder = tmp_path / "models" / "disco"
    folder.mkdir(parents=True)
    for source in models_dir.glob("*.safetensors"):
        try:
            os.link(source, folder / source.name)
        except OSError:
            shutil.copyfile(source, folder / source.name)
    monkeypatch.setenv("DISCO_MODELS_DIR", str(folder))
    return folder


def image_tensor(path: Path) -> torch.Tensor:
    """A file as a ComfyUI IMAGE [1,H,W,3] float 0..1 (as LoadImage gives it)."""
    from PIL import Image

    with Image.open(path) as im:
        return torch.from_numpy(np.asarray(im.convert("RGB"), np.float32) / 255.0)[None]


def mask_tensor(path: Path) -> torch.Tensor:
    """A mask file (0/255 or 0/1) as a ComfyUI MASK [1,H,W], 1 = person."""
    from PIL import Image

    with Image.open(path) as im:
        a = np.asarray(im.convert("L"), np.float32)
    return torch.from_numpy((a > 0).astype(np.float32))[None]


@pytest.fixture(scope="session")
def photo():
    """A generated portrait (painted figure on a texture), IMAGE [1,240,160,3]."""
    return person_photo()[0]


@pytest.fixture(scope="session")
def photo_mask():
    """Exactly the painted figure's pixels, MASK [1,240,160]."""
    return person_photo()[1]


@pytest.fixture(scope="session")
def real_photo(shared_data):
    return image_tensor(shared_data / "disco_demo" / "images" / "00035.png")


@pytest.fixture(scope="session")
def real_photo_mask(shared_data):
    return mask_tensor(shared_data / "disco_demo" / "masks" / "00035.png")


@pytest.fixture(scope="session")
def driving_frames(shared_data):
    """The shared dance clip as an IMAGE batch [45,350,350,3]."""
    from PIL import Image, ImageSequence

    with Image.open(shared_data / "clips" / "dance_fullbody_350.webp") as im:
        frames = [np.asarray(f.convert("RGB"), np.float32) / 255.0 for f in ImageSequence.Iterator(im)]
    return torch.from_numpy(np.stack(frames))
