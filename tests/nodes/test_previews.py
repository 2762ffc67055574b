"""Canvas previews: the sprite sheets the web player reads, and the UI output of Pose Sequence and the Sampler."""
from importlib import import_module
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import image_tensor


@pytest.fixture
def previews(pack, tmp_path, monkeypatch):
    glue = import_module(pack.__name__ + ".comfy_glue")
    monkeypatch.setattr(glue, "temp_folder", lambda: str(tmp_path))
    return import_module(pack.__name__ + ".previews")


def frame_at(folder: Path, entry: dict, index: int) -> np.ndarray:
    """Frame `index` cut out of the sheets exactly as web/js/disco_player.js does (seek())."""
    sheet = entry["sheets"][index // entry["per_sheet"]]
    k = index % entry["per_sheet"]
    x, y = (k % entry["columns"]) * entry["width"], (k // entry["columns"]) * entry["height"]
    with Image.open(folder / sheet["subfolder"] / sheet["filename"]) as im:
        return np.asarray(im.convert("RGB"))[y:y + entry["height"], x:x + entry["width"]]


def test_every_frame_is_found_where_the_player_looks_for_it(previews, tmp_path, monkeypatch):
    """130 frames, each a different flat colour, over several sheets. Breaking the tiling (e.g. rows and
    columns swapped in write_sheets) puts frames where the player does not look and fails this."""
    monkeypatch.setattr(previews, "SHEET_MAX_SIDE", 600)  # force several sheets
    count = 130
    colours = torch.stack([torch.tensor([i / count, 1 - i / count, (i * 7 % count) / count]) for i in range(count)])
    frames = colours[:, None, None, :].expand(count, 90, 160, 3).contiguous()
    ui = previews.frames_preview(frames, 12.0, "sampler")
    (entry,) = ui[previews.UI_KEY]
    assert entry["frames"] == count and entry["fps"] == 12.0 and entry["kind"] == "sampler"
    assert (entry["width"], entry["height"]) == (256, 144)  # longest side 256, aspect kept
    assert len(entry["sheets"]) == -(-count // entry["per_sheet"]) > 1
    assert all(s["type"] == "temp" and s["subfolder"] == previews.SUBFOLDER for s in entry["sheets"])
    for i in range(count):
        got = frame_at(tmp_path, entry, i)[8:-8, 8:-8].reshape(-1, 3).mean(0)
        np.testing.assert_allclose(got, colours[i].numpy() * 255, atol=6, err_msg=f"frame {i}")


def test_long_clips_get_smaller_frames_not_more_pixels(previews):
    assert previews.frame_size(1080, 1920, 100) == (144, 256)
    # README: "a clip longer than 600 frames gets smaller preview frames"
    assert previews.frame_size(1080, 1920, 600) == (144, 256) and previews.frame_size(1080, 1920, 601)[1] < 256
    small = previews.frame_size(1080, 1920, 1800)  # a 60 s TikTok at 30 fps
    assert small[1] < 256 and small[1] >= previews.MIN_SIDE
    assert 1800 * small[0] * small[1] <= 1.05 * previews.FULL_SIZE_FRAMES * 144 * 256


def test_sampler_returns_its_frames_and_a_preview_of_them(pack, previews, tmp_path, models_dir, monkeypatch,
                                                          shared_data, photo, photo_mask):
    monkeypatch.setenv("DISCO_MODELS_DIR", str(models_dir))
    nodes = {k: v() for k, v in pack.NODE_CLASS_MAPPINGS.items()}
    (model,) = nodes["DisCoModelLoader"].load("tiny.safetensors", "fp32", "auto")
    reference = nodes["DisCoDisentangleImage"].disentangle(photo, photo_mask)[0]
    files = sorted((shared_data / "disco_demo" / "pose_img").glob("*.png"))[:2]
    poses = nodes["DisCoPoseSequence"].build("builtin", 10.0, 0.0, 0, 0.0, False,
                                             pose_images=torch.cat([image_tensor(f) for f in files]))[0]
    out = nodes["DisCoSampler"].sample_with_preview(model=model, reference=reference, poses=poses, seed=1, steps=1,
                                                    cfg=1.0, scheduler="ddim", width=64, height=96, fit="crop",
                                                    frames_per_batch=2)
    frames, fps = out["result"]
    (entry,) = out["ui"][previews.UI_KEY]
    assert frames.shape == (2, 96, 64, 3) and fps == 10.0
    assert entry["frames"] == 2 and entry["fps"] == 10.0 and (entry["width"], entry["height"]) == (171, 256)
    for i in range(2):  # the preview shows the frames the node returned, upscaled
        expected = torch.nn.functional.interpolate(frames[i:i + 1].permute(0, 3, 1, 2), size=(256, 171),
                                                   mode="bilinear")[0].permute(1, 2, 0).numpy() * 255
        assert np.abs(frame_at(tmp_path, entry, i).astype(np.float32) - expected).mean() < 12


def test_pose_preview_draws_the_retargeted_skeleton_on_the_photo(pack, previews, tmp_path, real_photo,
                                                                 real_photo_mask, shared_data):
    """Sequence 002 retargeted onto a disco_demo photo: the preview is the photo (dimmed) with each frame's
    skeleton, and the skeleton's pixels fall on the photo's person (as the retarget test measures)."""
    import json

    photo, photo_mask = real_photo, real_photo_mask  # retargeting detects the pose of a real person

    nodes = {k: v() for k, v in pack.NODE_CLASS_MAPPINGS.items()}
    reference = nodes["DisCoDisentangleImage"].disentangle(photo, photo_mask)[0]
    files = sorted((shared_data / "sequences" / "002" / "openpose_json").glob("*.json"))
    text = json.dumps([json.loads(f.read_text()) for f in files])
    out = nodes["DisCoPoseSequence"].build_with_preview(
        detector="builtin", fps=30.0, target_fps=0.0, max_frames=4, smoothing=0.0, retarget=True,
        reference=reference, pose_json=text, canvas_width=604, canvas_height=1080)
    poses, _, fps, _ = out["result"]
    (entry,) = out["ui"][previews.UI_KEY]
    assert entry["frames"] == len(poses) == 4 and entry["fps"] == fps == 30.0
    assert entry["over_photo"] and entry["retargeted"]
    photo_h, photo_w = photo.shape[1:3]
    assert abs(entry["width"] / entry["height"] - photo_w / photo_h) < 0.02  # the photo's shape
    mask = torch.nn.functional.interpolate(photo_mask[None], size=(entry["height"], entry["width"]))[0, 0] > 0.5
    dimmed = torch.nn.functional.interpolate(photo.permute(0, 3, 1, 2), size=(entry["height"], entry["width"]),
                                             mode="bilinear", antialias=True)[0].permute(1, 2, 0) * 255 * 0.6
    for i in range(4):
        frame = torch.from_numpy(frame_at(tmp_path, entry, i).astype(np.float32))
        drawn = (frame - dimmed).abs().amax(-1) > 60  # skeleton pixels differ from the dimmed photo
        assert drawn.float().mean() > 0.01
        assert (~drawn).any() and (frame[~drawn] - dimmed[~drawn]).abs().mean() < 8  # elsewhere: the photo
        assert (drawn & mask).sum() > 0.6 * drawn.sum()  # mostly on the person


def test_pose_preview_without_reference_shows_the_skeletons_alone(pack, previews, tmp_path, shared_data):
    node = pack.NODE_CLASS_MAPPINGS["DisCoPoseSequence"]()
    files = sorted((shared_data / "disco_demo" / "pose_img").glob("*.png"))[:3]
    images = torch.cat([image_tensor(f) for f in files])
    out = node.build_with_preview(detector="builtin", fps=24.0, target_fps=0.0, max_frames=0, smoothing=0.0,
                                  retarget=False, pose_images=images)
    (entry,) = out["ui"][previews.UI_KEY]
    assert entry["frames"] == 3 and not entry["over_photo"] and not entry["retargeted"]
    small = torch.nn.functional.interpolate(images.permute(0, 3, 1, 2), size=(entry["height"], entry["width"]),
                                            mode="bilinear", antialias=True).permute(0, 2, 3, 1) * 255
    for i in range(3):
        assert np.abs(frame_at(tmp_path, entry, i).astype(np.float32) - small[i].numpy()).mean() < 4
