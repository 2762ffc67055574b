"""nodes/comfy_glue.py on its own, outside ComfyUI and inside a fake of the ComfyUI modules it uses (folder_paths,
comfy.model_management, comfy.utils.ProgressBar, comfy.model_patcher, comfy.cli_args, latent_preview, server):
the model folders and checkpoint lists, the messages that say what to do, personalisation paths (no escape from
personal/), dtype and device choice, the memory manager's ModelPatcher, progress bars (totals, node ids, previews,
the fine-tune's loss text), interrupt, error names, the IMAGE/MASK/AUDIO/VIDEO conversions and `to_image`'s copy
rules. Every expected value is written by hand (pixels, shapes, messages) or is a fact of the fake.

Mutations seen failing (applied by hand, each then reverted): `p.suffix.lower()` without `.lower()`;
`parts[0] != PERSONAL_FOLDER` as `==`; `found[:10]` as `found[:11]`; `".." in parts` as `not in`; `resolve_dtype`
'auto' giving fp16 on every device; `update_absolute(done, new_total)` without `new_total`; `image_rgb`
`<= 2` as `< 2` (grey+alpha kept as two channels); `to_image` `min() >= 0` as `> 0` (a copy of in-range frames);
`mode="bilinear"` as `"nearest"`; `wave[0]` as `wave[-1]`; `force_full_load=True` dropped; `cls.__module__ =
"builtins"` skipped; `total // 20` as `// 10` or `/ 20`; the progress text sent without a node id; the whole latent
batch previewed (`x0[:1]` dropped); and the survivors of the first mutmut run: a [C,S] waveform cut to its first
channel, `bchw_to_image` testing `shape[2]` or expanding with `+1`, `image_to_bchw`'s default name, and
`getattr(..., None)` without its default for a step report without `preview` and a torch without `backends.mps`.
Kept (equivalent): in `mask_to_b1hw`, `shape[+2:]`/`[-3:]` on the 4-D mask (the second only resizes to the same
size, an identity) and `align_corners=None` or dropped (False); `progress` asking for a previewer outside ComfyUI
(`preview_method()` is 'none' there, so it is None).
"""
from __future__ import annotations

import importlib
import logging
import os
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

EXTENSIONS = {".safetensors", ".sft", ".pt", ".pth", ".ckpt"}


@pytest.fixture(scope="module")
def glue(pack):
    return importlib.import_module(pack.__name__ + ".comfy_glue")


@pytest.fixture(scope="module")
def errors(glue):
    return glue.errors


@pytest.fixture
def outside(glue, monkeypatch):
    """Plain Python: no ComfyUI, no DISCO_MODELS_DIR unless the test sets one."""
    monkeypatch.setattr(glue, "IN_COMFYUI", False)
    monkeypatch.delenv("DISCO_MODELS_DIR", raising=False)
    return glue


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# ------------------------------------------------------------------------------------------- a fake ComfyUI
class FakeBar:
    """comfy.utils.ProgressBar: remembers how it was made and every update."""
    made: list = []

    def __init__(self, total, node_id=None):
        self.total, self.node_id, self.updates = total, node_id, []
        FakeBar.made.append(self)

    def update_absolute(self, value, total=None, preview=None):
        self.updates.append((value, total, preview))


class FakePatcher:
    def __init__(self, model, load_device=None, offload_device=None):
        self.model, self.load_device, self.offload_device = model, load_device, offload_device


class Interrupted(Exception):
    """comfy.model_management.InterruptProcessingException"""


class FakeComfy:
    """The parts of ComfyUI the glue calls, recording what it was asked."""

    def __init__(self, tmp_path: Path):
        self.calls: list = []
        self.interrupted = False
        self.folders: list[str] = [str(tmp_path / "models" / "disco")]
        self.filenames: list[str] = []
        self.full_paths: dict[str, str] = {}
        self.unet_dtype_result = torch.bfloat16
        self.texts: list = []
        FakeBar.made = []
        fc = self

        def add_model_folder_path(name, path):
            fc.calls.append(("add_model_folder_path", name, path))
            paths, exts = fc.folder_paths.folder_names_and_paths.get(name, ([], set()))
            fc.folder_paths.folder_names_and_paths[name] = ([*paths, path], exts)

        self.folder_paths = types.SimpleNamespace(
            models_dir=str(tmp_path / "comfy_models"), folder_names_and_paths={},
            add_model_folder_path=add_model_folder_path,
            get_folder_paths=lambda name: fc.calls.append(("get_folder_paths", name)) or list(fc.folders),
            get_temp_directory=lambda: str(tmp_path / "comfy_temp"),
            get_filename_list=lambda name: fc.calls.append(("get_filename_list", name)) or list(fc.filenames),
            get_full_path=lambda name, file: fc.calls.append(("get_full_path", name, file))
            or fc.full_paths.get(file))

        def throw():
            fc.calls.append("interrupt check")
            if fc.interrupted:
                raise Interrupted("Processing interrupted")

        def unet_dtype(device=None, supported_dtypes=None):
            fc.calls.append(("unet_dtype", device, supported_dtypes))
            return fc.unet_dtype_result

        self.mm = types.SimpleNamespace(
            throw_exception_if_processing_interrupted=throw,
            get_torch_device=lambda: torch.device("cuda", 3),
            unet_offload_device=lambda: torch.device("meta"),
            unet_dtype=unet_dtype,
            load_models_gpu=lambda models, **kw: fc.calls.append(("load_models_gpu", models, kw)))

        class SD15:
            pass
        self.SD15 = SD15
        self.previewer = object()
        self.args = types.SimpleNamespace(preview_method=None)
        self.comfy = types.ModuleType("comfy")
        self.comfy.utils = types.SimpleNamespace(ProgressBar=FakeBar)
        self.comfy.model_patcher = types.SimpleNamespace(ModelPatcher=FakePatcher)
        self.comfy.cli_args = types.SimpleNamespace(args=self.args)
        self.comfy.latent_formats = types.SimpleNamespace(SD15=SD15)
        self.latent_preview = types.SimpleNamespace(
            get_previewer=lambda device, fmt: fc.calls.append(("get_previewer", device, fmt)) or fc.previewer)

        class Server:
            def send_progress_text(self, text, node_id):
                fc.texts.append((text, node_id))
        self.server = types.SimpleNamespace(PromptServer=types.SimpleNamespace(instance=Server()))


@pytest.fixture
def comfyui(glue, monkeypatch, tmp_path):
    fake = FakeComfy(tmp_path)
    monkeypatch.setattr(glue, "IN_COMFYUI", True)
    for name in ("folder_paths", "mm", "comfy"):
        monkeypatch.setattr(glue, name, getattr(fake, name), raising=False)
    monkeypatch.setitem(sys.modules, "comfy", fake.comfy)
    for sub in ("utils", "model_patcher", "cli_args", "latent_formats"):
        monkeypatch.setitem(sys.modules, f"comfy.{sub}", getattr(fake.comfy, sub))
    monkeypatch.setitem(sys.modules, "latent_preview", fake.latent_preview)
    monkeypatch.setitem(sys.modules, "server", fake.server)
    return fake


# ------------------------------------------------------------------------------------------- model folders
def test_model_folders_outside_comfyui_come_from_the_environment(outside, monkeypatch, tmp_path):
    assert outside.model_folders() == [os.path.join("models", "disco")]
    monkeypatch.setenv("DISCO_MODELS_DIR", "")
    assert outside.model_folders() == [os.path.join("models", "disco")]
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    monkeypatch.setenv("DISCO_MODELS_DIR", os.pathsep.join([a, "", b, ""]))
    assert outside.model_folders() == [a, b]
    assert outside.annotator_folder() == os.path.join(a, "annotators")


def test_model_folders_inside_comfyui_are_its_disco_folders(glue, comfyui, tmp_path):
    comfyui.folders = [str(tmp_path / "x"), str(tmp_path / "y")]
    assert glue.model_folders() == [str(tmp_path / "x"), str(tmp_path / "y")]
    assert ("get_folder_paths", "disco") in comfyui.calls
    assert glue.annotator_folder() == os.path.join(str(tmp_path / "x"), "annotators")


def test_register_model_folder_keeps_extra_paths_and_sets_the_extensions(glue, comfyui, tmp_path):
    extra = str(tmp_path / "from_extra_model_paths")
    comfyui.folder_paths.folder_names_and_paths["disco"] = ([extra], {".bin"})
    glue.register_model_folder()
    assert comfyui.calls == [("add_model_folder_path", "disco", os.path.join(str(tmp_path / "comfy_models"), "disco"))]
    paths, extensions = comfyui.folder_paths.folder_names_and_paths["disco"]
    assert paths == [extra, os.path.join(str(tmp_path / "comfy_models"), "disco")]
    assert extensions == EXTENSIONS


def test_register_model_folder_does_nothing_outside_comfyui(outside, monkeypatch):
    monkeypatch.setattr(outside, "folder_paths", None, raising=False)  # would raise if touched
    assert outside.register_model_folder() is None


def test_temp_and_frames_folders(glue, comfyui, monkeypatch, tmp_path):
    import tempfile

    assert glue.temp_folder() == str(tmp_path / "comfy_temp")
    assert glue.frames_folder() == os.path.join(str(tmp_path / "comfy_temp"), "disco_frames")
    monkeypatch.setattr(glue, "IN_COMFYUI", False)
    assert glue.temp_folder() == os.path.join(tempfile.gettempdir(), "disco")
    assert glue.frames_folder() == os.path.join(tempfile.gettempdir(), "disco", "disco_frames")


def test_clear_frames_folder_removes_only_frame_files_and_says_how_many(glue, monkeypatch, tmp_path, caplog):
    monkeypatch.setattr(glue, "temp_folder", lambda: str(tmp_path))
    folder = tmp_path / "disco_frames"
    touch(folder / "frames_1.raw")
    touch(folder / "frames_2.raw")
    touch(folder / "notes.txt")
    with caplog.at_level(logging.INFO, logger="DisCo"):
        glue.clear_frames_folder()
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]
    assert [r.getMessage() for r in caplog.records] == [
        f"DisCo: removed 2 frame file(s) left in {folder} by an earlier run"]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="DisCo"):
        glue.clear_frames_folder()  # nothing left: nothing said
    assert caplog.records == []


# ------------------------------------------------------------------------------------------- checkpoint lists
def test_list_checkpoints_outside_comfyui(outside, monkeypatch, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for name in ("z.safetensors", "m.SFT", "sub/deep.pt", "k.pth", "old.ckpt", "notes.txt", "configs.json",
                 "annotators/body_pose_model.pth", "sub/annotators/x.pt", "personal/me.safetensors",
                 "sub/personal/kept.safetensors"):
        touch(a / name)
    touch(b / "b.safetensors")
    touch(b / "z.safetensors")  # the same name in two folders is listed once
    (a / "folder.pt").mkdir()  # a folder named like a checkpoint is no checkpoint
    monkeypatch.setenv("DISCO_MODELS_DIR", os.pathsep.join([str(a), str(tmp_path / "missing"), str(b)]))
    assert outside.list_checkpoints() == ["b.safetensors", "k.pth", "m.SFT", "old.ckpt", "sub/deep.pt",
                                          "sub/personal/kept.safetensors", "z.safetensors"]


def test_list_checkpoints_inside_comfyui_leaves_out_personalisations(glue, comfyui):
    comfyui.filenames = ["z.safetensors", "personal/me.safetensors", "personal\\win.safetensors", "a.pt",
                         "personalised.safetensors", "sub/personal/x.pt", "annotators/body_pose_model.pth",
                         "annotators\\dw-ll_ucoco_384.pth", "sub/annotators/x.pt", "annotators_old.pt"]
    assert glue.list_checkpoints() == ["z.safetensors", "a.pt", "personalised.safetensors", "sub/personal/x.pt",
                                       "annotators_old.pt"]  # the pose detectors' weights are no checkpoints
    assert comfyui.calls == [("get_filename_list", "disco")]


def test_list_personalisations(outside, monkeypatch, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for name in ("personal/zed.safetensors", "personal/team/ann.safetensors", "personal/old.pt",
                 "personal/notes.txt", "top.safetensors"):
        touch(a / name)
    touch(b / "personal/bob.safetensors")
    touch(b / "personal/zed.safetensors")
    (a / "personal" / "dir.safetensors").mkdir()
    monkeypatch.setenv("DISCO_MODELS_DIR", os.pathsep.join([str(a), str(tmp_path / "nothing"), str(b)]))
    assert outside.list_personalisations() == ["bob.safetensors", "team/ann.safetensors", "zed.safetensors"]
    monkeypatch.setenv("DISCO_MODELS_DIR", str(tmp_path / "nothing"))
    assert outside.list_personalisations() == []


# ------------------------------------------------------------------------------------------- paths and messages
def test_personal_path_finds_the_file_in_any_model_folder(outside, errors, monkeypatch, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    touch(b / "personal" / "ann.safetensors")
    touch(a / "personal" / "both.safetensors")
    touch(b / "personal" / "both.safetensors")
    (a / "personal" / "dir.safetensors").mkdir()
    touch(b / "personal" / "dir.safetensors")
    monkeypatch.setenv("DISCO_MODELS_DIR", os.pathsep.join([str(a), str(b)]))
    assert outside.personal_path("ann") == str(b / "personal" / "ann.safetensors")
    assert outside.personal_path("ann.safetensors") == str(b / "personal" / "ann.safetensors")
    assert outside.personal_path("both") == str(a / "personal" / "both.safetensors")  # the first folder wins
    assert outside.personal_path("dir") == str(b / "personal" / "dir.safetensors")  # a folder is not the file
    with pytest.raises(errors.CheckpointError) as e:
        outside.personal_path("bob")
    assert str(e.value) == (f"personalisation 'bob.safetensors' was not found in personal/ of the 'disco' model "
                            f"folder ({a}, {b}); run DisCo Fine-Tune to make one, then refresh the browser "
                            "(press R).")


def test_personal_path_to_write_stays_in_the_personal_folder(outside, errors, monkeypatch, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    monkeypatch.setenv("DISCO_MODELS_DIR", os.pathsep.join([str(a), str(b)]))
    assert outside.personal_path("new", must_exist=False) == str(a / "personal" / "new.safetensors")
    assert outside.personal_path("team/new.safetensors", must_exist=False) == str(
        a / "personal" / "team" / "new.safetensors")
    assert outside.personal_path("a..b", must_exist=False) == str(a / "personal" / "a..b.safetensors")
    for bad in ("../escape", "team/../../escape", str(tmp_path / "abs")):
        with pytest.raises(errors.InputError) as e:
            outside.personal_path(bad, must_exist=False)
        assert str(e.value) == (f"save name '{bad}.safetensors' must be a plain name like 'my_person', inside "
                                "the personal folder")


def test_missing_checkpoint_message_names_the_folder_its_files_and_how_to_get_weights(outside, monkeypatch,
                                                                                      tmp_path):
    a = tmp_path / "a"
    for i in range(11):
        touch(a / f"m{i:02d}.safetensors")
    monkeypatch.setenv("DISCO_MODELS_DIR", str(a))
    message = outside.missing_checkpoint_message("disco_moretiktok_cfg.safetensors")
    listed = ", ".join(f"m{i:02d}.safetensors" for i in range(10))  # the first ten only
    assert message.startswith(f"DisCo checkpoint 'disco_moretiktok_cfg.safetensors' was not found in the 'disco' "
                              f"model folder ({a}). Files there now: {listed}. Expected a .safetensors file made by "
                              "`python -m disco_core convert` or an official DisCo .pt checkpoint. Get an official")
    assert "m10.safetensors" not in message
    for part in ("https://github.com/Wangt-CN/DisCo#model-zoo", "mp_rank_00_model_states.pt",
                 "python -m disco_core convert mp_rank_00_model_states.pt"):
        assert part in message
    assert message.endswith("(smaller, loads faster, no pickle). Then refresh the browser (press R) so the list "
                            "updates.")


def test_missing_checkpoint_message_without_a_name_or_files(outside, glue, comfyui, monkeypatch, tmp_path):
    comfyui.folders = []
    message = glue.missing_checkpoint_message(None)
    assert message.startswith("No DisCo checkpoint was found in the 'disco' model folder (models/disco). The folder "
                              "is empty. Expected a .safetensors file")
    comfyui.folders = [str(tmp_path / "x"), str(tmp_path / "y")]
    comfyui.filenames = ["personal/me.safetensors"]
    assert glue.missing_checkpoint_message("").startswith(
        f"No DisCo checkpoint was found in the 'disco' model folder ({tmp_path / 'x'}, {tmp_path / 'y'}). The "
        "folder is empty. Expected")


def test_checkpoint_path_outside_comfyui(outside, errors, monkeypatch, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    touch(b / "only_b.safetensors")
    touch(a / "both.pt")
    touch(b / "both.pt")
    touch(b / "sub" / "deep.sft")
    (a / "dir.safetensors").mkdir()
    monkeypatch.setenv("DISCO_MODELS_DIR", os.pathsep.join([str(a), str(b)]))
    assert outside.checkpoint_path("only_b.safetensors") == str(b / "only_b.safetensors")
    assert outside.checkpoint_path("both.pt") == str(a / "both.pt")
    assert outside.checkpoint_path("sub/deep.sft") == str(b / "sub" / "deep.sft")
    for missing in ("nope.safetensors", "dir.safetensors"):
        with pytest.raises(errors.CheckpointError, match=f"^DisCo checkpoint '{missing}' was not found in the "):
            outside.checkpoint_path(missing)
    for empty in ("", None):
        with pytest.raises(errors.CheckpointError, match="^No DisCo checkpoint was found in the 'disco' model "):
            outside.checkpoint_path(empty)


def test_checkpoint_path_inside_comfyui_asks_folder_paths(glue, errors, comfyui, tmp_path):
    real = touch(tmp_path / "elsewhere" / "real.safetensors")
    comfyui.full_paths = {"real.safetensors": str(real), "gone.safetensors": str(tmp_path / "gone.safetensors")}
    assert glue.checkpoint_path("real.safetensors") == str(real)
    assert ("get_full_path", "disco", "real.safetensors") in comfyui.calls
    for name in ("gone.safetensors", "unknown.safetensors"):  # listed but deleted since; not listed at all
        with pytest.raises(errors.CheckpointError, match=f"^DisCo checkpoint '{name}' was not found"):
            glue.checkpoint_path(name)


# ------------------------------------------------------------------------------------------- error names
def test_error_names_are_left_alone_outside_comfyui(outside, errors):
    outside.short_error_names()
    assert errors.InputError.__module__.endswith("disco_core.errors")
    assert errors.DiscoError.__module__.endswith("disco_core.errors")


def test_error_names_are_bare_inside_comfyui(glue, errors, comfyui, monkeypatch):
    classes = [c for c in vars(errors).values() if isinstance(c, type)]
    for cls in classes:  # restored after the test
        monkeypatch.setattr(cls, "__module__", cls.__module__)
    glue.short_error_names()
    for name in ("DiscoError", "CheckpointError", "InputError", "DependencyError", "Cancelled"):
        assert getattr(errors, name).__module__ == "builtins"
    assert RuntimeError.__module__ == "builtins" and ValueError.__module__ == "builtins"


# ------------------------------------------------------------------------------------------- devices and dtypes
def test_torch_device_outside_comfyui(outside, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert outside.torch_device() == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert outside.torch_device() == torch.device("mps")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert outside.torch_device() == torch.device("cpu")
    assert outside.offload_device() == torch.device("cpu")
    monkeypatch.setattr(torch, "backends", types.SimpleNamespace())  # an older torch without Apple's backend
    assert outside.torch_device() == torch.device("cpu")


def test_torch_device_inside_comfyui_is_comfyuis(glue, comfyui):
    assert glue.torch_device() == torch.device("cuda", 3)
    assert glue.offload_device() == torch.device("meta")


@pytest.mark.parametrize("choice,dtype", [("fp16", torch.float16), ("bf16", torch.bfloat16),
                                          ("fp32", torch.float32)])
def test_explicit_dtypes_on_every_device(outside, choice, dtype):
    for device in (torch.device("cpu"), torch.device("cuda"), None):
        assert outside.resolve_dtype(choice, device) == dtype


def test_auto_dtype_outside_comfyui(outside, monkeypatch):
    assert outside.resolve_dtype("auto", torch.device("cuda")) == torch.float16
    assert outside.resolve_dtype("auto", torch.device("cuda", 1)) == torch.float16
    assert outside.resolve_dtype("auto", torch.device("cpu")) == torch.float32
    assert outside.resolve_dtype("auto", torch.device("mps")) == torch.float32
    monkeypatch.setattr(outside, "torch_device", lambda: torch.device("cuda"))
    assert outside.resolve_dtype("auto") == torch.float16  # no device: this machine's
    monkeypatch.setattr(outside, "torch_device", lambda: torch.device("cpu"))
    assert outside.resolve_dtype("auto") == torch.float32


def test_auto_dtype_inside_comfyui_is_what_comfyui_picks(glue, comfyui):
    supported = [torch.float16, torch.bfloat16, torch.float32]
    assert glue.resolve_dtype("auto", torch.device("cuda", 1)) == torch.bfloat16
    assert comfyui.calls == [("unet_dtype", torch.device("cuda", 1), supported)]
    comfyui.unet_dtype_result = torch.float32
    assert glue.resolve_dtype("auto") == torch.float32
    assert comfyui.calls[-1] == ("unet_dtype", torch.device("cuda", 3), supported)  # ComfyUI's device
    comfyui.unet_dtype_result = torch.float8_e4m3fn  # a weight-only format: not for DisCo's plain layers
    assert glue.resolve_dtype("auto", torch.device("cuda")) == torch.float16


def test_unknown_dtype_says_which_ones_exist(glue, errors):
    for bad in ("fp8", "Auto", "", "float16"):
        with pytest.raises(errors.InputError) as e:
            glue.resolve_dtype(bad, torch.device("cpu"))
        assert str(e.value) == f"dtype '{bad}' is not one of auto, fp16, bf16, fp32. Pick one of those."


# ------------------------------------------------------------------------------------------- ManagedModel
class Tiny(torch.nn.Module):
    dtype = torch.bfloat16

    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(2, 2)


def test_managed_model_outside_comfyui_moves_the_model_itself(outside, monkeypatch):
    monkeypatch.setattr(outside, "torch_device", lambda: torch.device("meta"))
    model = Tiny()
    managed = outside.ManagedModel(model, "tiny.safetensors")
    assert managed.model is model and managed.name == "tiny.safetensors" and managed.patcher is None
    assert managed.load_device == torch.device("meta")
    assert model.layer.weight.device == torch.device("cpu")  # not moved before it is needed
    assert managed.ready(10**9) == torch.device("meta")
    assert model.layer.weight.device == torch.device("meta")


def test_managed_model_inside_comfyui_asks_the_memory_manager(glue, comfyui):
    model = Tiny()
    managed = glue.ManagedModel(model)
    patcher = managed.patcher
    assert isinstance(patcher, FakePatcher)
    assert isinstance(patcher.model, torch.nn.Module) and patcher.model.disco is model
    assert (patcher.load_device, patcher.offload_device) == (torch.device("cuda", 3), torch.device("meta"))
    assert managed.ready(123456) == torch.device("cuda", 3)
    assert comfyui.calls == [("load_models_gpu", [patcher], {"memory_required": 123456, "force_full_load": True})]
    assert managed.ready() == torch.device("cuda", 3)
    assert comfyui.calls[-1][2] == {"memory_required": 0, "force_full_load": True}
    assert model.layer.weight.device == torch.device("cpu")  # ComfyUI moves it, not the glue


def test_managed_model_repr_is_what_error_reports_show(outside):
    assert repr(outside.ManagedModel(Tiny(), "tiny.safetensors")) == "DisCoModel(tiny.safetensors, dtype=torch.bfloat16)"
    assert repr(outside.ManagedModel(torch.nn.Linear(1, 1))) == "DisCoModel(unnamed, dtype=?)"


# ------------------------------------------------------------------------------------------- interrupt, progress
def test_interrupt_outside_comfyui_is_a_no_op(outside):
    assert outside.raise_if_interrupted() is False
    assert outside.preview_method() == "none"
    assert outside.latent_previewer() is None


def test_interrupt_inside_comfyui_raises_comfyuis_exception(glue, comfyui):
    assert glue.raise_if_interrupted() is False
    assert comfyui.calls == ["interrupt check"]
    comfyui.interrupted = True
    with pytest.raises(Interrupted):
        glue.raise_if_interrupted()


def test_preview_every_is_never(glue):
    for steps in (0, 1, 10, 50, 1000):
        assert glue.preview_every(steps) == 0


@pytest.mark.parametrize("value,expected", [(None, "none"), ("taesd", "taesd"), ("", "none"),
                                            (types.SimpleNamespace(value="latent2rgb"), "latent2rgb"),
                                            (types.SimpleNamespace(value="auto"), "auto")])
def test_preview_method_follows_comfyuis_flag(glue, comfyui, value, expected):
    comfyui.args.preview_method = value  # an enum with .value in recent ComfyUI, a string in older ones
    assert glue.preview_method() == expected


def test_preview_method_of_a_comfyui_without_the_flag(glue, comfyui):
    del comfyui.args.preview_method
    assert glue.preview_method() == "none"


def test_latent_previewer_is_comfyuis_for_sd15_latents(glue, comfyui):
    comfyui.args.preview_method = "none"
    assert glue.latent_previewer() is None
    assert comfyui.calls == []
    comfyui.args.preview_method = "auto"
    assert glue.latent_previewer() is comfyui.previewer
    ((what, device, fmt),) = comfyui.calls
    assert (what, device) == ("get_previewer", torch.device("cuda", 3)) and isinstance(fmt, comfyui.SD15)


def step_info(done, total, preview=None, x0=None, latents=None):
    return types.SimpleNamespace(done=done, total=total, preview=preview, x0=x0, latents=latents)


def test_progress_outside_comfyui_only_checks_interrupt(outside, monkeypatch):
    checks = []
    monkeypatch.setattr(outside, "raise_if_interrupted", lambda: checks.append(1) or False)
    on_step = outside.progress(4, "7")
    on_step(step_info(1, 4))
    on_step(step_info(2, 4))
    assert checks == [1, 1]


def test_progress_bar_updates_with_the_cores_preview(glue, comfyui):
    comfyui.args.preview_method = "none"
    on_step = glue.progress(6, "12")
    (bar,) = FakeBar.made
    assert (bar.total, bar.node_id) == (6, "12")
    preview = torch.tensor([[[0.0, 0.5, 1.0], [2.0, -1.0, 0.2]]])  # [H=1, W=2, 3], out of range clamped
    on_step(step_info(1, 6, preview=preview))
    on_step(step_info(2, 6))
    on_step(types.SimpleNamespace(done=3, total=6, x0=None, latents=None))  # a report without a preview field
    assert comfyui.calls == ["interrupt check"] * 3
    (v1, t1, p1), (v2, t2, p2), (v3, t3, p3) = bar.updates
    assert (v1, t1, v2, t2, p2, v3, t3, p3) == (1, 6, 2, 6, None, 3, 6, None)
    fmt, image, size = p1
    assert (fmt, size, image.mode, image.size) == ("JPEG", 512, "RGB", (2, 1))
    assert np.asarray(image).tolist() == [[[0, 128, 255], [255, 0, 51]]]
    comfyui.interrupted = True
    with pytest.raises(Interrupted):
        on_step(step_info(4, 6))
    assert len(bar.updates) == 3


def test_progress_previews_project_x0_else_the_latents(glue, comfyui):
    seen = []

    class Previewer:
        def decode_latent_to_preview_image(self, fmt, x0):
            seen.append((fmt, x0.clone()))
            return ("JPEG", "image", 512)
    comfyui.args.preview_method = "auto"
    comfyui.previewer = Previewer()
    on_step = glue.progress(3)
    assert FakeBar.made[0].node_id is None
    x0 = torch.arange(2 * 4 * 2 * 2, dtype=torch.float32).reshape(2, 4, 2, 2)
    latents = -x0
    on_step(step_info(1, 3, x0=x0, latents=latents))
    on_step(step_info(2, 3, x0=None, latents=latents))
    on_step(step_info(3, 3, x0=x0[0], latents=latents))  # a single frame [4,h,w] goes as it is
    on_step(step_info(3, 3, preview=torch.zeros(1, 1, 3), x0=x0, latents=latents))  # the core's own wins
    assert [f for f, _ in seen] == ["JPEG"] * 3
    assert torch.equal(seen[0][1], x0[:1]) and torch.equal(seen[1][1], latents[:1])
    assert torch.equal(seen[2][1], x0[0])
    updates = FakeBar.made[0].updates
    assert [u[:2] for u in updates] == [(1, 3), (2, 3), (3, 3), (3, 3)]
    assert [u[2] for u in updates[:3]] == [("JPEG", "image", 512)] * 3
    assert updates[3][2][0] == "JPEG" and updates[3][2][1].size == (1, 1)


def test_simple_progress(glue, comfyui):
    update = glue.simple_progress(10, "5")
    (bar,) = FakeBar.made
    assert (bar.total, bar.node_id) == (10, "5")
    update(3)
    update(4, 20)  # the total grew (e.g. frames found while decoding)
    assert bar.updates == [(3, None, None), (4, 20, None)]
    assert comfyui.calls == ["interrupt check", "interrupt check"]
    comfyui.interrupted = True
    with pytest.raises(Interrupted):
        update(5)
    glue.simple_progress(2)
    assert FakeBar.made[-1].node_id is None


def test_simple_progress_outside_comfyui_checks_interrupt(outside, monkeypatch):
    checks = []
    monkeypatch.setattr(outside, "raise_if_interrupted", lambda: checks.append(1) or False)
    outside.simple_progress(3)(1)
    outside.simple_progress(3)(2, 4)
    assert checks == [1, 1]


def report(step, total, loss):
    return types.SimpleNamespace(step=step, total=total, loss=loss)


def test_training_progress_shows_loss_text_and_a_curve_every_twentieth(glue, comfyui, monkeypatch, pack):
    plot = importlib.import_module(pack.__name__.rsplit(".", 1)[0] + ".disco_core.training.plot")
    curves = []

    def fake_curve(losses, total):
        curves.append((list(losses), total))
        return np.full((4, 6, 3), 200, np.uint8)
    monkeypatch.setattr(plot, "loss_curve_image", fake_curve)
    on_step = glue.training_progress(40, "9")
    (bar,) = FakeBar.made
    assert (bar.total, bar.node_id) == (40, "9")
    for step in range(1, 5):
        on_step(report(step, 40, 1.0 / step))
    on_step(report(40, 40, 0.123456))
    assert [u[:2] for u in bar.updates] == [(1, 40), (2, 40), (3, 40), (4, 40), (40, 40)]
    previews = [u[2] for u in bar.updates]
    assert previews[0] is None and previews[2] is None  # 40 // 20 = every 2nd step, and the last
    for p in (previews[1], previews[3], previews[4]):
        assert (p[0], p[2], p[1].size) == ("JPEG", 512, (6, 4))
    assert curves == [([1.0, 0.5], 40), ([1.0, 0.5, 1 / 3, 0.25], 40), ([1.0, 0.5, 1 / 3, 0.25, 0.123456], 40)]
    assert comfyui.texts == [("step 1/40  loss 1.0000", "9"), ("step 2/40  loss 0.5000", "9"),
                             ("step 3/40  loss 0.3333", "9"), ("step 4/40  loss 0.2500", "9"),
                             ("step 40/40  loss 0.1235", "9")]
    assert comfyui.calls == ["interrupt check"] * 5
    comfyui.interrupted = True
    with pytest.raises(Interrupted):
        on_step(report(41, 40, 0.1))
    assert len(bar.updates) == 5


def test_training_progress_previews_at_whole_step_intervals(glue, comfyui, monkeypatch, pack):
    plot = importlib.import_module(pack.__name__.rsplit(".", 1)[0] + ".disco_core.training.plot")
    monkeypatch.setattr(plot, "loss_curve_image", lambda losses, total: np.zeros((2, 2, 3), np.uint8))
    on_step = glue.training_progress(50, "2")
    for step in range(1, 51):
        on_step(report(step, 50, 0.5))
    previewed = [u[0] for u in FakeBar.made[0].updates if u[2] is not None]
    assert previewed == list(range(2, 51, 2))  # 50 // 20 = every 2nd step


def test_training_progress_of_a_short_run_previews_every_step(glue, comfyui, monkeypatch, pack):
    plot = importlib.import_module(pack.__name__.rsplit(".", 1)[0] + ".disco_core.training.plot")
    monkeypatch.setattr(plot, "loss_curve_image", lambda losses, total: np.zeros((2, 2, 3), np.uint8))
    on_step = glue.training_progress(7)
    for step in range(1, 4):
        on_step(report(step, 7, 0.5))
    assert all(u[2] is not None for u in FakeBar.made[0].updates)
    assert comfyui.texts == []  # no node id: no text


def test_training_progress_on_an_older_comfyui_without_progress_text(glue, comfyui, monkeypatch):
    monkeypatch.setitem(sys.modules, "server", types.SimpleNamespace(PromptServer=types.SimpleNamespace(
        instance=types.SimpleNamespace())))  # no send_progress_text
    on_step = glue.training_progress(100, "3")
    on_step(report(1, 100, 0.5))
    assert FakeBar.made[0].updates == [(1, 100, None)]


def test_training_progress_outside_comfyui(outside, monkeypatch):
    checks = []
    monkeypatch.setattr(outside, "raise_if_interrupted", lambda: checks.append(1) or False)
    on_step = outside.training_progress(2, "1")
    on_step(report(1, 2, 0.5))
    on_step(report(2, 2, 0.25))
    assert checks == [1, 1]


def test_progress_text_goes_only_to_comfyui_with_a_node(glue, comfyui, monkeypatch):
    glue._progress_text("hello", "4")
    glue._progress_text("no node", None)
    assert comfyui.texts == [("hello", "4")]
    monkeypatch.setattr(glue, "IN_COMFYUI", False)
    glue._progress_text("outside", "4")
    assert comfyui.texts == [("hello", "4")]


# ------------------------------------------------------------------------------------------- IMAGE and MASK
def rgb_pixel_image():
    """IMAGE [1, 1, 2, 3]: a red and a blue pixel."""
    return torch.tensor([[[[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]]])


def test_image_rgb_channels(glue):
    rgb = rgb_pixel_image()
    assert torch.equal(glue.image_rgb(rgb), rgb)
    rgba = torch.tensor([[[[1.0, 0.0, 0.0, 0.5], [0.0, 0.0, 1.0, 0.0]]]])
    assert glue.image_rgb(rgba).tolist() == rgb.tolist()
    grey = torch.tensor([[[[0.25], [0.75]]]])
    assert glue.image_rgb(grey).tolist() == [[[[0.25] * 3, [0.75] * 3]]]
    grey_alpha = torch.tensor([[[[0.25, 1.0], [0.75, 0.0]]]])
    assert glue.image_rgb(grey_alpha).tolist() == [[[[0.25] * 3, [0.75] * 3]]]
    single = torch.zeros(5, 4, 3)  # one image without its batch dimension
    assert glue.image_rgb(single).shape == (1, 5, 4, 3)


def test_image_rgb_errors_name_the_input(glue, errors):
    cases = [
        ([1, 2, 3], "'photo' must be an IMAGE tensor [batch, height, width, 3]; got list (). Connect an IMAGE "
                    "output."),
        (torch.zeros(4, 4), "'photo' must be an IMAGE tensor [batch, height, width, 3]; got Tensor (4, 4). Connect "
                            "an IMAGE output."),
        (torch.zeros(1, 1, 4, 4, 3), "'photo' must be an IMAGE tensor [batch, height, width, 3]; got Tensor "
                                     "(1, 1, 4, 4, 3). Connect an IMAGE output."),
        (torch.zeros(1, 4, 4, 5), "'photo' has 5 channels; expected RGB [B,H,W,3]. Convert it to RGB."),
        (torch.zeros(1, 4, 4, 0), "'photo' has 0 channels; expected RGB [B,H,W,3]. Convert it to RGB."),
    ]
    for value, message in cases:
        with pytest.raises(errors.InputError) as e:
            glue.image_rgb(value, "photo")
        assert str(e.value) == message
    for shape in ((0, 4, 4, 3), (2, 0, 4, 3), (2, 4, 0, 3)):
        with pytest.raises(errors.InputError) as e:
            glue.image_rgb(torch.zeros(shape), "frames")
        assert str(e.value) == (f"'frames' is empty (shape {shape}): the image or video it came from has no frames "
                                "or no pixels. Check the file loaded upstream (a video that decodes to 0 frames gives "
                                "this) and load one with content.")
    with pytest.raises(errors.InputError, match="^'image' has 5 channels"):
        glue.image_rgb(torch.zeros(1, 4, 4, 5))  # the default name


def test_image_to_bchw(glue, errors):
    image = torch.tensor([[[[0.1, 0.2, 0.3, 1.0], [0.4, 0.5, 0.6, 1.0]]]], dtype=torch.float64)  # [1,1,2,4]
    out = glue.image_to_bchw(image)
    assert out.shape == (1, 3, 1, 2) and out.dtype == torch.float32 and out.is_contiguous()
    assert out.device == torch.device("cpu")
    torch.testing.assert_close(out[0, :, 0, :], torch.tensor([[0.1, 0.4], [0.2, 0.5], [0.3, 0.6]]))
    with pytest.raises(errors.InputError, match="^'pose_images' has 6 channels"):
        glue.image_to_bchw(torch.zeros(1, 2, 2, 6), "pose_images")
    with pytest.raises(errors.InputError, match="^'image' has 6 channels"):
        glue.image_to_bchw(torch.zeros(1, 2, 2, 6))


def test_mask_to_b1hw_shapes(glue, errors):
    mask = torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
    out = glue.mask_to_b1hw(mask, 2, 2)
    assert out.shape == (1, 1, 2, 2) and out.dtype == torch.float32 and out.device == torch.device("cpu")
    assert out.tolist() == [[[[0.0, 1.0], [1.0, 0.0]]]]
    assert glue.mask_to_b1hw(torch.ones(3, 2, 2, 1), 2, 2).shape == (3, 1, 2, 2)  # [B,H,W,1] accepted
    assert glue.mask_to_b1hw(torch.tensor([[[True, False]]]), 1, 2).tolist() == [[[[1.0, 0.0]]]]
    assert glue.mask_to_b1hw(torch.tensor([[[1.5, -0.5]]]), 1, 2).tolist() == [[[[1.0, 0.0]]]]  # clamped
    for bad, shape in ((torch.zeros(1, 2, 2, 3), "(1, 2, 2, 3)"), (torch.zeros(4), "(4,)"),
                       (torch.zeros(1, 1, 2, 2, 1), "(1, 1, 2, 2, 1)")):
        with pytest.raises(errors.InputError) as e:
            glue.mask_to_b1hw(bad, 2, 2, "photo_mask")
        assert str(e.value) == f"'photo_mask' must be a MASK [batch, height, width]; got shape {shape}."
    with pytest.raises(errors.InputError, match="^'mask' must be a MASK"):
        glue.mask_to_b1hw(torch.zeros(4), 2, 2)


def test_mask_to_b1hw_resizes_bilinearly(glue):
    mask = torch.tensor([[[0.0, 1.0], [0.0, 1.0]]])  # [1, 2, 2]: left half 0, right half 1
    out = glue.mask_to_b1hw(mask, 3, 4)
    assert out.shape == (1, 1, 3, 4)
    # bilinear, half-pixel centres: output x = 0..3 samples input x = -0.25, 0.25, 0.75, 1.25 (clamped to 0..1)
    torch.testing.assert_close(out, torch.tensor([[0.0, 0.25, 0.75, 1.0]]).expand(3, 4)[None, None])
    assert glue.mask_to_b1hw(torch.ones(2, 5, 7), 2, 3).tolist() == [[[[1.0] * 3] * 2]] * 2


def test_bchw_to_image(glue):
    x = torch.tensor([[[[0.1, 0.4]], [[0.2, 0.5]], [[0.3, 0.6]]]], dtype=torch.float64)  # [1,3,1,2]
    out = glue.bchw_to_image(x)
    assert out.shape == (1, 1, 2, 3) and out.dtype == torch.float32 and out.is_contiguous()
    torch.testing.assert_close(out, torch.tensor([[[[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]]]))
    grey = glue.bchw_to_image(torch.tensor([[[[0.25, 0.75], [0.5, 0.0]]], [[[1.0, 0.125], [0.0, 0.5]]]]))
    assert grey.shape == (2, 2, 2, 3) and grey.is_contiguous()  # [2,1,2,2] -> every pixel's grey in R, G and B
    assert grey.tolist() == [[[[0.25] * 3, [0.75] * 3], [[0.5] * 3, [0.0] * 3]],
                             [[[1.0] * 3, [0.125] * 3], [[0.0] * 3, [0.5] * 3]]]
    one_row = torch.rand(3, 3, 1, 4)  # a colour image one pixel high stays colour
    assert torch.equal(glue.bchw_to_image(one_row), one_row.permute(0, 2, 3, 1))


def test_to_image_from_uint8_and_numpy(glue):
    frames = np.array([[[[0, 51, 255]]]], np.uint8)
    out = glue.to_image(frames)
    assert out.dtype == torch.float32 and out.shape == (1, 1, 1, 3)
    torch.testing.assert_close(out, torch.tensor([[[[0.0, 0.2, 1.0]]]]))
    t = torch.tensor([[[[255, 0, 102]]]], dtype=torch.uint8)
    torch.testing.assert_close(glue.to_image(t), torch.tensor([[[[1.0, 0.0, 0.4]]]]))
    assert t.tolist() == [[[[255, 0, 102]]]]


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float16])
def test_to_image_always_returns_cpu_frames(glue, dtype):
    """A meta tensor stands in for a GPU one (no GPU here): moving it to the CPU is the step meta cannot do."""
    with pytest.raises(NotImplementedError, match="meta"):
        glue.to_image(torch.empty(1, 2, 2, 3, dtype=dtype, device="meta"))


def test_to_image_makes_no_copy_of_frames_that_already_are_an_image(glue):
    frames = torch.tensor([[[[0.0, 0.5, 1.0]]]])  # both ends exactly
    assert glue.to_image(frames) is frames
    empty = torch.zeros(0, 4, 4, 3)
    assert glue.to_image(empty) is empty
    outside = torch.tensor([[[[-0.5, 0.5, 1.5]]]])
    out = glue.to_image(outside)
    assert out.tolist() == [[[[0.0, 0.5, 1.0]]]] and outside.tolist() == [[[[-0.5, 0.5, 1.5]]]]  # a copy
    below = torch.tensor([[[[-0.5, 0.5, 0.5]]]])
    assert glue.to_image(below).tolist() == [[[[0.0, 0.5, 0.5]]]] and below[0, 0, 0, 0] == -0.5
    above = torch.tensor([[[[0.5, 0.5, 1.5]]]])
    assert glue.to_image(above).tolist() == [[[[0.5, 0.5, 1.0]]]] and above[0, 0, 0, 2] == 1.5


def test_to_image_clamps_owned_frames_in_place(glue):
    frames = torch.tensor([[[[-0.5, 0.5, 1.5]]]])
    out = glue.to_image(frames, owned=True)
    assert out is frames and frames.tolist() == [[[[0.0, 0.5, 1.0]]]]


def test_to_image_converts_other_dtypes_and_layouts(glue):
    half = torch.tensor([[[[0.5, 2.0, -1.0]]]], dtype=torch.float16)
    out = glue.to_image(half, owned=True)
    assert out.dtype == torch.float32 and out.tolist() == [[[[0.5, 1.0, 0.0]]]]
    assert half.tolist() == [[[[0.5, 2.0, -1.0]]]]  # not the caller's own float32: left alone
    double = np.array([[[[0.25, 0.5, 0.75]]]], np.float64)
    assert glue.to_image(double).dtype == torch.float32
    strided = torch.rand(2, 4, 3, 3).permute(0, 2, 1, 3)  # a transposed view: not contiguous
    out = glue.to_image(strided)
    assert out.is_contiguous() and torch.equal(out, strided)
    assert out.data_ptr() != strided.data_ptr()


# ------------------------------------------------------------------------------------------- VIDEO and AUDIO
def test_video_source(glue, errors, tmp_path):
    assert glue.video_source("clip.mp4") == "clip.mp4"
    assert glue.video_source(tmp_path / "clip.mp4") == str(tmp_path / "clip.mp4")
    stream = object()
    video = types.SimpleNamespace(get_stream_source=lambda: stream)
    assert glue.video_source(video) is stream
    for bad in (3, None, b"clip.mp4"):
        with pytest.raises(errors.InputError) as e:
            glue.video_source(bad)
        assert str(e.value) == (f"'video' must be a VIDEO (from Load Video); got {type(bad).__name__}. Connect "
                                "Load Video's output, or use the frames input for an IMAGE batch.")


@pytest.fixture(scope="module")
def Audio(pack):
    return importlib.import_module(pack.__name__.rsplit(".", 1)[0] + ".disco_core.media.audio").Audio


def test_audio_to_comfy(glue, Audio):
    samples = np.array([[0.0, 0.5, -0.5], [1.0, -1.0, 0.25]], np.float32)
    out = glue.audio_to_comfy(Audio(samples, 22050))
    assert set(out) == {"waveform", "sample_rate"}
    assert out["sample_rate"] == 22050 and type(out["sample_rate"]) is int
    assert out["waveform"].shape == (1, 2, 3) and out["waveform"].dtype == torch.float32
    assert out["waveform"].tolist() == [[[0.0, 0.5, -0.5], [1.0, -1.0, 0.25]]]


def test_audio_from_comfy(glue, Audio):
    wave = torch.tensor([[[0.1, 0.2], [0.3, 0.4]], [[9.0, 9.0], [9.0, 9.0]]], dtype=torch.float64,
                        requires_grad=True)  # [2, 2, 2]: the first item of the batch is taken
    audio = glue.audio_from_comfy({"waveform": wave, "sample_rate": 44100.0})
    assert isinstance(audio, Audio) and audio.sample_rate == 44100 and type(audio.sample_rate) is int
    assert audio.samples.dtype == np.float32
    np.testing.assert_allclose(audio.samples, [[0.1, 0.2], [0.3, 0.4]], rtol=1e-6)
    unbatched = glue.audio_from_comfy({"waveform": torch.tensor([[0.5, -0.5, 0.25], [1.0, 0.0, -1.0]]),
                                       "sample_rate": 8000})  # [channels, samples]: both channels kept
    assert unbatched.samples.tolist() == [[0.5, -0.5, 0.25], [1.0, 0.0, -1.0]] and unbatched.sample_rate == 8000


def test_audio_from_comfy_errors_name_the_input(glue, errors):
    good = torch.zeros(1, 1, 4)
    cases = [(None, "NoneType"), ([good, 8000], "list"), ({"waveform": good}, "dict"),
             ({"waveform": good, "sample_rate": 0}, "dict"), ({"sample_rate": 8000}, "dict"),
             ({"waveform": good.numpy(), "sample_rate": 8000}, "dict"),
             ({"waveform": torch.zeros(4), "sample_rate": 8000}, "dict"),
             ({"waveform": torch.zeros(1, 1, 1, 4), "sample_rate": 8000}, "dict")]
    for value, type_name in cases:
        with pytest.raises(errors.InputError) as e:
            glue.audio_from_comfy(value, "song")
        assert str(e.value) == ("'song' must be an AUDIO value {'waveform': [batch, channels, samples], "
                                f"'sample_rate': int}}; got {type_name}. Connect an AUDIO output (Load Audio, Get "
                                "Video Components).")
    with pytest.raises(errors.InputError, match="^'audio' must be an AUDIO value"):
        glue.audio_from_comfy(None)
