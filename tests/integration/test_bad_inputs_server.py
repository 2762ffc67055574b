"""The bad-input corpus against a real ComfyUI server: each case ends in a node error that names the input and
the fix, or in a normal result, and the server answers /object_info after every case. Then 20 runs in a row
with the server's resident memory recorded (printed; bench/RESULTS.md has the curve).

    COMFYUI_DIR=/path/to/ComfyUI python -m pytest -q tests/integration
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from comfy_server import SHARED
from test_comfyui_server import RUN_TIMEOUT, http_client, prepared, server  # noqa: F401 (server: a fixture)

pytestmark = pytest.mark.integration
RUNS, RSS_GROWTH_LIMIT = 20, 64 * 2**20  # bytes the server may grow over runs 6..20 (after warm-up)
SHARED_MASK = SHARED / "data" / "disco_demo" / "masks" / "00035.png"


def alive(server):
    assert "DisCoSampler" in server["client"].object_info("DisCoSampler")


def run(server, prompt):
    """-> ('ok', history entry) or ('error', message); the server must answer afterwards either way."""
    client = server["client"]
    try:
        entry = client.wait(client.queue(prompt), timeout=RUN_TIMEOUT)
        result = ("ok", entry)
    except http_client.ComfyServerError as e:
        result = ("error", str(e))
    print('\nMSG', result[0], result[1] if result[0]=='error' else '')
    alive(server)
    return result


def video(path: Path, frames: np.ndarray, fps: int = 12) -> Path:
    from disco_core.video_io import write_video

    write_video(frames, path, fps=fps)
    return path


def real_frames(server, n):
    from disco_core.video_io import read_frames

    frames, _ = read_frames(server["inputs"]["video"])
    return frames[:n]


def with_video(server, path: Path) -> dict:
    prompt = prepared(server, "dance_basic")
    http_client.set_input(prompt, "Driving video", "file", server["client"].upload(path))
    return prompt


def with_pose_json(server, text: str) -> dict:
    prompt = prepared(server, "pose_from_keypoints")
    http_client.set_input(prompt, "Pose Sequence", "pose_json", text)
    return prompt


def with_photo(server, image: Image.Image, tmp_path: Path, name: str) -> dict:
    path = tmp_path / name
    image.save(path)
    prompt = prepared(server, "pose_from_keypoints")
    http_client.set_input(prompt, "Reference photo", "image", server["client"].upload(path))
    return prompt


def frames_saved(server, entry, tmp_path) -> int:
    from test_comfyui_server import count_frames

    videos = [f for f in http_client.output_files(entry) if f["filename"].endswith(".mp4")]
    return count_frames(server["client"].download(videos[0], tmp_path))


def test_empty_video(server, tmp_path):
    """A 0-byte .mp4: ComfyUI's own LoadVideo refuses it (the node error says which node); the server stays up.
    A video that decodes to 0 frames reaching Pose Sequence is the unit corpus's 'frames is empty' case."""
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    kind, message = run(server, with_video(server, path))
    assert kind == "error" and message, message


def test_one_frame_video(server, tmp_path):
    kind, entry = run(server, with_video(server, video(tmp_path / "one.mp4", real_frames(server, 1))))
    assert kind == "ok" and frames_saved(server, entry, tmp_path) == 1


def test_no_person_in_any_frame(server, tmp_path):
    blank = np.full((4, 128, 96, 3), 90, np.uint8)
    kind, message = run(server, with_video(server, video(tmp_path / "nobody.mp4", blank)))
    assert kind == "error" and "No person was found in any of the 4 frames" in message, message


def test_person_in_only_some_frames(server, tmp_path):
    frames = real_frames(server, 3).copy()
    frames[1] = 90  # the middle frame shows nobody
    kind, entry = run(server, with_video(server, video(tmp_path / "gap.mp4", frames)))
    assert kind == "ok" and frames_saved(server, entry, tmp_path) == 3  # every frame accounted for


def test_nan_inf_and_out_of_canvas_keypoints(server, tmp_path):
    kp = [[300, 200, 1], [300, 260, 1], [250, 260, 1], [float("nan"), 330, 1], [1e12, -1e12, 1], [350, 260, 1],
          [float("inf"), 330, 1], [360, 400, 1]] + [[300, 400 + 10 * i, 1] for i in range(10)]
    text = json.dumps([{"people": [{"pose_keypoints_2d": sum(kp, [])}]}] * 2)  # OpenPose JSON, NaN/Infinity
    prompt = with_pose_json(server, text)
    http_client.set_input(prompt, "Pose Sequence", "canvas_width", 604)
    http_client.set_input(prompt, "Pose Sequence", "canvas_height", 1080)
    kind, entry = run(server, prompt)
    assert kind == "ok" and frames_saved(server, entry, tmp_path) == 2


@pytest.mark.parametrize("text,expected", [
    ('[{"people": 5, "canvas_width": 3, "canvas_height": 3}]', "POSE_KEYPOINT"),
    ('[[1, 2, 3]]', "keypoints"),
    ('{"foo": 1}', "DisCo pose JSON"),
    ('"hello"', "must be a list"),
    ("{not json", "not valid JSON"),
], ids=["pose-keypoint-people-int", "list-of-numbers", "object", "string", "broken"])
def test_text_that_is_not_pose_json(server, text, expected):
    prompt = with_pose_json(server, text)
    http_client.set_input(prompt, "Pose Sequence", "canvas_width", 604)
    http_client.set_input(prompt, "Pose Sequence", "canvas_height", 1080)
    kind, message = run(server, prompt)
    assert kind == "error" and expected in message, message


@pytest.mark.parametrize("mode", ["RGBA", "L"])
def test_rgba_and_greyscale_photos(server, tmp_path, mode):
    photo = Image.open(server["inputs"]["photo"]).convert(mode)
    kind, entry = run(server, with_photo(server, photo, tmp_path, f"photo_{mode}.png"))
    assert kind == "ok", entry


def test_a_4000x6000_photo(server, tmp_path):
    photo = Image.open(server["inputs"]["photo"]).convert("RGB").resize((4000, 6000), Image.BILINEAR)
    kind, entry = run(server, with_photo(server, photo, tmp_path, "big.png"))
    assert kind == "ok", entry


def _with_mask(server, tmp_path, mask: Image.Image) -> dict:
    prompt = prepared(server, "pose_from_keypoints")
    mask.save(tmp_path / "mask.png")
    prompt["90"] = {"class_type": "LoadImage", "inputs": {"image": server["client"].upload(tmp_path / "mask.png")},
                    "_meta": {"title": "Mask image"}}
    prompt["91"] = {"class_type": "ImageToMask", "inputs": {"image": ["90", 0], "channel": "red"},
                    "_meta": {"title": "Mask"}}
    prompt[http_client.find_node(prompt, "Disentangle Image")]["inputs"]["mask"] = ["91", 0]
    return prompt


def test_mask_of_another_size_and_an_empty_mask(server, tmp_path):
    truth = Image.open(SHARED_MASK).convert("L").resize((151, 270))  # a quarter of the photo's size
    kind, entry = run(server, _with_mask(server, tmp_path, truth.convert("RGB")))
    assert kind == "ok", entry
    kind, message = run(server, _with_mask(server, tmp_path, Image.new("RGB", (64, 64))))
    assert kind == "error" and "person mask is empty" in message, message


def test_truncated_checkpoint_and_a_foreign_safetensors(server):
    from safetensors.torch import save_file
    import torch

    folder = server["base"] / "models" / "disco"
    good = (folder / "tiny.safetensors").read_bytes()
    (folder / "half.safetensors").write_bytes(good[: len(good) // 2])
    save_file({"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(2, 2)}, str(folder / "sd15.safetensors"))
    try:
        for name, expected in (("half.safetensors", "truncated or corrupt"), ("sd15.safetensors", "not a DisCo")):
            prompt = prepared(server, "pose_from_keypoints")
            http_client.set_input(prompt, "Load DisCo Model", "checkpoint", name)
            kind, message = run(server, prompt)
            assert kind == "error" and name in message and expected in message, message
    finally:
        (folder / "half.safetensors").unlink()
        (folder / "sd15.safetensors").unlink()


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def test_twenty_runs_in_a_row_keep_memory_flat(server, capsys):
    """(Cancel in the middle of sampling followed by a normal run is test_comfyui_server's cancel test.)"""
    curve = []
    prompt = prepared(server, "pose_from_keypoints")  # uploads once; each run only changes the seed
    for i in range(RUNS):
        http_client.set_input(prompt, "DisCo Sampler", "seed", 1000 + i)  # a new seed: nothing is cached
        kind, entry = run(server, prompt)
        assert kind == "ok", entry
        curve.append(rss(server["pid"]))
    with capsys.disabled():
        print("\nserver RSS after each of 20 runs (MiB):", " ".join(f"{r / 2**20:.0f}" for r in curve))
    assert max(curve[5:]) - curve[5] < RSS_GROWTH_LIMIT, [round(r / 2**20) for r in curve]
