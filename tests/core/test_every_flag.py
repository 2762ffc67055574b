"""Every flag of `animate` and `finetune` reaches the computation: the command runs with a flag at two values and
what it hands to the model loader, the sampler (`animate_chunks`) or the fine-tuner differs. The heavy calls
are replaced by recorders (what those functions do with the values is tested elsewhere, e.g. every sampler
widget in tests/nodes/test_every_widget.py); `test_every_flag_has_a_test` keeps the list complete.
"""
from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import disco_core
import disco_core.pose
import disco_core.sampling.animate
import disco_core.training.trainer
from disco_core.cli import _load, main
from tests.core.training_helpers import FIXTURE as TRAIN_FIXTURE
from tests.core.training_helpers import synthetic_person, tiny_base
from tests.synthetic_inputs import dance_coco17, person_photo

CORE_TESTS = Path(__file__).resolve().parent
CANVAS = (160, 240)

# flag -> (alternative arguments) for the recorder tests below, or "file.py::test" that fails without it
ANIMATE_FLAGS = {
    "--checkpoint": "test_animate_cli.py::test_animate_from_pose_images_and_mask",
    "--configs": ["--configs", str(TRAIN_FIXTURE / "configs.json")],
    "--personal": "test_animate_personal_changes_the_model",
    "--image": ["--image", "{photo2}"],
    "--mask": ["--mask", "{mask2}"],
    "--poses": ["--poses", "{poses2}"],
    "--canvas": ["--canvas", "200x300"],
    "--driving": "test_animate_cli.py::test_animate_from_a_driving_video_keeps_its_sound_in_sync",
    "--start-frame": ["--start-frame", "2"],
    "--max-frames": ["--max-frames", "3"],
    "--retarget": ["--retarget"],
    "--out": "test_animate_cli.py::test_animate_from_pose_images_and_mask",
    "--frames-dir": "test_animate_cli.py::test_animate_from_pose_json_with_mask",
    "--fps": "test_animate_cli.py::test_animate_from_pose_images_and_mask",
    "--steps": ["--steps", "3"],
    "--cfg": ["--cfg", "3"],
    "--seed": ["--seed", "1"],
    "--size": ["--size", "64x48"],
    "--fit": ["--fit", "pad"],
    "--scheduler": ["--scheduler", "euler"],
    "--frames-per-batch": ["--frames-per-batch", "2"],
    "--window": ["--window", "8"],
    "--overlap": ["--overlap", "2"],
    "--noise": ["--noise", "official"],
    "--uncond": ["--uncond", "zeros"],
    "--device": ["--device", "meta"],
    "--dtype": ["--dtype", "bf16"],
    "--ray": "../cluster/test_cli.py::test_cluster_flags_reach_the_cluster",
    "--workers": "../cluster/test_cli.py::test_cluster_flags_reach_the_cluster",
    "--gpus-per-worker": "../cluster/test_cli.py::test_cluster_flags_reach_the_cluster",
    "--threads-per-worker": "../cluster/test_cli.py::test_cluster_flags_reach_the_cluster",
}
FINETUNE_FLAGS = {
    "--checkpoint": "test_finetune_cli.py::test_finetune_then_animate_with_the_personalisation",
    "--configs": ["--configs", str(TRAIN_FIXTURE / "configs.json")],
    "--images": ["--images", "{ft_frames2}"],
    "--masks": ["--masks", "{ft_masks2}"],
    "--poses": ["--poses", "{ft_poses2}"],
    "--out": "test_finetune_cli.py::test_finetune_then_animate_with_the_personalisation",
    "--steps": ["--steps", "7"],
    "--lr": ["--lr", "1e-4"],
    "--trainable": ["--trainable", "lora"],
    "--rank": ["--rank", "8"],
    "--batch": ["--batch", "2"],
    "--seed": ["--seed", "1"],
    "--size": ["--size", "64"],
    "--max-frames": ["--max-frames", "2"],
    "--device": ["--device", "meta"],
    "--dtype": ["--dtype", "bf16"],
    "--resume": ["--resume", "{state}"],
    "--no-gradient-checkpointing": ["--no-gradient-checkpointing"],
}


def _flags(command: str) -> set[str]:
    import argparse
    parser = argparse.ArgumentParser()
    _load(command).add_arguments(parser)
    return {a.option_strings[0] for a in parser._actions if a.option_strings and a.dest != "help"}


@pytest.mark.parametrize("command,table", [("animate", ANIMATE_FLAGS), ("finetune", FINETUNE_FLAGS)])
def test_every_flag_has_a_test(command, table):
    assert sorted(table) == sorted(_flags(command))
    for case in table.values():
        if isinstance(case, str):
            file, _, name = case.rpartition("::")
            text = (CORE_TESTS / file).read_text() if file else Path(__file__).read_text()
            assert f"def {name}(" in text, case


def _digest(value):
    """Something comparable with == for what a recorder saw (tensors by value, models by their weights)."""
    if isinstance(value, torch.nn.Module):
        return ("model", tuple((k, _digest(v)) for k, v in value.state_dict().items()))
    if isinstance(value, torch.Tensor):
        data = value.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
        return ("tensor", tuple(value.shape), str(value.dtype), hashlib.sha1(data).hexdigest())
    if hasattr(value, "model_input"):  # PoseFrames: the skeletons the sampler would get
        return ("poses", len(value), _digest(value.model_input(0, len(value), 32, 32)))
    if hasattr(value, "frames") and hasattr(value, "masks"):  # PersonFrames
        return ("person", _digest(value.frames), _digest(value.masks), _digest(value.poses))
    if isinstance(value, dict):
        return {k: _digest(v) for k, v in value.items() if k not in ("on_step", "should_cancel")}
    if isinstance(value, (list, tuple)):
        return tuple(_digest(v) for v in value)
    if hasattr(value, "__dataclass_fields__"):
        import dataclasses
        return _digest(dataclasses.asdict(value))
    return value


def _png(path: Path, array: np.ndarray) -> str:
    Image.fromarray(array).save(path)
    return str(path)


def _pose_json(path: Path, scale: float) -> str:
    kps = dance_coco17(6, CANVAS)
    kps[..., :2] = kps[..., :2] * scale + (1 - scale) * np.array(CANVAS) / 2
    path.write_text(json.dumps([[{"keypoints": kp.tolist()}] for kp in kps]))  # no canvas: --canvas or the photo's
    return str(path)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny base checkpoint, photos, masks and pose JSON for `animate`; frames, masks and poses for `finetune`."""
    d = tmp_path_factory.mktemp("flags")
    photo, mask = person_photo()
    photo2, mask2 = person_photo(seed=1)
    out = {"base": str(tiny_base(d)), "state": str(d / "me.state.safetensors")}
    for name, image in (("photo", photo), ("photo2", photo2)):
        out[name] = _png(d / f"{name}.png", (image[0].numpy() * 255).astype(np.uint8))
    out["mask"] = _png(d / "mask.png", (mask[0].numpy() * 255).astype(np.uint8))
    out["mask2"] = _png(d / "mask2.png", (np.roll(mask[0].numpy(), 7, axis=1) * 255).astype(np.uint8))
    out["poses"], out["poses2"] = _pose_json(d / "poses.json", 1.0), _pose_json(d / "poses2.json", 0.7)
    person, other = synthetic_person(n=3, seed=0), synthetic_person(n=3, seed=1)
    moved = lambda x: torch.roll(x, 3, dims=-1)  # the synthetic masks and poses do not depend on the seed
    for suffix, ft in (("", person), ("2", type(person)(other.frames, moved(person.masks), moved(person.poses)))):
        for kind, images in (("frames", ft.frames), ("masks", ft.masks), ("poses", ft.poses)):
            folder = d / f"ft_{kind}{suffix}"
            folder.mkdir()
            for i, img in enumerate(images):
                arr = (img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
                Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr).save(folder / f"{i:03d}.png")
            out[f"ft_{kind}{suffix}"] = str(folder)
    return out


@pytest.fixture(scope="module")
def base_runs():
    """What each command saw with only the base arguments (the same for every flag)."""
    return {}


@pytest.fixture(scope="module")
def personal(files):
    """A personalisation of the tiny base (one real LoRA step)."""
    out = Path(files["base"]).with_name("me.safetensors")
    assert main(["finetune", "--checkpoint", files["base"], "--images", files["ft_frames"], "--masks",
                 files["ft_masks"], "--poses", files["ft_poses"], "--out", str(out), "--steps", "1", "--batch", "1",
                 "--size", "32", "--trainable", "lora", "--rank", "2", "--device", "cpu", "--dtype", "fp32"]) == 0
    return out


@pytest.fixture(scope="module")
def real_load():
    """disco_core.load_model on the CPU, each file and dtype loaded once (callers get a copy to change)."""
    loaded, load = {}, disco_core.load_model

    def run(path, **kwargs):
        kwargs["device"] = "cpu"
        key = (str(path), repr(sorted(kwargs.items())))
        if key not in loaded:
            loaded[key] = load(path, **kwargs)
        return copy.deepcopy(loaded[key])
    return run


@pytest.fixture
def record_animate(monkeypatch, real_load):
    seen = {}

    def load_model(path, **kwargs):
        seen["load_model"] = (Path(path).name, kwargs)
        return real_load(path, **kwargs)

    def animate_chunks(model, reference, mask, poses, **kwargs):
        seen["animate_chunks"] = (model, reference, mask, poses, kwargs)
        return iter(())

    def detect_poses(images, backend="builtin", **_):  # the photo's body: a smaller figure (for --retarget)
        h, w = np.asarray(images[0]).shape[:2]
        small = dance_coco17(1, (w, h))
        small[..., :2] = small[..., :2] * 0.6 + np.array([w, h]) * 0.2
        return disco_core.pose.parse_pose_text(json.dumps([[{"keypoints": small[0].tolist()}]]), canvas=(w, h))

    monkeypatch.setattr(disco_core, "load_model", load_model)
    monkeypatch.setattr(disco_core.sampling.animate, "animate_chunks", animate_chunks)
    monkeypatch.setattr(disco_core.pose, "detect_poses", detect_poses)
    return seen


def _animate(files, seen, tmp_path, extra=()):
    args = ["animate", "--checkpoint", files["base"], "--image", files["photo"], "--mask", files["mask"],
            "--poses", files["poses"], "--out", str(tmp_path / "out.mp4"), "--device", "cpu", "--dtype", "fp32"]
    extra = [e.format(**files) for e in extra]
    for flag in [e for e in extra if e.startswith("--")]:  # a flag given again replaces the base value
        if flag in args and flag not in ("--retarget",):
            i = args.index(flag)
            del args[i:i + 2]
    seen.clear()
    assert main(args + extra) == 0
    return _digest(dict(seen))


@pytest.mark.parametrize("flag", [f for f, case in ANIMATE_FLAGS.items() if not isinstance(case, str)])
def test_animate_flag_reaches_the_computation(files, record_animate, tmp_path, flag, base_runs):
    if "animate" not in base_runs:
        base_runs["animate"] = _animate(files, record_animate, tmp_path)
    base = base_runs["animate"]
    changed = _animate(files, record_animate, tmp_path, ANIMATE_FLAGS[flag])
    assert changed != base


def test_animate_personal_changes_the_model(personal, files, record_animate, tmp_path):
    """The model that samples is the personalised one (not the base, nor a personalised copy left unused)."""
    base = _animate(files, record_animate, tmp_path)
    tuned = _animate(files, record_animate, tmp_path, ["--personal", str(personal)])
    assert tuned["animate_chunks"][0] != base["animate_chunks"][0]


class _Stop(Exception):
    pass


@pytest.fixture
def record_finetune(monkeypatch, real_load):
    seen = {}

    def load_model(path, **kwargs):
        seen["load_model"] = (Path(path).name, kwargs)
        return real_load(path, **kwargs)

    class FineTuner:
        def __init__(self, model, person, settings, device=None):
            seen["tuner"] = (model, person, settings, device)
            self.step = 0

        def resume(self, path):
            seen["resume"] = path

        def run(self, **_):
            raise _Stop

    monkeypatch.setattr(disco_core, "load_model", load_model)
    monkeypatch.setattr(disco_core.training.trainer, "FineTuner", FineTuner)
    return seen


def _finetune(files, seen, tmp_path, extra=()):
    args = ["finetune", "--checkpoint", files["base"], "--images", files["ft_frames"], "--masks", files["ft_masks"],
            "--poses", files["ft_poses"], "--out", str(tmp_path / "me.safetensors"), "--device", "cpu",
            "--dtype", "fp32"]
    extra = [e.format(**files) for e in extra]
    for flag in [e for e in extra if e.startswith("--")]:
        if flag in args:
            i = args.index(flag)
            del args[i:i + 2]
    seen.clear()
    with pytest.raises(_Stop):
        main(args + extra)
    return _digest(dict(seen))


@pytest.mark.parametrize("flag", [f for f, case in FINETUNE_FLAGS.items() if not isinstance(case, str)])
def test_finetune_flag_reaches_the_computation(files, record_finetune, tmp_path, flag, base_runs):
    if "finetune" not in base_runs:
        base_runs["finetune"] = _finetune(files, record_finetune, tmp_path)
    base = base_runs["finetune"]
    changed = _finetune(files, record_finetune, tmp_path, FINETUNE_FLAGS[flag])
    assert changed != base
