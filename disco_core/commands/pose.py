"""`python -m disco_core pose IMAGE... --backend builtin --out POSES.json`."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import InputError

HELP = "detect one person's pose per image/frame and write DisCo pose JSON (one entry per frame)"
FORMATS = ("disco", "pose_keypoint", "openpose")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", type=Path, metavar="IMAGE",
                        help="images, a video (mp4/webm/gif/webp) or a folder of frames, all the same size")
    parser.add_argument("--backend", default="builtin", choices=["builtin", "openpose", "dwpose"],
                        help="builtin: mediapipe BlazePose, offline (default); openpose/dwpose: controlnet-aux "
                             "with weights in --models-dir")
    parser.add_argument("--models-dir", type=Path, default=None,
                        help="folder with the openpose/dwpose annotator weights")
    parser.add_argument("--out", type=Path, required=True, help="output JSON file")
    parser.add_argument("--format", default="disco", choices=FORMATS,
                        help="disco: a list with DisCo's per-image entry for each frame (default); "
                             "pose_keypoint: comfyui_controlnet_aux POSE_KEYPOINT; openpose: OpenPose JSON")
    parser.add_argument("--smooth", type=float, default=0.0, metavar="S",
                        help="temporal smoothing strength 0..1 for videos (default 0: off)")
    parser.add_argument("--fill", choices=["none", "hold", "empty"], default="none",
                        help="missing joints/frames: hold fills gaps from neighbouring frames and holds the "
                             "last pose when the person leaves; empty fills joints but keeps empty frames")


def _read_all(paths: list[Path]):
    import numpy as np

    from ..media.files import read_frames

    frames, fps = [], None
    for p in paths:
        f, rate = read_frames(p)
        frames.append(f)
        fps = fps or rate
    sizes = {f.shape[1:] for f in frames}
    if len(sizes) > 1:
        raise InputError(f"inputs have different frame sizes {sorted(s[:2] for s in sizes)}; "
                         "run the command once per size")
    return np.concatenate(frames), fps


def run(args) -> int:
    from ..pose.detect import detect_poses
    from ..pose.filtering import fill_missing, sanitize, smooth_poses

    frames, fps = _read_all(args.inputs)
    seq = sanitize(detect_poses(frames, backend=args.backend, models_dir=args.models_dir, fps=fps))
    if args.fill != "none":
        seq = fill_missing(seq, empty_policy=args.fill)
    if args.smooth > 0:
        seq = smooth_poses(seq, args.smooth)
    payload = {"disco": seq.to_disco_json, "pose_keypoint": seq.to_pose_keypoint,
               "openpose": seq.to_openpose_json}[args.format]()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload))
    found = int((~seq.empty_frames).sum())
    w, h = seq.canvas
    print(f"wrote {len(seq)} pose(s) ({found} with a person) for {w}x{h} frames to {args.out}")
    return 0
