"""`python -m disco_core client`: run a DisCo workflow on a running ComfyUI server over its HTTP API."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from ..errors import InputError
from ..client.http import ComfyClient, load_workflow, output_files, parse_assignment, set_input

HELP = "run a DisCo API workflow on a ComfyUI server: upload inputs, queue, follow progress, download the video"

# Where the shipped API workflows live in a checkout of the pack (custom_nodes/<pack>/workflows/api).
WORKFLOW_DIR = Path(__file__).resolve().parents[2] / "workflows" / "api"
# Node titles the shipped workflows use for the inputs the options below fill in.
PHOTO_NODE, VIDEO_NODE, BACKGROUND_NODE = "Reference photo", "Driving video", "Background"
POSE_NODE, LOADER_NODE, SAMPLER_NODE = "Pose Sequence", "Load DisCo Model", "DisCo Sampler"


def add_arguments(p) -> None:
    p.add_argument("--server", default="http://127.0.0.1:8188", help="ComfyUI address (default %(default)s)")
    p.add_argument("--workflow", default="dance_basic",
                   help="API workflow: a .json path or a name in workflows/api (dance_basic, background_swap, "
                        "pose_from_keypoints, dance_temporal); default %(default)s")
    p.add_argument("--photo", help="reference photo of the person (uploaded to the 'Reference photo' node)")
    p.add_argument("--video", help="driving video (uploaded to the 'Driving video' node)")
    p.add_argument("--background", help="background image for background_swap (the 'Background' node)")
    p.add_argument("--pose-json", help="pose JSON file for pose_from_keypoints (OpenPose, DisCo or POSE_KEYPOINT)")
    p.add_argument("--checkpoint", help="checkpoint name in ComfyUI/models/disco (Load DisCo Model)")
    p.add_argument("--seed", type=int, help="DisCo Sampler seed")
    p.add_argument("--steps", type=int, help="DisCo Sampler steps")
    p.add_argument("--max-frames", type=int, help="Pose Sequence max_frames (0 = all)")
    p.add_argument("--set", action="append", default=[], metavar="NODE.INPUT=VALUE",
                   help="set any widget: NODE is a node id, title or class_type; VALUE is JSON or text. "
                        "Repeatable, e.g. --set 'DisCo Sampler.cfg=2.0'")
    p.add_argument("--out", default="out", help="folder for the downloaded results (default %(default)s)")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait for the run (default 3600)")
    p.add_argument("--dry-run", action="store_true", help="print the patched workflow and stop")


def resolve_workflow(name: str) -> Path:
    path = Path(name)
    if path.suffix == ".json" or path.exists():
        return path
    candidate = WORKFLOW_DIR / f"{name}.json"
    if not candidate.is_file():
        known = ", ".join(sorted(p.stem for p in WORKFLOW_DIR.glob("*.json"))) or "none found"
        raise InputError(f"Unknown workflow '{name}'. Give a path to an API workflow .json or one of: {known}.")
    return candidate


def patch(prompt: dict, args, client: ComfyClient | None) -> dict:
    """Apply the command-line options to the prompt (uploads happen only when a client is given)."""
    def upload(path):
        return client.upload(path) if client is not None else Path(path).name

    if args.photo:
        set_input(prompt, PHOTO_NODE, "image", upload(args.photo))
    if args.video:
        set_input(prompt, VIDEO_NODE, "file", upload(args.video))
    if args.background:
        set_input(prompt, BACKGROUND_NODE, "image", upload(args.background))
    if args.pose_json:
        try:
            text = Path(args.pose_json).read_text()
        except OSError as e:
            raise InputError(f"Cannot read --pose-json {args.pose_json}: {e}") from None
        set_input(prompt, POSE_NODE, "pose_json", text)
    if args.checkpoint:
        set_input(prompt, LOADER_NODE, "checkpoint", args.checkpoint)
    for option, node, name in (("seed", SAMPLER_NODE, "seed"), ("steps", SAMPLER_NODE, "steps"),
                               ("max_frames", POSE_NODE, "max_frames")):
        if getattr(args, option) is not None:
            set_input(prompt, node, name, getattr(args, option))
    for text in args.set:
        set_input(prompt, *parse_assignment(text))
    return prompt


class _Progress:
    """Prints one line per node and a progress counter for long nodes."""

    def __init__(self, prompt: dict):
        self.prompt = prompt
        self.start = time.monotonic()

    def __call__(self, kind: str, data: dict) -> None:
        elapsed = f"[{time.monotonic() - self.start:6.1f}s]"
        node = data.get("node") or data.get("node_id")
        title = self.prompt.get(node, {}).get("_meta", {}).get("title") or self.prompt.get(node, {}).get("class_type")
        if kind == "executing" and node is not None:
            print(f"{elapsed} running {node} {title}", file=sys.stderr)
        elif kind == "progress":
            end = "\n" if data.get("value") == data.get("max") else "\r"
            print(f"{elapsed}   {title}: {data.get('value')}/{data.get('max')}", end=end, file=sys.stderr)
        elif kind == "execution_cached" and data.get("nodes"):
            print(f"{elapsed} cached: {', '.join(data['nodes'])}", file=sys.stderr)


def run(args) -> int:
    path = resolve_workflow(args.workflow)
    prompt = load_workflow(path)
    if args.dry_run:
        import json
        print(json.dumps(patch(prompt, args, None), indent=1))
        return 0
    client = ComfyClient(args.server)
    prompt = patch(prompt, args, client)
    ws = client.connect()  # before queueing, so no progress message is missed
    try:
        prompt_id = client.queue(prompt)
        print(f"queued {path.name} as {prompt_id}", file=sys.stderr)
        entry = client.wait(prompt_id, on_event=_Progress(prompt), timeout=args.timeout, ws=ws)
    finally:
        if ws is not None:
            ws.close()
    files = output_files(entry)
    if not files:
        print("the run finished but saved no files (is SaveVideo in the workflow?)", file=sys.stderr)
        return 1
    for info in files:
        print(client.download(info, args.out))
    return 0
