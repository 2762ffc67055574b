"""Load DisCo Model + DisCo Sampler with a temporal checkpoint (tiny, converted from the carried fixture)."""
import importlib
from pathlib import Path

import pytest
import torch

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "parity" / "temporal"
SAMPLE = dict(seed=7, steps=2, cfg=1.5, scheduler="ddim", width=64, height=64, fit="crop", frames_per_batch=4)


@pytest.fixture(scope="module")
def nodes(pack):
    return {k: v() for k, v in pack.NODE_CLASS_MAPPINGS.items()}


@pytest.fixture(scope="module")
def sockets(pack):
    return importlib.import_module(pack.__name__ + ".sockets")


@pytest.fixture(scope="module")
def temporal_loaded(nodes, core, tmp_path_factory):
    import os

    folder = tmp_path_factory.mktemp("temporal_models")
    core.convert_checkpoint(FIXTURE / "weights.safetensors", folder / "temporal.safetensors",
                            configs=FIXTURE / "configs.json")
    os.environ["DISCO_MODELS_DIR"] = str(folder)
    try:
        (model,) = nodes["DisCoModelLoader"].load("temporal.safetensors", "fp32", "auto")
    finally:
        del os.environ["DISCO_MODELS_DIR"]
    return model


@pytest.fixture(scope="module")
def inputs(sockets):
    g = torch.Generator().manual_seed(0)
    mask = torch.zeros(1, 1, 80, 60)
    mask[..., 10:70, 15:45] = 1
    reference = sockets.DiscoReference(image=torch.rand(1, 3, 80, 60, generator=g), mask=mask)
    frames = importlib.import_module(sockets.__name__.rsplit(".", 2)[0] + ".disco_core.pose.frames")
    poses = sockets.DiscoPoses(frames=frames.TensorFrames(torch.rand(5, 3, 48, 48, generator=g)), fps=10.0)
    return reference, poses


def test_loader_picks_the_temporal_model_from_the_file(temporal_loaded):
    assert temporal_loaded.model.is_temporal


def test_sampler_runs_windows_and_the_options_reach_the_model(nodes, temporal_loaded, inputs):
    reference, poses = inputs
    sampler = nodes["DisCoSampler"]
    a, fps = sampler.sample(temporal_loaded, reference, poses, window=4, overlap=2, **SAMPLE)
    assert a.shape == (5, 64, 64, 3) and fps == 10.0 and 0 <= a.min() and a.max() <= 1
    b, _ = sampler.sample(temporal_loaded, reference, poses, window=2, overlap=1, **SAMPLE)
    assert (a - b).abs().mean() > 1e-4                  # a different window size changes the video


def test_window_inputs_say_the_image_model_ignores_them(pack):
    optional = pack.NODE_CLASS_MAPPINGS["DisCoSampler"].INPUT_TYPES()["optional"]
    for name in ("window", "overlap"):
        assert "image models ignore it" in optional[name][1]["tooltip"]
    assert optional["window"][1]["default"] == 16 and optional["overlap"][1]["default"] == 4


def test_overlap_not_below_window_is_an_actionable_error(nodes, temporal_loaded, inputs, core):
    reference, poses = inputs
    with pytest.raises(core.InputError, match="overlap must be between 0 and window - 1"):
        nodes["DisCoSampler"].sample(temporal_loaded, reference, poses, window=4, overlap=4, **SAMPLE)
