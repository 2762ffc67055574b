"""DisCo Fine-Tune node: trains a copy, saves the personalisation where Load DisCo Model lists it, and the
loader's personalisation input reproduces the fine-tuned model exactly."""
import os

import pytest
import torch

from tests.synthetic_inputs import person_clip


@pytest.fixture
def nodes(pack):
    return pack.NODE_CLASS_MAPPINGS["DisCoFineTune"], pack.NODE_CLASS_MAPPINGS["DisCoModelLoader"]


def _frames(pack, rendered):
    """Skeleton images as DISCO_POSES carries them (drawn on demand)."""
    from importlib import import_module
    return import_module(pack.__name__.rsplit(".", 1)[0] + ".disco_core.pose.frames").TensorFrames(rendered)


def test_fine_tune_node_saves_a_personalisation_the_loader_reproduces(nodes, pack, model_env):
    from importlib import import_module
    sockets = import_module(pack.__name__ + ".sockets")
    fine_tune, loader = nodes
    (base,) = loader().load("tiny.safetensors", "fp32", "auto")
    before = {k: v.clone() for k, v in base.model.state_dict().items()}
    frames, mask, rendered = person_clip()
    tuned, curve = fine_tune().fine_tune(base, frames, steps=3, lr=1e-3, trainable="lora", batch_size=1, seed=0,
                                         save_name="me", mask=mask, poses=sockets.DiscoPoses(_frames(pack, rendered)),
                                         lora_rank=2, size=32)
    assert curve.shape == (1, 256, 512, 3) and curve.dtype == torch.float32
    assert all(torch.equal(v, before[k]) for k, v in base.model.state_dict().items()), "input model unchanged"
    saved = model_env / "personal" / "me.safetensors"
    assert saved.is_file() and not (model_env / "personal" / "me.state.safetensors").exists()
    spec = loader.INPUT_TYPES()
    assert spec["required"]["checkpoint"][0] == ["tiny.safetensors"], "personalisations are not checkpoints"
    assert spec["optional"]["personalisation"][0] == ["none", "me.safetensors"]
    (loaded,) = loader().load("tiny.safetensors", "fp32", "auto", personalisation="me.safetensors")
    expected = tuned.model.state_dict()
    got = loaded.model.state_dict()
    assert set(got) == set(expected) and any(k.startswith("lora_adapters.") for k in got)
    assert all(torch.equal(v, expected[k]) for k, v in got.items())
    assert "me.safetensors" in repr(loaded) and "tiny.safetensors + me.safetensors" in repr(loaded)
    # what DisCo Cluster's workers load: the same two files, by path
    assert loaded.model.disco_source.personal == str(saved)
    assert loaded.model.disco_source.checkpoint == str(model_env / "tiny.safetensors")
    # the base stays the checkpoint (a second personalisation is tied to it, not to "tiny + me")
    assert loaded.model.base_path == str(model_env / "tiny.safetensors") and loaded.model.base_name == "tiny.safetensors"
    # ComfyUI reloads when the personalisation file changes, not only the checkpoint
    key = loader.IS_CHANGED("tiny.safetensors", personalisation="me.safetensors")
    assert key != loader.IS_CHANGED("tiny.safetensors")
    os.utime(saved, (saved.stat().st_atime, saved.stat().st_mtime + 10))
    assert loader.IS_CHANGED("tiny.safetensors", personalisation="me.safetensors") != key


def test_fine_tune_node_refuses_a_pose_count_that_does_not_match(nodes, pack, model_env, core):
    from importlib import import_module
    sockets = import_module(pack.__name__ + ".sockets")
    fine_tune, loader = nodes
    (base,) = loader().load("tiny.safetensors", "fp32", "auto")
    frames, mask, rendered = person_clip()
    with pytest.raises(core.InputError, match="2 poses for 3 frames"):
        fine_tune().fine_tune(base, frames, 1, 1e-3, "official", 1, 0, "", mask=mask,
                              poses=sockets.DiscoPoses(_frames(pack, rendered[:2])), size=32)
    with pytest.raises(core.InputError, match="plain name"):
        fine_tune().fine_tune(base, frames, 1, 1e-3, "official", 1, 0, "../evil", mask=mask, size=32)
