"""The pack inside a real ComfyUI server: /object_info, the API workflows over HTTP, validation errors.

Runs only when COMFYUI_DIR points at a ComfyUI checkout whose requirements are installed in this Python:

    COMFYUI_DIR=/path/to/ComfyUI python -m pytest -q tests/integration

The server runs on the CPU on a free 127.0.0.1 port with a temporary base directory (custom_nodes/ holding a
link to this repository, models/disco/ the tiny fixture model), and is stopped at the end.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from comfy_server import ROOT, cancel_at_first_sampler_step, comfyui_server, http_client as _http_client, \
    skip_without_comfyui

NODE_IDS = ["DisCoModelLoader", "DisCoDisentangleImage", "DisCoPoseSequence", "DisCoSampler", "DisCoTemporalSmooth",
            "DisCoFineTune"]
FRAMES = 3
FAST = {"DisCo Sampler": {"steps": 2, "width": 64, "height": 64, "frames_per_batch": 2, "seed": 3},
        "Pose Sequence": {"max_frames": FRAMES}, "Load DisCo Model": {"checkpoint": "tiny.safetensors"},
        "DisCo Fine-Tune": {"steps": 2, "batch_size": 1, "size": 64, "max_frames": 3, "save_name": "it_person"}}
# dance_temporal: the tiny temporal model (converted from the carried fixture), two 2-frame windows over 3 frames
TEMPORAL = {"Load DisCo Model": {"checkpoint": "tiny_temporal.safetensors"},
            "DisCo Sampler": {"window": 2, "overlap": 1}}
TEMPORAL_FIXTURE = ROOT / "tests" / "fixtures" / "parity" / "temporal"
RUN_TIMEOUT = 300  # seconds
DRIVING_FPS = 12  # comfy_server.make_inputs' driving clip; pose_from_keypoints' JSON runs at 10 fps

pytestmark = pytest.mark.integration

skip_without_comfyui()
http_client = _http_client()


def add_temporal_model(base: Path) -> None:
    from disco_core import convert_checkpoint
    convert_checkpoint(TEMPORAL_FIXTURE / "weights.safetensors",
                       base / "models" / "disco" / "tiny_temporal.safetensors", configs=TEMPORAL_FIXTURE / "configs.json")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with comfyui_server(tmp_path_factory, FRAMES, setup=add_temporal_model) as running:
        yield running


def test_pack_imports_cleanly_and_lists_five_nodes_with_their_sockets(server):
    log = (server["base"] / "server.log").read_text()
    assert "IMPORT FAILED" not in log.split("Import times for custom nodes")[-1].split("\n\n")[0]
    info = server["client"].object_info()
    for node_id in NODE_IDS:
        assert node_id in info, f"{node_id} missing from /object_info"
        assert info[node_id]["category"] == "DisCo" and info[node_id]["description"]
    assert info["DisCoModelLoader"]["input"]["required"]["checkpoint"][0] == ["tiny.safetensors",
                                                                               "tiny_temporal.safetensors"]
    assert info["DisCoSampler"]["output"] == ["IMAGE", "FLOAT"]
    assert info["DisCoPoseSequence"]["input"]["optional"]["pose_keypoint"][0] == "POSE_KEYPOINT"
    assert info["DisCoDisentangleImage"]["output"] == ["DISCO_REFERENCE", "IMAGE", "IMAGE", "MASK"]
    assert {"window", "overlap"} <= set(info["DisCoSampler"]["input"]["optional"])
    models = server["client"].get_json("/models/disco")
    assert models == ["tiny.safetensors", "tiny_temporal.safetensors"]


def prepared(server, name: str) -> dict:
    client, inputs = server["client"], server["inputs"]
    prompt = http_client.load_workflow(ROOT / "workflows" / "api" / f"{name}.json")
    http_client.set_input(prompt, "Reference photo", "image", client.upload(inputs["photo"]))
    if name != "pose_from_keypoints":
        http_client.set_input(prompt, "Driving video", "file", client.upload(inputs["video"]))
    if name == "background_swap":
        http_client.set_input(prompt, "Background", "image", client.upload(inputs["background"]))
    if name == "personalise_and_dance":
        http_client.set_input(prompt, "Person clip", "file", client.upload(inputs["video"]))
    titles = {entry["_meta"]["title"] for entry in prompt.values()}
    for node, values in FAST.items():
        if node not in titles:
            continue
        for key, value in values.items():
            http_client.set_input(prompt, node, key, value)
    if name == "dance_temporal":
        for node, values in TEMPORAL.items():
            for key, value in values.items():
                http_client.set_input(prompt, node, key, value)
    return prompt


def count_frames(path: Path) -> int:
    import av

    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


@pytest.mark.parametrize("name", ["dance_basic", "background_swap", "pose_from_keypoints", "dance_temporal"])
def test_api_workflow_runs_and_saves_one_video_frame_per_pose(server, name, tmp_path):
    client = server["client"]
    prompt = prepared(server, name)
    events = []
    ws = client.connect()
    try:
        prompt_id = client.queue(prompt)
        entry = client.wait(prompt_id, on_event=lambda k, d: events.append((k, d)), timeout=RUN_TIMEOUT, ws=ws)
    finally:
        if ws is not None:
            ws.close()
    assert entry["status"]["status_str"] == "success"
    videos = [f for f in http_client.output_files(entry) if f["filename"].endswith(".mp4")]
    assert len(videos) == 1 and videos[0]["subfolder"] == "disco"
    path = client.download(videos[0], tmp_path)
    assert path.stat().st_size > 0 and count_frames(path) == FRAMES
    # the song (silence for keypoint JSON) comes out with the frames: FRAMES / fps seconds, within one frame
    from tests.media import streams

    got = streams(path)
    fps = 10.0 if name == "pose_from_keypoints" else DRIVING_FPS
    assert got["video"] == (FRAMES, fps) and got["audio"] is not None, got
    assert abs(got["audio"][0] - FRAMES / fps) <= 1 / fps, got
    sampler = http_client.find_node(prompt, "DisCo Sampler")
    if ws is not None:
        steps = [d for k, d in events if k == "progress" and d.get("node") == sampler]
        # 2 steps x 2 chunks of frames; dance_temporal: 2 steps x 2 windows (window-steps)
        assert steps and steps[-1]["value"] == steps[-1]["max"] == 2 * 2


def test_missing_checkpoint_is_refused_before_running_with_what_to_do(server):
    prompt = prepared(server, "pose_from_keypoints")
    http_client.set_input(prompt, "Load DisCo Model", "checkpoint", "disco_moretiktok_cfg.safetensors")
    with pytest.raises(http_client.ComfyServerError) as err:
        server["client"].queue(prompt)
    message = str(err.value)
    # HTTP 200 with node_errors: the skeleton preview alone still validates (a partial prompt the client cancels)
    assert "rejected the workflow" in message and "Load DisCo Model" in message
    assert str(server["base"] / "models" / "disco") in message and "python -m disco_core convert" in message


def test_client_command_runs_a_workflow_end_to_end(server, tmp_path):
    inputs = server["inputs"]
    cmd = [sys.executable, "-m", "disco_core", "client", "--server", f"http://127.0.0.1:{server['port']}",
           "--workflow", "dance_basic", "--photo", str(inputs["photo"]), "--video", str(inputs["video"]),
           "--checkpoint", "tiny.safetensors", "--steps", "1", "--max-frames", str(FRAMES), "--seed", "5",
           "--set", "DisCo Sampler.width=64", "--set", "DisCo Sampler.height=64", "--out", str(tmp_path)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert done.returncode == 0, done.stderr[-2000:]
    saved = [Path(line) for line in done.stdout.split()]
    assert len(saved) == 1 and saved[0].suffix == ".mp4" and count_frames(saved[0]) == FRAMES
    assert "running" in done.stderr and "DisCo Sampler" in done.stderr


def test_cancel_stops_the_sampler_between_steps_and_the_server_keeps_running(server):
    """A long run (many steps) interrupted after its first sampler step ends as interrupted, well before it
    would have finished, and the server then runs the next prompt normally."""
    client = server["client"]
    prompt = prepared(server, "pose_from_keypoints")
    http_client.set_input(prompt, "DisCo Sampler", "steps", 400)
    started = time.monotonic()
    cancel_at_first_sampler_step(server, prompt, RUN_TIMEOUT)
    assert time.monotonic() - started < RUN_TIMEOUT / 2
    entry = client.wait(client.queue(prepared(server, "pose_from_keypoints")), timeout=RUN_TIMEOUT)
    assert entry["status"]["status_str"] == "success"


def test_bad_pose_json_fails_the_node_with_a_message_not_the_server(server):
    client = server["client"]
    prompt = prepared(server, "pose_from_keypoints")
    http_client.set_input(prompt, "Pose Sequence", "pose_json", "{not json")
    with pytest.raises(http_client.ComfyServerError, match="not valid JSON"):
        client.wait(client.queue(prompt), timeout=RUN_TIMEOUT)
    assert "DisCoSampler" in client.object_info()   # still serving


def test_personalise_and_dance_fine_tunes_saves_and_animates(server, tmp_path):
    """The person clip trains the tiny model (masks and poses detected in the server), the personalisation is
    saved under models/disco/personal, the loss curve is shown, and the fine-tuned model makes the video."""
    client = server["client"]
    prompt = prepared(server, "personalise_and_dance")
    tune = http_client.find_node(prompt, "DisCo Fine-Tune")
    events = []
    ws = client.connect()
    try:
        entry = client.wait(client.queue(prompt), on_event=lambda k, d: events.append((k, d)),
                            timeout=RUN_TIMEOUT, ws=ws)
    finally:
        if ws is not None:
            ws.close()
    assert entry["status"]["status_str"] == "success"
    videos = [f for f in http_client.output_files(entry) if f["filename"].endswith(".mp4")]
    assert len(videos) == 1 and count_frames(client.download(videos[0], tmp_path)) == FRAMES
    curve = http_client.find_node(prompt, "Loss curve")
    assert entry["outputs"][curve]["images"], "the loss curve is previewed"
    saved = server["base"] / "models" / "disco" / "personal" / "it_person.safetensors"
    assert saved.is_file() and saved.stat().st_size < (server["base"] / "models" / "disco" / "tiny.safetensors").stat().st_size
    assert "it_person.safetensors" in client.object_info("DisCoModelLoader")["DisCoModelLoader"]["input"]["optional"][
        "personalisation"][0]
    if ws is not None:
        steps = [d for k, d in events if k == "progress" and d.get("node") == tune]
        assert steps and steps[-1]["value"] == steps[-1]["max"] == 2
