"""DisCo Sampler's wiring: what the node hands to the core (`animate`, the cluster's `animate_chunks_on`), to ComfyUI
(progress bar total, preview interval, Cancel hook, frame files, UI preview) and what it tells the user (messages,
size limits). The core is replaced by recorders where the real run would only be slower; the expected values are
written by hand."""
from __future__ import annotations

import importlib
import logging
import types

import pytest
import torch

from tests.nodes.tiny_graph import POSE, tiny_graph
from tests.synthetic_inputs import dance_json

SAMPLE = dict(seed=7, steps=2, cfg=2.5, scheduler="ddim", width=64, height=64, fit="pad", frames_per_batch=2)
SIZE_MESSAGE = ("width and height must be multiples of 8 between 64 and 2048 pixels (got {}x{}); DisCo was trained "
                "at 256x256.")


@pytest.fixture(scope="module")
def setup(pack, models_dir):
    """(nodes, model, reference, poses of 5 frames at 12 fps, comfy_glue, the sampler's module)."""
    nodes, model, reference, poses, glue = tiny_graph(pack, models_dir, 5)
    return nodes, model, reference, poses, glue, importlib.import_module(pack.__name__ + ".sampler")


def poses_of(nodes, frames: int):
    return nodes["DisCoPoseSequence"].build(**POSE, pose_json=dance_json(frames, (160, 240)), canvas_width=160,
                                            canvas_height=240)[0]


@pytest.fixture
def recorded(setup, monkeypatch, tmp_path):
    """`animate` replaced by a recorder returning made-up frames (values outside 0..1 on purpose); progress,
    preview interval, Cancel hook and frame folder replaced by markers. -> dict of what the node passed."""
    _, _, _, _, glue, sampler = setup
    seen = {"progress_totals": [], "preview_steps": []}

    def animate(model, image, mask, poses, **options):
        seen.update(model=model, image=image, mask=mask, poses=poses, options=options)
        seen["frames"] = torch.linspace(-0.5, 1.5, len(poses) * 64 * 64 * 3).reshape(len(poses), 64, 64, 3)
        return seen["frames"]

    def on_step(info):
        pass

    def cancel():
        return False

    monkeypatch.setattr(sampler, "animate", animate)
    monkeypatch.setattr(glue, "progress", lambda total, node_id=None: seen["progress_totals"].append(total) or on_step)
    monkeypatch.setattr(glue, "preview_every", lambda steps: seen["preview_steps"].append(steps) or 5)
    monkeypatch.setattr(glue, "raise_if_interrupted", cancel)
    monkeypatch.setattr(glue, "frames_folder", lambda: str(tmp_path / "frames"))
    seen.update(on_step=on_step, cancel=cancel, buffer_dir=str(tmp_path / "frames"))
    return seen


# ---------------------------------------------------------------------------------------------- local path
def test_every_setting_reaches_animate(setup, recorded, monkeypatch):
    """Kills: frames_per_batch dropped from the options (animate's default 8 used); model.ready(None) (ComfyUI
    then reserves no memory for the activations)."""
    nodes, model, reference, poses, _, _ = setup
    asked = []
    monkeypatch.setattr(model, "ready", lambda memory_required=0: asked.append(memory_required) or "cpu")
    frames, fps = nodes["DisCoSampler"].sample(model, reference, poses, seed=9, steps=3, cfg=2.5, scheduler="ddim",
                                               width=72, height=64, fit="pad", frames_per_batch=3,
                                               noise_mode="official", pose_scale=0.5, background_scale=0.25,
                                               window=4, overlap=1)
    assert recorded["model"] is model.model and recorded["poses"] is poses.frames
    assert recorded["image"] is reference.image and recorded["mask"] is reference.mask
    options = dict(recorded["options"])
    assert {k: options.pop(k) for k in ("on_step", "should_cancel", "buffer_dir", "preview_every")}
    assert options == dict(background=None, height=64, width=72, fit="pad", num_inference_steps=3,
                           guidance_scale=2.5, scheduler="ddim", seed=9, frames_per_batch=3, noise_mode="official",
                           pose_scale=0.5, background_scale=0.25, window=4, overlap=1)
    assert fps == 12.0
    assert len(asked) == 1 and isinstance(asked[0], int) and asked[0] > 0


@pytest.mark.parametrize("frames_per_batch, total", [(2, 6), (3, 4), (5, 2), (8, 2)])
def test_progress_total_is_steps_times_chunks(setup, recorded, frames_per_batch, total):
    """5 poses, 2 steps: chunks = ceil(5 / frames_per_batch). Kills: the ceil division's signs, `/` for `//`,
    progress(None), steps / chunks, on_step not passed or None."""
    nodes, model, reference, poses, _, _ = setup
    nodes["DisCoSampler"].sample(model, reference, poses, **{**SAMPLE, "frames_per_batch": frames_per_batch})
    assert recorded["progress_totals"] == [total]
    assert recorded["options"]["on_step"] is recorded["on_step"]


def test_preview_interval_cancel_hook_and_frame_folder_reach_animate(setup, recorded):
    """Kills: preview_every None / dropped / asked with None; should_cancel None / dropped; buffer_dir None /
    dropped."""
    nodes, model, reference, poses, _, _ = setup
    nodes["DisCoSampler"].sample(model, reference, poses, **{**SAMPLE, "steps": 3})
    assert recorded["preview_steps"] == [3]
    assert recorded["options"]["preview_every"] == 5
    assert recorded["options"]["should_cancel"] is recorded["cancel"]
    assert recorded["options"]["buffer_dir"] == recorded["buffer_dir"]


def test_the_frames_are_clamped_in_place_not_copied(setup, recorded):
    """The frames live in a file (a song's worth); the node clamps them there instead of making a RAM copy.
    Kills: to_image(owned=False / None / default)."""
    nodes, model, reference, poses, _, _ = setup
    frames, _ = nodes["DisCoSampler"].sample(model, reference, poses, **SAMPLE)
    assert frames.data_ptr() == recorded["frames"].data_ptr()
    assert frames.min() == 0.0 and frames.max() == 1.0


def test_one_pose_gives_one_frame_and_no_pose_is_refused(setup, recorded, pack, core):
    """Kills: `len(poses) == 1` refused instead of 0; the empty-pose message changed or None."""
    nodes, model, reference, _, _, _ = setup
    frames, _ = nodes["DisCoSampler"].sample(model, reference, poses_of(nodes, 1), **SAMPLE)
    assert frames.shape == (1, 64, 64, 3)
    empty = importlib.import_module(pack.__name__ + ".sockets").DiscoPoses(frames=[])
    with pytest.raises(core.InputError) as error:
        nodes["DisCoSampler"].sample(model, reference, empty, **SAMPLE)
    assert str(error.value) == "The pose sequence is empty: Pose Sequence produced no frames. Check its input."


def test_a_bad_background_is_named_in_the_error(setup, recorded, core):
    """Kills: image_to_bchw(background, None / "XXbackgroundXX" / "BACKGROUND" / default "image")."""
    nodes, model, reference, poses, _, _ = setup
    with pytest.raises(core.InputError, match=r"^'background' has 5 channels"):
        nodes["DisCoSampler"].sample(model, reference, poses, background=torch.zeros(1, 32, 32, 5), **SAMPLE)


def test_sample_with_preview_returns_the_frames_and_a_sampler_preview_of_them(setup, recorded, monkeypatch,
                                                                              tmp_path):
    """Kills: every change to sample_with_preview's "ui"/"result" keys and frames_preview's arguments."""
    nodes, model, reference, poses, glue, _ = setup
    monkeypatch.setattr(glue, "temp_folder", lambda: str(tmp_path))
    out = nodes["DisCoSampler"].sample_with_preview(model=model, reference=reference, poses=poses, **SAMPLE)
    assert set(out) == {"ui", "result"}
    frames, fps = out["result"]
    assert frames.shape == (5, 64, 64, 3) and fps == 12.0
    ((key, (entry,)),) = out["ui"].items()
    assert key == "disco_preview"
    assert (entry["kind"], entry["frames"], entry["fps"], entry["width"], entry["height"]) == ("sampler", 5, 12.0,
                                                                                                256, 256)


# --------------------------------------------------------------------------------------------- size limits
@pytest.mark.parametrize("size", [64, 72, 2040, 2048])
def test_sizes_from_64_to_2048_in_steps_of_8_are_accepted(pack, size):
    """Each side checked alone (the other left at its default, as ComfyUI does when it is linked). Kills: 65 <= /
    64 < / < 2048 on either side, either default changed to 257."""
    cls = pack.NODE_CLASS_MAPPINGS["DisCoSampler"]
    assert cls.VALIDATE_INPUTS(width=size) is True
    assert cls.VALIDATE_INPUTS(height=size) is True
    assert cls.VALIDATE_INPUTS(width=size, height=size) is True


@pytest.mark.parametrize("size", [56, 2056, 100, 0])
def test_sizes_one_step_outside_or_not_multiples_of_8_are_refused_with_the_message(pack, size):
    """Kills: the message's last sentence changed."""
    cls = pack.NODE_CLASS_MAPPINGS["DisCoSampler"]
    assert cls.VALIDATE_INPUTS(width=size, height=256) == SIZE_MESSAGE.format(size, 256)
    assert cls.VALIDATE_INPUTS(width=256, height=size) == SIZE_MESSAGE.format(256, size)


def test_a_width_or_height_linked_from_another_node_passes_validation(pack):
    """ComfyUI validates before running and passes an input linked to another node's output as None: the node
    raised TypeError there (the whole prompt refused). Bug fix; the other side is still checked."""
    cls = pack.NODE_CLASS_MAPPINGS["DisCoSampler"]
    assert cls.VALIDATE_INPUTS(width=None, height=256) is True
    assert cls.VALIDATE_INPUTS(width=256, height=None) is True
    assert cls.VALIDATE_INPUTS(width=None, height=100) == SIZE_MESSAGE.format(None, 100)


@pytest.mark.parametrize("width, height", [(4096, 256), (256, 32), (100, 256)])
def test_a_linked_size_out_of_range_is_refused_when_the_node_runs(setup, recorded, core, width, height):
    """A linked width/height skips validation (None there): the node checks the value it gets, with the same
    message, before any work."""
    nodes, model, reference, poses, _, _ = setup
    with pytest.raises(core.InputError) as error:
        nodes["DisCoSampler"].sample(model, reference, poses, **{**SAMPLE, "width": width, "height": height})
    assert str(error.value) == SIZE_MESSAGE.format(width, height) and "model" not in recorded


def test_seed_widget_has_control_after_generate_and_cfg_rounds_to_a_hundredth(pack):
    """ComfyUI's randomize/fixed widget under the seed, cfg kept to 0.01. Kills: those two options renamed or
    changed."""
    spec = pack.NODE_CLASS_MAPPINGS["DisCoSampler"].INPUT_TYPES()["required"]
    assert spec["seed"][1]["control_after_generate"] is True
    assert spec["cfg"][1]["round"] == 0.01


# --------------------------------------------------------------------------------------------- cluster path
class FakePool:
    def __init__(self):
        self.workers = [types.SimpleNamespace(info={"host": "gpu-a", "pid": 11, "device": "cuda:0"}),
                        types.SimpleNamespace(info={"host": "gpu-b", "pid": 22, "device": "cuda:1"})]


class FakeCluster:
    def __init__(self):
        self.sources = []
        self.the_pool = FakePool()

    def pool(self, source):
        self.sources.append(source)
        return self.the_pool

    def __repr__(self):
        return "FakeCluster(2 workers)"


@pytest.fixture
def on_cluster(setup, core, monkeypatch, tmp_path):
    """`animate_chunks_on` replaced by a recorder yielding frames 0-2 then 3-4 (frame t filled with t / 10)."""
    glue = setup[4]
    seen = {}

    def animate_chunks_on(pool, image, mask, poses, **options):
        seen.update(pool=pool, image=image, mask=mask, poses=poses, options=options)
        yield range(0, 3), torch.arange(3.0).div(10).view(3, 1, 1, 1).expand(3, 64, 72, 3).contiguous()
        yield range(3, 5), torch.arange(3.0, 5.0).div(10).view(2, 1, 1, 1).expand(2, 64, 72, 3).contiguous()

    monkeypatch.setattr(importlib.import_module(core.__name__ + ".cluster"), "animate_chunks_on", animate_chunks_on,
                        raising=False)
    monkeypatch.setattr(glue, "temp_folder", lambda: str(tmp_path))
    seen["folder"] = tmp_path / glue.FRAMES_SUBFOLDER
    return seen


def test_the_cluster_renders_with_the_model_file_the_inputs_and_the_settings(setup, on_cluster, caplog):
    """Kills: the model's source not looked up or not handed to cluster.pool; any argument of _on_cluster or of
    animate_chunks_on dropped or None; buffer_dir not taken out of the options; the frames not written in order
    into a file of [poses, H, W, 3]; the log line's arguments."""
    nodes, model, reference, poses, glue, _ = setup
    cluster = FakeCluster()
    with caplog.at_level(logging.INFO, logger=glue.log.name):
        frames, fps = nodes["DisCoSampler"].sample(model, reference, poses, **{**SAMPLE, "width": 72},
                                                   cluster=cluster)
    assert cluster.sources == [model.model.disco_source]
    assert on_cluster["pool"] is cluster.the_pool and on_cluster["poses"] is poses.frames
    assert on_cluster["image"] is reference.image and on_cluster["mask"] is reference.mask
    options = on_cluster["options"]
    assert sorted(options) == sorted(["background", "height", "width", "fit", "num_inference_steps",
                                      "guidance_scale", "scheduler", "seed", "frames_per_batch", "noise_mode",
                                      "pose_scale", "background_scale", "window", "overlap", "on_step",
                                      "preview_every", "should_cancel"])
    assert (options["width"], options["height"], options["seed"], options["num_inference_steps"]) == (72, 64, 7, 2)
    assert frames.shape == (5, 64, 72, 3) and fps == 12.0
    torch.testing.assert_close(frames[:, 0, 0, 0], torch.tensor([0.0, 0.1, 0.2, 0.3, 0.4]))
    assert len(list(on_cluster["folder"].glob("frames_*"))) == 1  # in a file, as the local path's frames
    assert "DisCo: rendering 5 frames on FakeCluster(2 workers): 2 workers (gpu-a:11 cuda:0, gpu-b:22 cuda:1)" in [
        r.getMessage() for r in caplog.records]


def test_a_model_not_loaded_from_a_file_cannot_go_to_the_cluster(setup, on_cluster, core):
    """Kills: the source check inverted or skipped (getattr without its default), the message changed or None."""
    nodes, model, reference, poses, _, _ = setup
    unsaved = types.SimpleNamespace(model=types.SimpleNamespace(is_temporal=False, dtype=torch.float32))
    cluster = FakeCluster()
    with pytest.raises(core.InputError) as error:
        nodes["DisCoSampler"].sample(unsaved, reference, poses, **SAMPLE, cluster=cluster)
    assert str(error.value) == (
        "this model was not loaded from a file (e.g. it comes straight from DisCo Fine-Tune), so the cluster's "
        "workers cannot load it: save the personalisation and pick it in Load DisCo Model, or disconnect DisCo "
        "Cluster")
    assert cluster.sources == [] and "pool" not in on_cluster
