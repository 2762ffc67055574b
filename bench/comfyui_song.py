"""A song-length clip through the shipped dance_basic workflow in a real ComfyUI server: the server's RSS growth
over idle (peak, from the kernel's high-water mark) and whether the saved video has the song.

  COMFYUI_DIR=/path/to/ComfyUI python bench/comfyui_song.py --seconds 20     # 1080x1920, 30 fps, with sound

The server runs on the CPU with a temporary base directory (this repository linked into custom_nodes/, the
parity fixture's tiny model converted into models/disco/); the clip is made by bench/pipeline.py's make_clip.
Sampler: tiny model, 1 step, 256x256. Prints one JSON line; the numbers go into bench/RESULTS.md by hand.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from disco_core.client import http as http_client  # noqa: E402
from pipeline import PHOTO, make_clip, parity_dir  # noqa: E402
from tests.integration.comfy_server import stop_server  # noqa: E402

MiB = 2 ** 20


def status_kib(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--steps", type=int, default=1)
    p.add_argument("--size", type=int, default=256, help="square output size")
    p.add_argument("--comfyui", default=os.environ.get("COMFYUI_DIR"))
    p.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "disco_bench_comfyui"))
    args = p.parse_args()
    if not args.comfyui or not (Path(args.comfyui) / "main.py").is_file():
        sys.exit("give --comfyui or COMFYUI_DIR: a ComfyUI checkout whose requirements are installed here")
    from disco_core import convert_checkpoint
    from tests.media import streams

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    frames = int(round(args.seconds * args.fps))
    clip = work / f"song_{frames}.mp4"
    if not clip.is_file():
        make_clip(clip, frames, args.fps)
    base = Path(tempfile.mkdtemp(prefix="comfy_base_"))
    (base / "custom_nodes").mkdir()
    (base / "custom_nodes" / "comfyui-disco").symlink_to(ROOT, target_is_directory=True)
    (base / "models" / "disco").mkdir(parents=True)
    fixture = parity_dir()
    convert_checkpoint(fixture / "weights.safetensors", base / "models" / "disco" / "tiny.safetensors",
                       configs=fixture / "configs.json")
    port = free_port()
    log = open(base / "server.log", "w")
    server = subprocess.Popen(
        [sys.executable, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(port), "--base-directory",
         str(base), "--database-url", "sqlite:///:memory:", "--disable-api-nodes", "--disable-all-custom-nodes",
         "--whitelist-custom-nodes", "comfyui-disco", "--preview-method", "none"],
        cwd=args.comfyui, stdout=log, stderr=subprocess.STDOUT)
    client = http_client.ComfyClient(f"http://127.0.0.1:{port}", request_timeout=60)
    try:
        for _ in range(300):
            try:
                client.object_info("DisCoSampler")
                break
            except http_client.ComfyServerError:
                if server.poll() is not None:
                    sys.exit((base / "server.log").read_text()[-3000:])
                time.sleep(1)
        commit = subprocess.run(["git", "-C", args.comfyui, "rev-parse", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
        prompt = http_client.load_workflow(ROOT / "workflows" / "api" / "dance_basic.json")
        http_client.set_input(prompt, "Reference photo", "image", client.upload(PHOTO))
        http_client.set_input(prompt, "Driving video", "file", client.upload(clip))
        http_client.set_input(prompt, "Load DisCo Model", "checkpoint", "tiny.safetensors")
        for key, value in (("steps", args.steps), ("width", args.size), ("height", args.size)):
            http_client.set_input(prompt, "DisCo Sampler", key, value)
        time.sleep(2)
        idle = status_kib(server.pid, "VmRSS") * 1024
        started = time.monotonic()
        entry = client.wait(client.queue(prompt), timeout=24 * 3600)
        seconds = time.monotonic() - started
        high = status_kib(server.pid, "VmHWM") * 1024
        video = next(f for f in http_client.output_files(entry) if f["filename"].endswith(".mp4"))
        saved = client.download(video, work)
        got = streams(saved)
        print(json.dumps({"comfyui_commit": commit, "clip": f"{args.seconds:g} s {frames} frames 1080x1920",
                          "idle_rss_mib": idle / MiB, "peak_rss_mib": high / MiB,
                          "peak_growth_mib": (high - idle) / MiB, "run_seconds": seconds,
                          "output": str(saved), "video": got["video"], "audio": got["audio"],
                          "audio_header_seconds": got.get("audio_header")}))
    finally:
        stop_server(server, log)


if __name__ == "__main__":
    main()
