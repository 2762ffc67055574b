"""DisCo Cluster in a real ComfyUI: dance_cluster renders on a private Ray (`local`, 2 workers) with progress,
Cancel stops it and frees the workers, and the next prompt reuses them (needs COMFYUI_DIR and Ray)."""
from __future__ import annotations

import time

import pytest

from comfy_server import ROOT, cancel_at_first_sampler_step, comfyui_server, http_client as _http_client, \
    skip_without_comfyui

pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[cluster]')")
pytestmark = pytest.mark.integration
skip_without_comfyui()
http_client = _http_client()

FRAMES = 3
TEMPORAL_FIXTURE = ROOT / "tests" / "fixtures" / "parity" / "temporal"
SETTINGS = {"DisCo Sampler": {"steps": 2, "width": 64, "height": 64, "seed": 3, "window": 2, "overlap": 1},
            "Pose Sequence": {"max_frames": FRAMES}, "Load DisCo Model": {"checkpoint": "tiny_temporal.safetensors"},
            "DisCo Cluster": {"address": "local", "workers": 2, "gpus_per_worker": 0.0}}
RUN_TIMEOUT = 400


def add_temporal_model(base):
    from disco_core import convert_checkpoint
    convert_checkpoint(TEMPORAL_FIXTURE / "weights.safetensors",
                       base / "models" / "disco" / "tiny_temporal.safetensors", configs=TEMPORAL_FIXTURE / "configs.json")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with comfyui_server(tmp_path_factory, FRAMES, setup=add_temporal_model) as running:
        yield running


def prepared(server, **sampler) -> dict:
    client, inputs = server["client"], server["inputs"]
    prompt = http_client.load_workflow(ROOT / "workflows" / "api" / "dance_cluster.json")
    http_client.set_input(prompt, "Reference photo", "image", client.upload(inputs["photo"]))
    http_client.set_input(prompt, "Driving video", "file", client.upload(inputs["video"]))
    for node, values in SETTINGS.items():
        for key, value in {**values, **(sampler if node == "DisCo Sampler" else {})}.items():
            http_client.set_input(prompt, node, key, value)
    return prompt


def run(server, prompt, on_event=None):
    client = server["client"]
    ws = client.connect()
    try:
        return client.wait(client.queue(prompt), on_event=on_event, timeout=RUN_TIMEOUT, ws=ws), ws
    finally:
        if ws is not None:
            ws.close()


def test_dance_cluster_renders_on_two_local_workers_with_progress(server, tmp_path):
    prompt = prepared(server)
    events = []
    entry, ws = run(server, prompt, lambda k, d: events.append((k, d)))
    assert entry["status"]["status_str"] == "success"
    videos = [f for f in http_client.output_files(entry) if f["filename"].endswith(".mp4")]
    path = server["client"].download(videos[0], tmp_path)
    import av
    with av.open(str(path)) as container:
        assert sum(1 for _ in container.decode(video=0)) == FRAMES
    sampler = http_client.find_node(prompt, "DisCo Sampler")
    if ws is not None:  # 2 steps x 2 windows, counted as window-steps, as without the cluster
        steps = [d for k, d in events if k == "progress" and d.get("node") == sampler]
        assert steps and steps[-1]["value"] == steps[-1]["max"] == 2 * 2
    log = (server["base"] / "server.log").read_text()
    assert f"DisCo: rendering {FRAMES} frames on Cluster('local', workers=2, gpus_per_worker=0): 2 workers" in log


def test_cancel_stops_the_cluster_run_and_the_workers_render_again(server):
    started = time.monotonic()
    cancel_at_first_sampler_step(server, prepared(server, steps=400), RUN_TIMEOUT)
    assert time.monotonic() - started < 120  # 400 steps would take far longer
    entry, _ = run(server, prepared(server, seed=4))
    assert entry["status"]["status_str"] == "success"
