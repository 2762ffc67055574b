"""ComfyUI memory and previews: the sampler asks load_models_gpu for a real activation estimate, and step
previews follow --preview-method (none: nothing computed; otherwise a latent projection, never a VAE decode)."""
import importlib
import tempfile
import types

import pytest
import torch
from PIL import Image

from tests.nodes.tiny_graph import tiny_graph

SAMPLE = dict(seed=7, steps=3, cfg=1.5, scheduler="ddim", width=64, height=64, fit="crop", frames_per_batch=2)


@pytest.fixture(scope="module")
def setup(pack, models_dir):
    return tiny_graph(pack, models_dir, 3)


def test_sampler_passes_the_activation_estimate_to_the_memory_manager(setup, monkeypatch, core):
    """Mutation that must fail: `model.ready()` without memory_required (ComfyUI then reserves nothing)."""
    nodes, model, reference, poses, _ = setup
    memory = importlib.import_module(core.__name__ + ".sampling.memory")
    asked = []
    monkeypatch.setattr(model, "ready", lambda memory_required=0: asked.append(memory_required) or "cpu")
    nodes["DisCoSampler"].sample(model, reference, poses, **SAMPLE)
    assert asked == [memory.activation_bytes(2, 64, 64, torch.float32, 1.5)]
    nodes["DisCoSampler"].sample(model, reference, poses, **{**SAMPLE, "frames_per_batch": 8, "cfg": 1.0})
    assert asked[-1] == memory.activation_bytes(3, 64, 64, torch.float32, 1.0)  # a chunk never exceeds the poses


class FakeBar:
    def __init__(self, total, node_id=None):
        self.updates = []
        FakeBar.last = self

    def update_absolute(self, value, total=None, preview=None):
        self.updates.append((value, preview))


def _in_fake_comfyui(glue, monkeypatch, method, previewer=None):
    monkeypatch.setattr(glue, "IN_COMFYUI", True)
    monkeypatch.setattr(glue, "comfy", types.SimpleNamespace(utils=types.SimpleNamespace(ProgressBar=FakeBar)),
                        raising=False)
    monkeypatch.setattr(glue, "mm", types.SimpleNamespace(throw_exception_if_processing_interrupted=lambda: None),
                        raising=False)
    monkeypatch.setattr(glue, "folder_paths", types.SimpleNamespace(get_temp_directory=tempfile.gettempdir),
                        raising=False)
    monkeypatch.setattr(glue, "preview_method", lambda: method)
    if previewer is not None:
        monkeypatch.setattr(glue, "latent_previewer", lambda: previewer)


def _count_vae_decodes(model):
    calls = []
    handle = model.model.vae.decoder.register_forward_hook(lambda *_: calls.append(1))
    return calls, handle


def test_preview_method_none_computes_no_preview(setup, monkeypatch):
    """Mutation that must fail: `preview_every` returning steps // 10 again (a VAE decode per preview)."""
    nodes, model, reference, poses, glue = setup
    _in_fake_comfyui(glue, monkeypatch, "none")
    calls, handle = _count_vae_decodes(model)
    try:
        nodes["DisCoSampler"].sample(model, reference, poses, **SAMPLE)
    finally:
        handle.remove()
    assert len(calls) == 2  # the two chunks' final frames only
    assert [v for v, _ in FakeBar.last.updates] == list(range(1, 7))
    assert all(p is None for _, p in FakeBar.last.updates)


def test_default_previews_are_a_latent_projection_every_step_not_a_vae_decode(setup, monkeypatch):
    """Mutation that must fail: `progress` ignoring the previewer (no previews in ComfyUI)."""
    nodes, model, reference, poses, glue = setup
    seen = []

    class Latent2RGB:  # the interface of ComfyUI's latent_preview previewers
        def decode_latent_to_preview_image(self, fmt, x0):
            seen.append(tuple(x0.shape))
            return fmt, Image.new("RGB", (x0.shape[-1], x0.shape[-2])), 512
    _in_fake_comfyui(glue, monkeypatch, "auto", Latent2RGB())
    calls, handle = _count_vae_decodes(model)
    try:
        nodes["DisCoSampler"].sample(model, reference, poses, **SAMPLE)
    finally:
        handle.remove()
    assert len(calls) == 2
    assert seen == [(1, 4, 8, 8)] * 6  # one latent frame per step, 64 px / 8
    assert all(p is not None and p[0] == "JPEG" for _, p in FakeBar.last.updates)
