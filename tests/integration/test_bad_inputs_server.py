"""The bad-input corpus of issue 12 against a real ComfyUI server: each case ends in a node error that names the
input and the fix, or in a normal result, and the server answers /object_info after every case. A cancel in the
middle of sampling is followed by a normal run that saves the same video as before; then 20 runs in a row with
the server's resident memory recorded (the curve is in the assertion message and in bench/RESULTS.md, "Bad inputs
/ 20 runs"). Checked against ComfyUI v0.3.64 (a125cd84b054a57729b5eecab930ca9408719832).

    COMFYUI_DIR=/path/to/ComfyUI python -m pytest -q tests/integration/test_bad_inputs_server.py -s
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from comfy_server import SHARED
from test_comfyui_server import FRAMES, RUN_TIMEOUT, cancel_at_first_sampler_step, http_client, prepared, server  # noqa: F401 (server: a fixture)

pytestmark = pytest.mark.integration
RUNS, RUN_SIZE = 20, 256
RSS_GROWTH_LIMIT = 16 * 2**20  # bytes the server may grow over runs 6..20 (after warm-up); see the 20-runs test
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
    alive(server)
    return result


def video(path: Path, frames: np.ndarray, fps: int = 12) -> Path:
    from disco_core.media.files import write_video

    write_video(frames, path, fps=fps)
    return path


def real_frames(server, n):
    from disco_core.media.files import read_frames

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


@pytest.mark.parametrize("name,expected", [
    ("empty.mp4", "empty.mp4 is empty (0 bytes): the upload or copy did not finish. Load the video file again"),
    ("song.mp4", "song.mp4 has no video stream (only audio streams). Connect a video with pictures"),
    ("hollow.mkv", "hollow.mkv has a video stream with 0 frames"),
], ids=["0-bytes", "sound-only", "video-stream-without-frames"])
def test_empty_video(server, tmp_path, name, expected):
    """Load Video takes the file (it only checks that it exists); Pose Sequence, reading it, names it and says
    what to do. (A 0-frame IMAGE batch is the unit corpus's "'frames' is empty" case.)"""
    from tests.media import write_sound_only

    path = tmp_path / name
    if name == "empty.mp4":
        path.write_bytes(b"")
    else:
        write_sound_only(path, 0.5, empty_video_stream=name.endswith(".mkv"))
    kind, message = run(server, with_video(server, path))
    assert kind == "error" and "DisCoPoseSequence" in message and expected in message, message


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
    ('[{"people": 5, "canvas_width": 3, "canvas_height": 3}]', "POSE_KEYPOINT frame 0: 'people' must be a list"),
    ('[[1, 2, 3]]', "this is not pose JSON: got a list of lists of numbers ([[1, 2, 3]])"),
    ('{"foo": 1}', "this JSON object (keys foo) is not pose JSON"),
    ('"hello"', 'this is not pose JSON: got a string ("hello")'),
    ("{not json", "pose text is not valid JSON"),
], ids=["pose-keypoint-people-int", "list-of-numbers", "object", "string", "broken"])
def test_text_that_is_not_pose_json(server, text, expected):
    """Each message names the input (pose_json), what is wrong with it, and the JSON that is read."""
    prompt = with_pose_json(server, text)
    http_client.set_input(prompt, "Pose Sequence", "canvas_width", 604)
    http_client.set_input(prompt, "Pose Sequence", "canvas_height", 1080)
    kind, message = run(server, prompt)
    assert kind == "error" and f"pose_json: {expected}" in message, message
    assert "POSE_KEYPOINT is a list with one dict per frame" in message or "OpenPose JSON ({" in message, message


def test_rgba_and_greyscale_photos(server, tmp_path):
    """RGBA and greyscale photos run through. The greyscale version of this (pastel) photo hides the person from
    the built-in detector, so retargeting onto it must say so and what to do; without retarget it runs."""
    photo = Image.open(server["inputs"]["photo"])
    kind, entry = run(server, with_photo(server, photo.convert("RGBA"), tmp_path, "photo_rgba.png"))
    assert kind == "ok", entry
    grey = with_photo(server, photo.convert("L"), tmp_path, "photo_grey.png")
    kind, message = run(server, grey)
    assert kind == "error" and "found no person in the reference photo" in message, message
    assert "turn retarget off" in message, message
    http_client.set_input(grey, "Pose Sequence", "retarget", False)
    kind, entry = run(server, grey)
    assert kind == "ok" and frames_saved(server, entry, tmp_path) == FRAMES, entry


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


def decoded(server, entry, tmp_path) -> np.ndarray:
    from disco_core.media.files import read_frames

    videos = [f for f in http_client.output_files(entry) if f["filename"].endswith(".mp4")]
    return read_frames(server["client"].download(videos[0], tmp_path))[0]


def ran(entry, node: str) -> bool:
    """Whether `node` executed in this run (ComfyUI lists the nodes it took from its cache)."""
    cached = [d["nodes"] for k, d in entry["status"]["messages"] if k == "execution_cached"]
    return node not in sum(cached, [])


def saved_frames(server, entry, tmp_path) -> np.ndarray:
    """The PNG frames the run's Save Image node wrote (lossless), in order."""
    pngs = sorted((f for f in http_client.output_files(entry) if f["filename"].endswith(".png")),
                  key=lambda f: f["filename"])
    return np.stack([np.asarray(Image.open(server["client"].download(f, tmp_path))) for f in pngs])


def test_cancel_mid_sampling_then_a_normal_run_loses_nothing(server, tmp_path):
    """A long run cancelled at its first sampler step ends as interrupted; the next normal run executes the
    sampler again and gives the same frames, to the bit, as the same run before the cancel (a different seed gives
    others), and a video of all of them.

    The frames are compared as Save Image's PNGs of Temporal Smooth's output, not as the saved mp4: ComfyUI's Save
    Video (PyAV's h264 with its default options and slice threads) encodes the same frames differently from run to
    run (5 different encodes of one 64x64 clip in 60 tries, in one process, no Cancel involved; with frame threads
    1 in 40), which was this test's intermittent failure (issue 16; the smoothed frames before and after were
    bit-identical in the failing runs).
    Mutation seen failing: a flag set when `comfy_glue.raise_if_interrupted` raises that shifts the sampler's next
    frames by 1/255 (state a cancelled run leaves behind)."""
    normal = prepared(server, "pose_from_keypoints")
    sampler = http_client.find_node(normal, "DisCo Sampler")
    normal["99"] = {"class_type": "SaveImage", "_meta": {"title": "Frames"},
                    "inputs": {"images": [http_client.find_node(normal, "Temporal Smooth"), 0],
                               "filename_prefix": "disco/cancel_frames"}}
    http_client.set_input(normal, "DisCo Sampler", "seed", 77)
    kind, before = run(server, normal)
    assert kind == "ok", before
    long = json.loads(json.dumps(normal))
    http_client.set_input(long, "DisCo Sampler", "steps", 400)
    cancel_at_first_sampler_step(server, long, RUN_TIMEOUT)
    alive(server)
    kind, after = run(server, normal)
    assert kind == "ok" and ran(after, sampler), after
    again = saved_frames(server, after, tmp_path)
    assert len(again) == FRAMES and np.array_equal(again, saved_frames(server, before, tmp_path))
    assert len(decoded(server, after, tmp_path)) == FRAMES
    http_client.set_input(normal, "DisCo Sampler", "seed", 78)
    kind, other = run(server, normal)
    assert kind == "ok" and np.abs(saved_frames(server, other, tmp_path).astype(int) - again).mean() > 1


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def test_twenty_runs_in_a_row_keep_memory_flat(server):
    """20 runs of pose_from_keypoints at RUN_SIZE² with a new seed each (so the sampler, Temporal Smooth and the
    video writer run every time); the server's resident set after each run is the curve in bench/RESULTS.md.
    Runs 6..20 may grow by at most RSS_GROWTH_LIMIT: one run's output frames are 2.25 MiB (3 × 256² × 3 float32),
    so keeping them (or anything as big) every run grows ~34 MiB over those 15 runs. Mutation that must fail:
    append the sampler's output frames to a module-level list in `nodes/sampler.py`."""
    curve = []
    prompt = prepared(server, "pose_from_keypoints")  # uploads once; each run only changes the seed
    for key, value in (("width", RUN_SIZE), ("height", RUN_SIZE)):
        http_client.set_input(prompt, "DisCo Sampler", key, value)
    for i in range(RUNS):
        http_client.set_input(prompt, "DisCo Sampler", "seed", 1000 + i)  # a new seed: nothing is cached
        kind, entry = run(server, prompt)
        assert kind == "ok", entry
        curve.append(rss(server["pid"]))
    mib = [round(r / 2**20, 1) for r in curve]
    growth = max(curve[5:]) - curve[5]
    print(f"\nserver RSS after each of {RUNS} runs (MiB): {mib}; runs 6..20 grew {growth / 2**20:.1f} MiB")
    assert growth < RSS_GROWTH_LIMIT, f"server RSS after each run (MiB): {mib}"
