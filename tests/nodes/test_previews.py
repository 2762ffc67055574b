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


# --- sheet layout, resizing and the pose preview's sources, on generated frames (no shared data) ---

def flat_chunks(colours: np.ndarray, size: tuple[int, int], per_chunk: int):
    """uint8 [n,h,w,3] chunks of flat frames, one colour each."""
    w, h = size
    frames = np.broadcast_to(colours[:, None, None, :], (len(colours), h, w, 3)).astype(np.uint8)
    return [frames[i:i + per_chunk] for i in range(0, len(frames), per_chunk)]


def test_sheets_are_whole_rows_of_whole_frames_and_extra_frames_are_left_out(previews, tmp_path):
    """30 frames of 256x144: 8 columns (2048 // 256), 4 rows (ceil(30 / 8)), one 2048x576 sheet; the chunks hold
    40 frames and only the 30 asked for are tiled."""
    colours = (np.arange(40)[:, None] * np.array([6, 3, 1]) % 256).astype(np.uint8)
    layout = previews.write_sheets(flat_chunks(colours, (256, 144), 16), 30, (256, 144), "clip", folder=tmp_path)
    assert {k: layout[k] for k in ("frames", "width", "height", "columns", "per_sheet")} == \
        {"frames": 30, "width": 256, "height": 144, "columns": 8, "per_sheet": 32}
    assert all(type(layout[k]) is int for k in ("columns", "per_sheet"))
    (sheet,) = layout["sheets"]
    with Image.open(tmp_path / sheet["subfolder"] / sheet["filename"]) as im:
        assert im.size == (8 * 256, 4 * 144)
    for i in (0, 7, 8, 29):
        np.testing.assert_allclose(frame_at(tmp_path, layout, i)[8:-8, 8:-8].reshape(-1, 3).mean(0), colours[i],
                                   atol=3)


def test_the_last_sheet_is_only_as_large_as_its_frames(previews, tmp_path, monkeypatch):
    """Frames of 100x100 on sheets of at most 400 px (4 columns x 4 rows): 11 frames make one sheet of 3 rows;
    20 frames a full sheet and a second of the 4 left in one row (not a mostly blank 400x400)."""
    monkeypatch.setattr(previews, "SHEET_MAX_SIDE", 400)
    sizes = []
    for count in (11, 20):
        layout = previews.write_sheets(flat_chunks(np.zeros((count, 3)), (100, 100), 8), count, (100, 100), "s",
                                       folder=tmp_path)
        for sheet in layout["sheets"]:
            with Image.open(tmp_path / sheet["subfolder"] / sheet["filename"]) as im:
                sizes.append(im.size)
    assert sizes == [(400, 300), (400, 400), (400, 100)]


def test_frames_wider_or_taller_than_half_a_sheet_get_one_per_sheet(previews, tmp_path):
    layout = previews.write_sheets(flat_chunks(np.zeros((3, 3)), (1500, 1100), 3), 3, (1500, 1100), "big",
                                   folder=tmp_path)
    assert (layout["columns"], layout["per_sheet"], len(layout["sheets"])) == (1, 1, 3)


def test_no_frames_or_too_few_frames_are_refused_one_frame_is_a_preview(previews, tmp_path):
    with pytest.raises(ValueError, match="^no frames to preview$"):
        previews.write_sheets([], 0, (32, 32), "none", folder=tmp_path)
    with pytest.raises(ValueError, match="^preview expected 5 frames, got 3$"):
        previews.write_sheets(flat_chunks(np.zeros((3, 3)), (32, 32), 3), 5, (32, 32), "few", folder=tmp_path)
    one = previews.write_sheets(flat_chunks(np.zeros((1, 3)), (32, 32), 1), 1, (32, 32), "one", folder=tmp_path)
    assert one["frames"] == 1 and len(one["sheets"]) == 1


def test_each_run_writes_new_sheet_names_into_the_same_folder(previews, tmp_path):
    """The browser caches sheets by URL: a second run must not reuse a name (nor fail on the existing folder)."""
    frames = torch.rand(2, 40, 30, 3)
    first = previews.frames_preview(frames, 8.0, "sampler", note="a")[previews.UI_KEY][0]
    second = previews.frames_preview(frames, 8.0, "sampler", note="b")[previews.UI_KEY][0]
    names = [s["filename"] for s in first["sheets"] + second["sheets"]]
    assert len(set(names)) == 2 and all(n.startswith("sampler_") for n in names)
    assert (first["note"], second["note"]) == ("a", "b")  # extra info reaches the player


def test_a_frame_one_pixel_wide_keeps_one_pixel(previews):
    assert previews.frame_size(1, 4000, 1) == (1, 256) and previews.frame_size(4000, 1, 1) == (256, 1)


def test_resized_chunks_take_uint8_or_float_rgb_or_rgba_and_clamp(previews):
    base = torch.rand(3, 20, 30, 3)
    base[0, 0, 0] = torch.tensor([1.5, -0.5, 1.0])  # out of range: clamped, not wrapped
    (as_float,) = previews.resized_chunks(base, (30, 20))
    assert as_float.dtype == np.uint8 and as_float.shape == (3, 20, 30, 3)
    assert as_float[0, 0, 0].tolist() == [255, 0, 255]
    np.testing.assert_array_equal(as_float[1:], (base[1:].numpy() * 255).round().astype(np.uint8))
    as_uint8 = (base.clamp(0, 1) * 255).round().to(torch.uint8)
    (from_uint8,) = previews.resized_chunks(as_uint8, (30, 20))
    np.testing.assert_array_equal(from_uint8, as_float)  # 255 stays 255
    rgba = torch.cat([base, torch.zeros(3, 20, 30, 1)], -1)
    (from_rgba,) = previews.resized_chunks(rgba, (30, 20))
    np.testing.assert_array_equal(from_rgba, as_float)  # alpha dropped


def test_downscaled_frames_are_filtered_not_aliased(previews):
    """A one-pixel checkerboard shrunk 3x is an even grey with antialiasing; plain bilinear sampling keeps picking
    single pixels and shows a pattern."""
    checker = ((torch.arange(96)[:, None] + torch.arange(96)[None]) % 2).float()
    frames = checker[None, :, :, None].expand(1, 96, 96, 3)
    (small,) = previews.resized_chunks(frames, (32, 32))
    assert small.shape == (1, 32, 32, 3) and small[:, 2:-2, 2:-2].std() < 10


def test_chunks_of_a_long_clip_are_resized_chunk_by_chunk(previews, monkeypatch):
    monkeypatch.setattr(previews, "CHUNK", 4)
    frames = torch.rand(10, 8, 8, 3)
    sizes = [len(c) for c in previews.resized_chunks(frames, (4, 4))]
    assert sizes == [4, 4, 2]


@pytest.fixture
def synthetic_reference(pack):
    from tests.synthetic_inputs import person_photo

    photo, mask = person_photo(240, 160)
    return pack.NODE_CLASS_MAPPINGS["DisCoDisentangleImage"]().disentangle(photo, mask)[0], photo


def _build(pack, **inputs):
    node = pack.NODE_CLASS_MAPPINGS["DisCoPoseSequence"]()
    return node.build_with_preview(**{**dict(detector="builtin", fps=24.0, target_fps=0.0, max_frames=0,
                                             smoothing=0.0, retarget=False), **inputs})


def test_keypoint_poses_alone_are_previewed_on_their_canvas(pack, previews, tmp_path):
    from tests.synthetic_inputs import dance_json

    out = _build(pack, pose_json=dance_json(3, (400, 300)), canvas_width=400, canvas_height=300)
    (entry,) = out["ui"][previews.UI_KEY]
    assert entry["kind"] == "poses" and entry["over_photo"] is False and entry["fps"] == 24.0
    assert (entry["width"], entry["height"]) == (256, 192)  # the canvas's 4:3
    assert all(s["filename"].startswith("poses_") for s in entry["sheets"])
    for i in range(3):
        frame = frame_at(tmp_path, entry, i)
        drawn = frame.max(-1) > 60
        assert 0.005 < drawn.mean() < 0.5 and np.median(frame[~drawn]) == 0  # a skeleton on black


def test_keypoint_poses_with_a_reference_are_previewed_on_the_photo(pack, previews, tmp_path, synthetic_reference):
    """Not retargeted: the preview still takes the photo's shape (2:3 here, the canvas is 4:3) and shows it."""
    from tests.synthetic_inputs import dance_json

    reference, photo = synthetic_reference
    out = _build(pack, pose_json=dance_json(2, (400, 300)), canvas_width=400, canvas_height=300,
                 reference=reference)
    (entry,) = out["ui"][previews.UI_KEY]
    assert entry["over_photo"] is True and (entry["width"], entry["height"]) == (171, 256)
    _assert_photo_under_skeletons(tmp_path, entry, photo, 2)


def test_rendered_skeletons_with_a_reference_are_drawn_over_the_photo(pack, previews, tmp_path,
                                                                     synthetic_reference):
    from tests.synthetic_inputs import skeleton_images

    reference, photo = synthetic_reference
    out = _build(pack, pose_images=skeleton_images(3, (160, 240)), reference=reference)
    (entry,) = out["ui"][previews.UI_KEY]
    assert entry["over_photo"] is True and (entry["width"], entry["height"]) == (171, 256)
    _assert_photo_under_skeletons(tmp_path, entry, photo, 3)


def _assert_photo_under_skeletons(folder, entry, photo, count):
    """Each frame: the photo, dimmed to 60 %, where no skeleton is drawn; some skeleton drawn."""
    dimmed = torch.nn.functional.interpolate(photo.permute(0, 3, 1, 2), size=(entry["height"], entry["width"]),
                                             mode="bilinear", antialias=True)[0].permute(1, 2, 0) * 255 * 0.6
    for i in range(count):
        frame = torch.from_numpy(frame_at(folder, entry, i).astype(np.float32))
        drawn = (frame - dimmed).abs().amax(-1) > 60
        assert 0.005 < drawn.float().mean() < 0.5
        assert (frame[~drawn] - dimmed[~drawn]).abs().mean() < 8


def test_the_preview_frame_rate_is_the_nodes_else_the_poses_else_zero(pack, previews):
    from tests.synthetic_inputs import dance_json

    poses = _build(pack, pose_json=dance_json(2, (64, 64)), canvas_width=64, canvas_height=64)["result"][0]
    poses.fps = 24.0
    assert previews.pose_preview(poses, None, 12.0)[previews.UI_KEY][0]["fps"] == 12.0
    assert previews.pose_preview(poses, None, 0.0)[previews.UI_KEY][0]["fps"] == 24.0
    poses.fps = None
    assert previews.pose_preview(poses, None, 0.0)[previews.UI_KEY][0]["fps"] == 0.0
