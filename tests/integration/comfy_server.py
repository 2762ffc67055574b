"""Start a real ComfyUI (from COMFYUI_DIR) with this pack, for the integration and browser tests.

The server runs on the CPU on a free 127.0.0.1 port with a temporary base directory (custom_nodes/ holding a
link to this repository, models/disco/ the tiny fixture model), and is stopped at the end.
"""
from __future__ import annotations

import contextlib
import importlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from tests.paths import HAVE_SHARED_DATA, PARITY_IMAGE, REQUIRE_SHARED_DATA, SHARED, SHARED_DATA_REASON  # noqa: E402

PACK_FOLDER = "comfyui-disco"
STARTUP_TIMEOUT = 180  # seconds

COMFYUI_DIR = os.environ.get("COMFYUI_DIR")


def skip_or_fail(reason: str) -> None:
    """Module-level skip with the reason; with DISCO_REQUIRE_SHARED_DATA=1 (CI) a collection error instead, so a
    CI without ComfyUI, Chromium or playwright fails rather than passing with the integration tests skipped."""
    if REQUIRE_SHARED_DATA:
        pytest.fail(f"DISCO_REQUIRE_SHARED_DATA=1 (CI) but {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def skip_without_comfyui() -> None:
    """Module-level skip with the reason, where no ComfyUI checkout or fixture model is available."""
    if not COMFYUI_DIR:
        skip_or_fail("COMFYUI_DIR is not set: point it at a ComfyUI checkout (with its requirements installed) to "
                     "run the pack inside a real server")
    if not (Path(COMFYUI_DIR) / "main.py").is_file():
        skip_or_fail(f"COMFYUI_DIR={COMFYUI_DIR} has no main.py; it must be a ComfyUI checkout")
    if not HAVE_SHARED_DATA:  # the driving video and photo must show a real person for pose detection
        pytest.skip(SHARED_DATA_REASON, allow_module_level=True)  # (conftest already errors on this in CI)


def http_client():
    sys.path.insert(0, str(ROOT))
    return importlib.import_module("disco_core.client.http")


def cancel_at_first_sampler_step(server, prompt: dict, timeout: float) -> None:
    """Queue `prompt`, press Cancel when its sampler reports the first step, and check that the run ends as
    interrupted (skips without websocket-client, which is needed to see the sampler start)."""
    client_module = http_client()
    client = server["client"]
    sampler = client_module.find_node(prompt, "DisCo Sampler")
    ws = client.connect()
    if ws is None:
        pytest.skip("websocket-client is needed to see the sampler start")
    try:
        prompt_id = client.queue(prompt)

        def interrupt_on_first_step(kind, data):
            if kind == "progress" and data.get("node") == sampler:
                client.interrupt()
        with pytest.raises(client_module.ComfyServerError, match="interrupted at node"):
            client.wait(prompt_id, on_event=interrupt_on_first_step, timeout=timeout, ws=ws)
    finally:
        ws.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_inputs(folder: Path, frames: int) -> dict:
    """Reference photo, background and a short driving mp4 (`frames` + 2 frames at 12 fps, with a song: the
    tone of tests/media.py) from the shared real data."""
    from disco_core import convert_checkpoint
    from disco_core.media.files import read_frames
    from tests.media import write_clip

    data = SHARED / "data"
    clip, _ = read_frames(data / "clips" / "dance_fullbody_350.webp")
    write_clip(folder / "driving.mp4", (frames + 2) / 12, 12, size=(350, 350), frames=lambda i: clip[i])
    parity = PARITY_IMAGE
    return {"photo": data / "disco_demo" / "images" / "00035.png",
            "background": data / "disco_demo" / "images" / "00115.png",
            "video": folder / "driving.mp4",
            "convert": lambda dst: convert_checkpoint(parity / "weights.safetensors", dst,
                                                      configs=parity / "configs.json")}


def stop_server(proc: subprocess.Popen, log) -> None:
    """Ask the server to exit, kill it if it has not within 30 s, and close its log."""
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()


@contextlib.contextmanager
def comfyui_server(tmp_path_factory, frames: int, preview_method: str = "none", setup=None):
    """Yield {"client", "base", "inputs", "port", "url", "pid"} for a running server; stop it afterwards. `setup(base)`
    runs before the server starts (e.g. to add more models)."""
    client_module = http_client()
    base = tmp_path_factory.mktemp("comfy_base")
    (base / "custom_nodes").mkdir()
    (base / "custom_nodes" / PACK_FOLDER).symlink_to(ROOT, target_is_directory=True)
    (base / "models" / "disco").mkdir(parents=True)
    inputs = make_inputs(tmp_path_factory.mktemp("inputs"), frames)
    inputs["convert"](base / "models" / "disco" / "tiny.safetensors")
    if setup is not None:
        setup(base)
    port = free_port()
    log = open(base / "server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(port),
         "--base-directory", str(base), "--database-url", "sqlite:///:memory:", "--disable-api-nodes",
         "--disable-all-custom-nodes", "--whitelist-custom-nodes", PACK_FOLDER, "--preview-method", preview_method],
        cwd=COMFYUI_DIR, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    client = client_module.ComfyClient(url, request_timeout=30)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"ComfyUI exited with {proc.returncode}:\n{(base / 'server.log').read_text()[-3000:]}")
            try:
                client.object_info("DisCoSampler")
                break
            except client_module.ComfyServerError:
                if time.monotonic() > deadline:
                    pytest.fail(f"ComfyUI did not answer within {STARTUP_TIMEOUT} s:\n"
                                f"{(base / 'server.log').read_text()[-3000:]}")
                time.sleep(1)
        yield {"client": client, "base": base, "inputs": inputs, "port": port, "url": url, "pid": proc.pid}
    finally:
        stop_server(proc, log)
