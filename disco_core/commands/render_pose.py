"""`python -m disco_core render-pose JSON --canvas WxH --out OUT.png [--cond-size 256]`."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError

HELP = "render pose JSON as DisCo's skeleton image (full size, or the model-size crop with --cond-size)"


def parse_size(text: str) -> tuple[int, int]:
    """'604x1080' → (604, 1080)."""
    try:
        w, h = (int(v) for v in text.lower().replace("×", "x").split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like WIDTHxHEIGHT (e.g. 604x1080), got {text!r}")
    if w <= 0 or h <= 0:
        raise argparse.ArgumentTypeError(f"size must be positive, got {text!r}")
    return w, h


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("json", type=Path, help="pose file: DisCo/COCO-17, OpenPose or POSE_KEYPOINT JSON, "
                        "one frame or a sequence (or a folder of per-frame JSON files)")
    parser.add_argument("--canvas", type=parse_size, default=None,
                        help="WIDTHxHEIGHT of the frames the poses came from (needed unless the JSON says it)")
    parser.add_argument("--out", type=Path, required=True,
                        help="output PNG; a sequence writes OUT_00000.png, OUT_00001.png, ...")
    parser.add_argument("--cond-size", type=int, default=None, metavar="N",
                        help="write the centre square crop resized to N×N (what the model sees, e.g. 256)")


def run(args) -> int:
    from PIL import Image

    from ..pose import crop_resize_cond, load_pose_file, render_pose

    seq = load_pose_file(args.json, canvas=args.canvas)
    if args.cond_size is not None and args.cond_size <= 0:
        raise InputError(f"--cond-size must be positive, got {args.cond_size}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    paths = [args.out] if len(seq) == 1 else [
        args.out.with_name(f"{args.out.stem}_{t:05d}{args.out.suffix or '.png'}") for t in range(len(seq))]
    for t, path in enumerate(paths):
        img = render_pose(seq.keypoints[t], seq.canvas)
        if args.cond_size:
            img = crop_resize_cond(img, args.cond_size)
        Image.fromarray(img).save(path)
    print(f"wrote {len(paths)} image(s): {paths[0]}" + (f" … {paths[-1]}" if len(paths) > 1 else ""))
    return 0
