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
