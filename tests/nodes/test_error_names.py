"""Inside ComfyUI the pack's errors are named bare (the error dialog shows `InputError`), and an error renamed so
still travels through Ray's serialisation as the pack's error with its message."""
from __future__ import annotations

import importlib

import pytest


@pytest.fixture
def renamed(pack, monkeypatch):
    glue = importlib.import_module(f"{pack.__name__.rsplit('.', 1)[0]}.nodes.comfy_glue")
    errors = glue.errors
    for cls in vars(errors).values():  # restored after the test
        if isinstance(cls, type) and issubclass(cls, errors.DiscoError):
            monkeypatch.setattr(cls, "__module__", cls.__module__)
    monkeypatch.setattr(glue, "IN_COMFYUI", True)
    glue.short_error_names()
    return errors


def test_errors_are_named_bare_inside_comfyui(renamed):
    for name in ("InputError", "CheckpointError", "DependencyError", "Cancelled", "DiscoError"):
        cls = getattr(renamed, name)
        assert f"{cls.__module__}.{cls.__qualname__}" == f"builtins.{name}"


def test_a_renamed_error_survives_rays_serialisation(renamed):
    cloudpickle = pytest.importorskip("ray.cloudpickle", reason="Ray is not installed")
    import pickle
    back = pickle.loads(cloudpickle.dumps(renamed.InputError("pose_json: not pose JSON")))
    assert type(back).__name__ == "InputError" and str(back) == "pose_json: not pose JSON"
    assert isinstance(back, renamed.DiscoError)
