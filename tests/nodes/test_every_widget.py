"""Every widget of every node matters: a node run with two values of one widget gives different outputs (or, for
a widget with no visible effect by design, the value reaches the computation). A widget whose value were ignored,
or replaced by its default, fails here. `test_every_widget_has_a_test` keeps the list complete: a new widget
without a test fails it.

Outputs are compared by value (torch.equal), whatever kind of tensor the node returns.
"""
from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.paths import PARITY_IMAGE, ROOT
from tests.synthetic_inputs import dance_coco17, dance_json, moving_clip, person_clip, skeleton_images

TEMPORAL = ROOT / "tests" / "fixtures" / "parity" / "temporal"
NODE_TESTS = Path(__file__).resolve().parent
WIDGET_TYPES = ("INT", "FLOAT", "BOOLEAN", "STRING")

# node -> widget -> the test (in this file, or "file.py::name" elsewhere) that fails when the widget is ignored
WIDGET_TESTS = {
    "DisCoModelLoader": {
        "checkpoint": "test_loader_checkpoint_picks_the_file",
        "dtype": "test_loader_dtype_reaches_the_weights",
        "cfg_variant": "test_model_loader.py::test_cfg_variant_reaches_the_model",
        "personalisation": "test_finetune_node.py::test_fine_tune_node_saves_a_personalisation_the_loader_reproduces",
    },
    "DisCoDisentangleImage": {"invert_mask": "test_disentangle_invert_mask_flips_the_split"},
    "DisCoPoseSequence": {w: "test_pose_sequence_widget_changes_the_poses" for w in (
        "fps", "max_frames", "smoothing", "pose_json", "canvas_width", "canvas_height",
        "start_frame")} | {"detector": "test_pose_sequence_detector_reaches_the_detector",
                           "retarget": "test_pose_sequence_retarget_moves_the_skeleton",
                           "target_fps": "test_pose_sequence_target_fps_resamples_the_motion"},
    "DisCoSampler": {w: "test_sampler_widget_changes_the_frames" for w in (
        "seed", "steps", "cfg", "width", "height", "noise_mode", "pose_scale", "background_scale")} | {
        "scheduler": "test_every_scheduler_gives_its_own_frames",
        "fit": "test_every_fit_gives_its_own_frames",
        "frames_per_batch": "test_frames_per_batch_reaches_the_batches",
        "window": "test_temporal_window_and_overlap_change_the_frames",
        "overlap": "test_temporal_window_and_overlap_change_the_frames",
    },
    "DisCoTemporalSmooth": {w: "test_temporal_smooth_widget_changes_the_frames"
                            for w in ("strength", "flow_scale", "bidirectional")},
    "DisCoFineTune": {w: "test_fine_tune_widget_changes_the_model" for w in (
        "steps", "trainable", "batch_size", "seed", "lora_rank", "max_frames", "size", "precision")} | {
        "lr": "test_fine_tune_lr_scales_the_update",
        "save_name": "test_finetune_node.py::test_fine_tune_node_saves_a_personalisation_the_loader_reproduces",
    },
    "DisCoCluster": {w: "test_cluster_node.py::test_the_cluster_is_kept_across_prompts_and_replaced_when_settings_change"
                     for w in ("address", "workers", "gpus_per_worker")},
}


def _widgets(cls) -> list[str]:
    spec = cls.INPUT_TYPES()
    found = []
    for section in ("required", "optional"):
        for name, (kind, *_) in spec.get(section, {}).items():
            if isinstance(kind, (list, tuple)) or kind in WIDGET_TYPES:
                found.append(name)
    return found


def test_every_widget_has_a_test(pack):
    here = sys.modules[__name__]
    for node, cls in pack.NODE_CLASS_MAPPINGS.items():
        widgets = _widgets(cls)
        if not widgets:
            continue
        listed = WIDGET_TESTS.get(node, {})
        assert sorted(listed) == sorted(widgets), f"{node}: widgets without a test: {set(widgets) - set(listed)}"
        for test in listed.values():
            if "::" in test:
                file, name = test.split("::")
                assert f"def {name}(" in (NODE_TESTS / file).read_text(), test
            else:
                assert inspect.isfunction(getattr(here, test, None)), test


def same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and torch.equal(torch.as_tensor(a), torch.as_tensor(b))


@pytest.fixture(scope="module")
def nodes(pack):
    return {k: v() for k, v in pack.NODE_CLASS_MAPPINGS.items()}


@pytest.fixture(scope="module")
def node_module(pack):
    return lambda name: importlib.import_module(f"{pack.__name__}.{name}")  # pack is the nodes package


# ------------------------------------------------------------------------------------------------ the loader
@pytest.fixture(scope="module")
def two_models(core, tmp_path_factory):
    """models/disco with the tiny image model and the tiny temporal model."""
    folder = tmp_path_factory.mktemp("two_models")
    core.convert_checkpoint(PARITY_IMAGE / "weights.safetensors", folder / "tiny.safetensors",
                            configs=PARITY_IMAGE / "configs.json")
    core.convert_checkpoint(TEMPORAL / "weights.safetensors", folder / "temporal.safetensors",
                            configs=TEMPORAL / "configs.json")
    return folder


@pytest.fixture(scope="module")
def load(nodes, two_models):
    def run(checkpoint="tiny.safetensors", dtype="fp32", cfg_variant="auto"):
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("DISCO_MODELS_DIR", str(two_models))
            return nodes["DisCoModelLoader"].load(checkpoint, dtype, cfg_variant)[0]
    return run


def test_loader_checkpoint_picks_the_file(load):
    image, temporal = load("tiny.safetensors"), load("temporal.safetensors")
    assert not image.model.is_temporal and temporal.model.is_temporal


@pytest.mark.parametrize("dtype,expected", [("fp16", torch.float16), ("bf16", torch.bfloat16),
                                            ("fp32", torch.float32), ("auto", torch.float32)])  # auto: CPU here
def test_loader_dtype_reaches_the_weights(load, dtype, expected):
    assert load(dtype=dtype).model.dtype == expected  # the compute dtype (weights may be stored narrower)


# ---------------------------------------------------------------------------------------- Disentangle Image
def test_disentangle_invert_mask_flips_the_split(nodes, photo, photo_mask):
    plain = nodes["DisCoDisentangleImage"].disentangle(photo, photo_mask, invert_mask=False)
    flipped = nodes["DisCoDisentangleImage"].disentangle(photo, photo_mask, invert_mask=True)
    torch.testing.assert_close(plain[3], photo_mask)
    torch.testing.assert_close(flipped[3], 1.0 - photo_mask)
    torch.testing.assert_close(flipped[1], plain[2])  # foreground and background swap


# -------------------------------------------------------------------------------------------- Pose Sequence
POSE_CANVAS = (160, 240)
POSE_BASE = dict(detector="builtin", fps=12.0, target_fps=0.0, max_frames=0, smoothing=0.0, retarget=False,
                 canvas_width=160, canvas_height=240, start_frame=0)


def _jittery_json() -> str:
    """Six frames of the generated dancer with per-frame jitter (so smoothing has something to remove)."""
    import json
    kps = dance_coco17(6, POSE_CANVAS)
    kps[:, :, :2] += np.random.default_rng(0).normal(0, 4, kps[:, :, :2].shape)
    return json.dumps([[{"keypoints": np.round(kp, 2).tolist()}] for kp in kps])


def _pose_digest(poses, fps):
    return len(poses), fps, poses.frames.model_input(0, len(poses), 64, 64)


def _same_poses(a, b) -> bool:
    return a[0] == b[0] and a[1] == b[1] and same(a[2], b[2])


@pytest.fixture(scope="module")
def pose_json():
    return _jittery_json()


@pytest.mark.parametrize("widget,value", [("fps", 24.0), ("target_fps", 6.0), ("max_frames", 4),
                                          ("smoothing", 0.6), ("canvas_width", 200), ("canvas_height", 300),
                                          ("start_frame", 2), ("pose_json", dance_json(6, POSE_CANVAS))])
def test_pose_sequence_widget_changes_the_poses(nodes, pose_json, widget, value):
    build = nodes["DisCoPoseSequence"].build
    inputs = {**POSE_BASE, "pose_json": pose_json}
    base = build(**inputs)
    changed = build(**{**inputs, widget: value})
    assert not _same_poses(_pose_digest(base[0], base[2]), _pose_digest(changed[0], changed[2]))


def test_pose_sequence_target_fps_resamples_the_motion(nodes, pose_json):
    """Six frames at 12 fps resampled to 6 fps: three frames of the same duration (not only a new fps label)."""
    poses, _, fps, _ = nodes["DisCoPoseSequence"].build(**{**POSE_BASE, "target_fps": 6.0}, pose_json=pose_json)
    assert fps == 6.0 and len(poses) == 3


def test_pose_sequence_detector_reaches_the_detector(nodes, node_module, monkeypatch):
    """No detector runs here (the built-in one needs mediapipe and a real person): the detection call is
    recorded, and the chosen detector must be the one it gets."""
    module = node_module("pose_sequence")
    seen = []

    def detect_frames(frames, detector, models_dir, fps, progress=None):
        seen.append(detector)
        canvas = (int(frames.shape[2]), int(frames.shape[1]))
        return module.PoseSequence.from_pose_keypoint(
            module.parse_pose_text(dance_json(len(frames), canvas), canvas=canvas).to_pose_keypoint(), fps=fps)

    monkeypatch.setattr(module.driving, "detect_frames", detect_frames)
    frames = skeleton_images(3, POSE_CANVAS)
    for detector in ("openpose", "dwpose", "builtin"):
        nodes["DisCoPoseSequence"].build(**{**POSE_BASE, "detector": detector}, frames=frames)
    assert seen == ["openpose", "dwpose", "builtin"]


def test_pose_sequence_retarget_moves_the_skeleton(nodes, node_module, monkeypatch, photo, photo_mask):
    """The reference photo's detected pose is a smaller figure: with retarget the driving skeleton takes its
    size, without it the skeleton stays as driven."""
    module = node_module("pose_sequence")

    def detect_poses(images, backend, models_dir=None, **_):
        h, w = images.shape[1:3]
        small = dance_coco17(1, (w, h))
        small[..., :2] = small[..., :2] * 0.6 + np.array([w, h]) * 0.2
        import json
        text = json.dumps([[{"keypoints": small[0].tolist()}]])
        return module.parse_pose_text(text, canvas=(w, h))

    monkeypatch.setattr(module, "detect_poses", detect_poses)
    reference = nodes["DisCoDisentangleImage"].disentangle(photo, photo_mask)[0]
    inputs = {**POSE_BASE, "pose_json": dance_json(3, POSE_CANVAS), "reference": reference}
    plain = nodes["DisCoPoseSequence"].build(**inputs)[0]
    fitted = nodes["DisCoPoseSequence"].build(**{**inputs, "retarget": True})[0]
    spread = lambda p: np.ptp(p.keypoints.keypoints[..., 1][p.keypoints.keypoints[..., 2] > 0])
    assert spread(fitted) < 0.8 * spread(plain)


# ------------------------------------------------------------------------------------------------ Sampler
SAMPLE = dict(seed=7, steps=2, cfg=1.5, scheduler="ddim", width=64, height=64, fit="crop", frames_per_batch=2,
              noise_mode="per_frame", pose_scale=1.0, background_scale=1.0)
# The schedulers the README lists; each must be its own algorithm.
README_SCHEDULERS = ("ddim", "dpmpp_2m", "dpmpp_2m_karras", "euler", "euler_ancestral", "unipc", "pndm", "ddpm")


@pytest.fixture(scope="module")
def sample(nodes, load, photo, photo_mask):
    """sample(**changes) -> frames of the tiny image model (cached per set of changes)."""
    model = load()
    reference = nodes["DisCoDisentangleImage"].disentangle(photo, photo_mask)[0]
    poses = nodes["DisCoPoseSequence"].build(**{**POSE_BASE, "retarget": False},
                                             pose_images=skeleton_images(3, POSE_CANVAS))[0]
    cache = {}

    def run(**changes):
        key = tuple(sorted(changes.items()))
        if key not in cache:
            frames, _ = nodes["DisCoSampler"].sample(model, reference, poses, **{**SAMPLE, **changes})
            cache[key] = torch.as_tensor(frames).clone()
        return cache[key]
    return run


@pytest.mark.parametrize("widget,value", [("seed", 8), ("steps", 3), ("cfg", 3.0), ("cfg", 1.0), ("width", 72),
                                          ("height", 72), ("noise_mode", "official"), ("pose_scale", 0.5),
                                          ("background_scale", 0.5)])
def test_sampler_widget_changes_the_frames(sample, widget, value):
    assert not same(sample(), sample(**{widget: value}))


def test_every_scheduler_gives_its_own_frames(pack, sample):
    schedulers = pack.NODE_CLASS_MAPPINGS["DisCoSampler"].INPUT_TYPES()["required"]["scheduler"][0]
    assert sorted(schedulers) == sorted(README_SCHEDULERS)
    frames = {name: sample(scheduler=name, steps=3) for name in README_SCHEDULERS}  # at 2 steps unipc = dpmpp_2m
    for i, a in enumerate(README_SCHEDULERS):
        for b in README_SCHEDULERS[i + 1:]:
            assert not same(frames[a], frames[b]), f"{a} and {b} give the same frames"


def test_every_fit_gives_its_own_frames(sample):
    crop, pad, official = (sample(fit=f, width=96) for f in ("crop", "pad", "official"))  # square: crop = official
    assert not same(crop, pad) and not same(crop, official) and not same(pad, official)


def test_frames_per_batch_reaches_the_batches(sample):
    """Per-frame noise makes the batch size invisible (tested in test_sampler.py); one draw per batch shows it."""
    assert not same(sample(noise_mode="official", frames_per_batch=2),
                    sample(noise_mode="official", frames_per_batch=3))


def test_temporal_window_and_overlap_change_the_frames(nodes, load, photo, photo_mask):
    model = load("temporal.safetensors")
    reference = nodes["DisCoDisentangleImage"].disentangle(photo, photo_mask)[0]
    poses = nodes["DisCoPoseSequence"].build(**POSE_BASE, pose_images=skeleton_images(7, POSE_CANVAS))[0]
    run = lambda window, overlap: torch.as_tensor(nodes["DisCoSampler"].sample(
        model, reference, poses, window=window, overlap=overlap, **{**SAMPLE, "width": 64, "height": 64,
                                                                     "frames_per_batch": 8})[0])
    base = run(4, 2)  # windows at 0, 2, 3
    assert not same(base, run(3, 2))  # 0, 1, 2, 3, 4
    assert not same(base, run(4, 1))  # 0, 3


# ----------------------------------------------------------------------------------------- Temporal Smooth
@pytest.fixture(scope="module")
def flicker():
    clip = moving_clip(6, 96, 96)  # DIS finds no flow on frames as small as 32 px
    gain = 1.0 + 0.15 * torch.tensor([(-1) ** i for i in range(6)], dtype=torch.float32)
    return (clip * gain[:, None, None, None]).clamp(0, 1)


@pytest.mark.parametrize("widget,value", [("strength", 0.9), ("flow_scale", 0.5), ("bidirectional", False)])
def test_temporal_smooth_widget_changes_the_frames(nodes, flicker, widget, value):
    base = dict(strength=0.5, flow_scale=1.0, bidirectional=True)
    smooth = nodes["DisCoTemporalSmooth"].smooth
    a = torch.as_tensor(smooth(flicker, **base)[0])
    b = torch.as_tensor(smooth(flicker, **{**base, widget: value})[0])
    assert not same(a, b)


# -------------------------------------------------------------------------------------------- Fine-Tune
TUNE = dict(steps=2, lr=1e-3, trainable="lora", batch_size=1, seed=0, save_name="", lora_rank=2, max_frames=3,
            size=32, precision="auto")


@pytest.fixture(scope="module")
def tune(nodes, load, node_module):
    base = load()
    frames, mask, rendered = person_clip()
    sockets = node_module("sockets")
    pose_frames = importlib.import_module(sockets.__name__.rsplit(".", 2)[0] + ".disco_core.pose.frames")
    poses = sockets.DiscoPoses(pose_frames.TensorFrames(rendered))
    cache = {}

    def run(**changes):
        key = tuple(sorted(changes.items()))
        if key not in cache:
            tuned, _ = nodes["DisCoFineTune"].fine_tune(base, frames, mask=mask, poses=poses, **{**TUNE, **changes})
            cache[key] = {k: v.detach().clone() for k, v in tuned.model.state_dict().items()}
        return cache[key]
    run.base = {k: v.detach().clone() for k, v in base.model.state_dict().items()}
    return run


def _same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)


@pytest.mark.parametrize("widget,value", [("steps", 3), ("trainable", "crossattn-kv"), ("batch_size", 2),
                                          ("seed", 1), ("lora_rank", 3), ("max_frames", 2), ("size", 40),
                                          ("precision", "bf16")])
def test_fine_tune_widget_changes_the_model(tune, widget, value):
    assert not _same_weights(tune(), tune(**{widget: value}))


def test_fine_tune_lr_scales_the_update(tune):
    """AdamW moves each weight by about lr per step: ten times the lr, about ten times the change."""
    def change(lr):
        tuned = tune(trainable="crossattn-kv", lr=lr)
        return sum((tuned[k].float() - v.float()).abs().sum().item() for k, v in tune.base.items())
    small, large = change(1e-4), change(1e-3)
    assert small > 0 and 5 < large / small < 20


def test_temporal_smooth_progress_counts_both_passes(nodes, node_module, flicker, monkeypatch):
    """The progress bar covers the whole run: 2 x frames bidirectional, 1 x otherwise (a mutmut survivor)."""
    seen = []

    def simple_progress(total, node_id=None):
        seen.append(("total", total))
        return lambda done, n=None: seen.append((done, n))

    monkeypatch.setattr(node_module("comfy_glue"), "simple_progress", simple_progress)
    for bidirectional, total in ((True, 12), (False, 6)):
        seen.clear()
        nodes["DisCoTemporalSmooth"].smooth(flicker, strength=0.5, bidirectional=bidirectional)
        assert seen[0] == ("total", total) and seen[-1] == (total, total)
