"""Song-length clips through the shipped dance_basic workflow in a real ComfyUI server: how much the server grows
(VmRSS, and the memory the kernel cannot drop: RssAnon + RssShmem), how long it takes per frame, and whether the
saved video has every frame and the whole song. Exits 1 when a goal (issue 18) is missed.

  COMFYUI_DIR=/path/to/ComfyUI python bench/comfyui_song.py --seconds 20 60 180   # 1080x1920, 30 fps, with sound
  ... --pack /tmp/disco_before --json > before.json     # another checkout of the pack (a before/after pair)
  ... --baseline before.json                            # also fail when a clip is > 5 % slower per frame
  ... --video-combine /path/to/ComfyUI-VideoHelperSuite  # VHS's Video Combine instead of Create/Save Video

Each clip runs in a fresh server on the CPU with a temporary base directory (the pack linked into custom_nodes/,
the parity fixture's tiny model converted into models/disco/); the clip is made by bench/pipeline.py's make_clip.
Sampler: tiny model, 1 step, 256x256. Memory is polled from /proc/<pid>/status while the prompt runs (the kernel
keeps no high-water mark of RssAnon); growth is over the idle server. Prints one JSON line per clip.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from disco_core.client import http as http_client  # noqa: E402
from pipeline import PHOTO, make_clip, parity_dir  # noqa: E402
from tests.integration.comfy_server import stop_server  # noqa: E402

MiB = 2 ** 20
KEYS = ("VmRSS", "RssAnon", "RssFile", "RssShmem")
GOAL_ANON_GIB_180 = 2.0  # RssAnon + RssShmem growth at 180 s
GOAL_ANON_60_OVER_20_MIB = 400  # ... at 60 s over that at 20 s
GOAL_VMRSS_GB_20 = 3.0  # VmRSS growth at 20 s (issue 7)
GOAL_SLOWER = 1.05  # run time per frame against --baseline


def status(pid: int) -> dict:
    """VmRSS, RssAnon, RssFile, RssShmem of a process, bytes."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key = line.split(":", 1)[0]
            if key in KEYS:
                out[key] = int(line.split()[1]) * 1024
    return out


def anon(s: dict) -> int:
    return s["RssAnon"] + s["RssShmem"]


class Poll(threading.Thread):
    """Peak VmRSS and peak RssAnon + RssShmem of `pid`, sampled every `every` seconds until stopped."""

    def __init__(self, pid: int, every: float = 0.25):
        super().__init__(daemon=True)
        self.pid, self.every, self.done = pid, every, threading.Event()
        self.peak_rss = self.peak_anon = 0

    def run(self):
        while not self.done.is_set():
            try:
                s = status(self.pid)
            except (OSError, KeyError):
                return
            self.peak_rss, self.peak_anon = max(self.peak_rss, s["VmRSS"]), max(self.peak_anon, anon(s))
            self.done.wait(self.every)

    def stop(self):
        self.done.set()
        self.join()


def comfyui_version(folder: str) -> str:
    """ComfyUI's version from comfyui_version.py, for a copy without its git history."""
    text = (Path(folder) / "comfyui_version.py").read_text() if (Path(folder) / "comfyui_version.py").is_file() else ""
    return next((line.split("=")[1].strip().strip("\"'") for line in text.splitlines()
                 if line.startswith("__version__")), "unknown")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_clip(args, seconds: float, work: Path) -> dict:
    from disco_core import convert_checkpoint
    from tests.media import streams

    frames = int(round(seconds * args.fps))
    clip = work / f"song_{frames}.mp4"
    if not clip.is_file():
        make_clip(clip, frames, args.fps)
    base = Path(tempfile.mkdtemp(prefix="comfy_base_", dir=args.base_parent))
    (base / "custom_nodes").mkdir()
    (base / "custom_nodes" / "comfyui-disco").symlink_to(Path(args.pack).resolve(), target_is_directory=True)
    allowed = ["comfyui-disco"]
    if args.video_combine:
        (base / "custom_nodes" / "videohelpersuite").symlink_to(Path(args.video_combine).resolve(),
                                                                target_is_directory=True)
        allowed.append("videohelpersuite")
    (base / "models" / "disco").mkdir(parents=True)
    (base / "input").mkdir()
    (base / "input" / clip.name).symlink_to(clip.resolve())  # over the server's 100 MiB upload limit at 180 s
    fixture = parity_dir()
    convert_checkpoint(fixture / "weights.safetensors", base / "models" / "disco" / "tiny.safetensors",
                       configs=fixture / "configs.json")
    port = free_port()
    log = open(base / "server.log", "w")
    server = subprocess.Popen(
        [sys.executable, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(port), "--base-directory",
         str(base), "--database-url", "sqlite:///:memory:", "--disable-api-nodes", "--disable-all-custom-nodes",
         "--whitelist-custom-nodes", *allowed, "--preview-method", "none"],
        cwd=args.comfyui, stdout=log, stderr=subprocess.STDOUT)
    client = http_client.ComfyClient(f"http://127.0.0.1:{port}", request_timeout=60)
    try:
        for _ in range(600):
            try:
                client.object_info("DisCoSampler")
                break
            except http_client.ComfyServerError:
                if server.poll() is not None:
                    sys.exit((base / "server.log").read_text()[-3000:])
                time.sleep(1)
        prompt = http_client.load_workflow(ROOT / "workflows" / "api" / "dance_basic.json")
        http_client.set_input(prompt, "Reference photo", "image", client.upload(PHOTO))
        http_client.set_input(prompt, "Driving video", "file", clip.name)
        http_client.set_input(prompt, "Load DisCo Model", "checkpoint", "tiny.safetensors")
        for key, value in (("steps", args.steps), ("width", args.size), ("height", args.size)):
            http_client.set_input(prompt, "DisCo Sampler", key, value)
        if args.video_combine:
            use_video_combine(prompt)
        time.sleep(2)
        idle = status(server.pid)
        poll = Poll(server.pid)
        poll.start()
        started = time.monotonic()
        try:
            entry = client.wait(client.queue(prompt), timeout=24 * 3600)
        finally:
            poll.stop()
        run_seconds = time.monotonic() - started
        video = next(f for f in http_client.output_files(entry) if f["filename"].endswith(".mp4"))
        saved = client.download(video, work)
        got = streams(saved)
        temp_files = sorted(str(p.relative_to(base)) for p in (base / "temp").rglob("frames_*"))
        return {"seconds": seconds, "frames": frames, "clip": f"{seconds:g} s {frames} frames 1080x1920",
                "pack": str(Path(args.pack).resolve()), "load_average": os.getloadavg(),
                "idle_vmrss_mib": idle["VmRSS"] / MiB, "idle_anon_shmem_mib": anon(idle) / MiB,
                "vmrss_growth_mib": (poll.peak_rss - idle["VmRSS"]) / MiB,
                "anon_shmem_growth_mib": (poll.peak_anon - anon(idle)) / MiB,
                "run_seconds": run_seconds, "seconds_per_frame": run_seconds / frames,
                "output": str(saved), "video": got["video"], "audio": got["audio"],
                "audio_header_seconds": got.get("audio_header"), "frame_files_while_cached": temp_files}
    finally:
        stop_server(server, log)


def use_video_combine(prompt: dict) -> None:
    """Create Video + Save Video replaced by VideoHelperSuite's Video Combine (h264 mp4 with the song), fed the
    same frames, frame rate and sound."""
    create = next(k for k, n in prompt.items() if n["class_type"] == "CreateVideo")
    save = next(k for k, n in prompt.items() if n["class_type"] == "SaveVideo")
    inputs = prompt.pop(create)["inputs"]
    prompt.pop(save)
    prompt[save] = {"class_type": "VHS_VideoCombine", "_meta": {"title": "Video Combine"}, "inputs": {
        "images": inputs["images"], "frame_rate": inputs["fps"], "audio": inputs["audio"], "loop_count": 0,
        "filename_prefix": "disco/dance_vhs", "format": "video/h264-mp4", "pingpong": False, "save_output": True,
        "pix_fmt": "yuv420p", "crf": 19, "save_metadata": True, "trim_to_audio": False}}


def goals(results: list[dict], baseline: list[dict] | None) -> list[str]:
    """Issue 18's goals, for the clip lengths that were run; returns what was missed."""
    missed = []
    by_len = {round(r["seconds"]): r for r in results}
    for r in results:
        frames, fps_audio = r["video"][0], r["audio"]
        if frames != r["frames"] or fps_audio is None or abs(fps_audio[0] - r["seconds"]) > 0.1:
            missed.append(f"{r['clip']}: the saved video has {frames} frames and {fps_audio} of sound")
    if 180 in by_len and by_len[180]["anon_shmem_growth_mib"] > GOAL_ANON_GIB_180 * 1024:
        missed.append(f"RssAnon+RssShmem growth at 180 s is {by_len[180]['anon_shmem_growth_mib']:.0f} MiB "
                      f"(goal {GOAL_ANON_GIB_180} GiB)")
    if 20 in by_len and 60 in by_len:
        more = by_len[60]["anon_shmem_growth_mib"] - by_len[20]["anon_shmem_growth_mib"]
        if more > GOAL_ANON_60_OVER_20_MIB:
            missed.append(f"RssAnon+RssShmem grows {more:.0f} MiB more at 60 s than at 20 s "
                          f"(goal {GOAL_ANON_60_OVER_20_MIB} MiB)")
    if 20 in by_len and by_len[20]["vmrss_growth_mib"] * MiB > GOAL_VMRSS_GB_20 * 1e9:
        missed.append(f"VmRSS growth at 20 s is {by_len[20]['vmrss_growth_mib']:.0f} MiB (goal 3 GB)")
    for before in baseline or []:
        after = by_len.get(round(before["seconds"]))
        if after and after["seconds_per_frame"] > GOAL_SLOWER * before["seconds_per_frame"]:
            missed.append(f"{after['clip']}: {after['seconds_per_frame']:.4f} s/frame, baseline "
                          f"{before['seconds_per_frame']:.4f} (goal at most {GOAL_SLOWER - 1:.0%} slower)")
    return missed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, nargs="+", default=[20.0, 60.0, 180.0])
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--steps", type=int, default=1)
    p.add_argument("--size", type=int, default=256, help="square output size")
    p.add_argument("--comfyui", default=os.environ.get("COMFYUI_DIR"))
    p.add_argument("--pack", default=str(ROOT), help="checkout of the pack to link into custom_nodes/")
    p.add_argument("--video-combine", metavar="VHS_DIR",
                   help="a ComfyUI-VideoHelperSuite checkout: its Video Combine saves the video")
    p.add_argument("--baseline", help="JSON lines of an earlier run (e.g. --pack of the code before)")
    p.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "disco_bench_comfyui"))
    p.add_argument("--base-parent", default=None, help="where the server's base directory (and temp/) goes")
    p.add_argument("--json", action="store_true", help="only the JSON lines")
    args = p.parse_args()
    if not args.comfyui or not (Path(args.comfyui) / "main.py").is_file():
        sys.exit("give --comfyui or COMFYUI_DIR: a ComfyUI checkout whose requirements are installed here")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    commit = subprocess.run(["git", "-C", args.comfyui, "rev-parse", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or comfyui_version(args.comfyui)
    results = []
    for seconds in args.seconds:
        results.append({"comfyui_commit": commit, **one_clip(args, seconds, work)})
        print(json.dumps(results[-1]), flush=True)
    baseline = None
    if args.baseline:
        baseline = [json.loads(line) for line in Path(args.baseline).read_text().splitlines() if line.strip()]
    missed = goals(results, baseline)
    if not args.json:
        print("\n".join(f"over the goal: {m}" for m in missed) or "goals met")
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
