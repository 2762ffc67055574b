"""Load DisCo Model: lists the models/disco folder, loads our .safetensors, explains a missing file."""
import pytest


@pytest.fixture
def loader(pack):
    return pack.NODE_CLASS_MAPPINGS["DisCoModelLoader"]


def test_lists_and_loads_the_converted_checkpoint(loader, model_env, core):
    assert loader.INPUT_TYPES()["required"]["checkpoint"][0] == ["tiny.safetensors"]
    assert loader.VALIDATE_INPUTS("tiny.safetensors") is True
    (handle,) = loader().load("tiny.safetensors", "fp32", "zeros")
    assert isinstance(handle.model, core.DiscoModel)
    assert "tiny.safetensors" in repr(handle)
    assert handle.ready().type in ("cpu", "cuda", "mps")


@pytest.mark.parametrize("variant,expected", [("zeros", "zeros"), ("blank-image", "blank"),
                                              ("auto", "blank")])  # auto: the fixture's drop_ref 0.05 > 0
def test_cfg_variant_reaches_the_model(loader, model_env, variant, expected):
    """Mutations that must fail: `load` not passing `uncond=` on, or `CFG_VARIANTS["zeros"] = None`."""
    (handle,) = loader().load("tiny.safetensors", "fp32", variant)
    assert handle.model.config.uncond == expected


def test_missing_checkpoint_names_the_folder_and_how_to_get_weights(loader, model_env, core):
    message = loader.VALIDATE_INPUTS("disco_moretiktok_cfg.safetensors")
    assert isinstance(message, str)
    for expected in (str(model_env), "tiny.safetensors", "python -m disco_core convert", "Wangt-CN/DisCo"):
        assert expected in message
    with pytest.raises(core.CheckpointError, match="was not found"):
        loader().load("disco_moretiktok_cfg.safetensors")


def test_empty_folder_says_it_is_empty(loader, tmp_path, monkeypatch, core):
    monkeypatch.setenv("DISCO_MODELS_DIR", str(tmp_path))
    assert loader.INPUT_TYPES()["required"]["checkpoint"][0] == []
    with pytest.raises(core.CheckpointError, match="folder is empty"):
        loader().load("")


def test_changed_file_changes_the_cache_key(loader, model_env):
    import os

    before = loader.IS_CHANGED("tiny.safetensors")
    path = model_env / "tiny.safetensors"
    os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 10))
    assert loader.IS_CHANGED("tiny.safetensors") != before


@pytest.mark.parametrize("dtype,variant,source_dtype,uncond", [("bf16", "zeros", "bf16", "zeros"),
                                                              ("auto", "blank-image", "auto", "blank"),
                                                              ("fp32", "auto", "fp32", None)])
def test_the_cluster_workers_load_what_this_node_loaded(loader, model_env, dtype, variant, source_dtype, uncond):
    """DisCo Cluster's workers rebuild the model from `disco_source`: the same file, dtype and CFG variant (auto
    stays auto: each worker picks for its own device)."""
    (handle,) = loader().load("tiny.safetensors", dtype, variant)
    source = handle.model.disco_source
    assert (source.checkpoint, source.personal, source.dtype, source.uncond) == (
        str(model_env / "tiny.safetensors"), None, source_dtype, uncond)
    assert handle.model.base_path == str(model_env / "tiny.safetensors")
    assert handle.model.base_name == "tiny.safetensors"


def test_weights_are_normal_tensors_that_fine_tuning_can_train(loader, model_env):
    import torch

    with torch.inference_mode():  # ComfyUI runs nodes in inference mode
        (handle,) = loader().load("tiny.safetensors", "fp32", "auto")
    assert not any(p.is_inference() for p in handle.model.parameters())


def test_missing_checkpoint_message_names_the_file_asked_for(loader, model_env):
    assert "not_there.safetensors" in loader.VALIDATE_INPUTS("not_there.safetensors")


def test_unreadable_checkpoint_gives_a_constant_cache_key(loader, model_env):
    """A missing file is reported when the node runs; its cache key must not raise meanwhile."""
    assert loader.IS_CHANGED("not_there.safetensors") == loader.IS_CHANGED("not_there_either.safetensors") == ""


def test_a_checkpoint_in_a_subfolder_keeps_its_listed_name(loader, model_env):
    """The name a personalisation is tied to is the one the loader lists ("sub/x.safetensors"), not the bare
    file name (two subfolders may hold files of the same name)."""
    import shutil

    (model_env / "sub").mkdir(exist_ok=True)
    shutil.copy(model_env / "tiny.safetensors", model_env / "sub" / "tiny.safetensors")
    try:
        assert "sub/tiny.safetensors" in loader.INPUT_TYPES()["required"]["checkpoint"][0]
        (handle,) = loader().load("sub/tiny.safetensors", "fp32", "auto")
        assert handle.model.base_name == "sub/tiny.safetensors"
        assert handle.model.base_path == str(model_env / "sub" / "tiny.safetensors")
    finally:
        shutil.rmtree(model_env / "sub")


def test_a_linked_checkpoint_name_is_checked_when_the_node_runs(loader, model_env, core):
    """Linked from another node's output, the name reaches VALIDATE_INPUTS as None: accepted there; load
    refuses a missing file with what to do."""
    assert loader.VALIDATE_INPUTS(None) is True
    with pytest.raises(core.CheckpointError, match="was not found"):
        loader().load("linked_but_missing.safetensors")
