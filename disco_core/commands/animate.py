"""python -m disco_core animate --checkpoint FILE --image REF.png --poses POSES --out OUT.mp4 [options]"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from ..errors import InputError

HELP = "animate one photo with a pose sequence and write a video"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r} must look like 256x256 (width x height)")
    return w, h


def add_arguments(p):
    from ..noise import NOISE_MODES
    from ..sampling import SCHEDULERS
    p.add_argument("--checkpoint", required=True, help="converted .safetensors or official .pt")
    p.add_argument("--configs", help="configs.json for non-standard model sizes (tiny test models)")
    p.add_argument("--personal", help="personalisation file from `finetune` (only loads on the checkpoint it was "
                                      "trained on)")
    p.add_argument("--image", required=True, help="reference photo of the person")
    p.add_argument("--mask", help="person mask of the photo (white = person); default: built-in segmentation")
    p.add_argument("--poses", help="folder of rendered pose images, or pose JSON (DisCo/OpenPose/POSE_KEYPOINT) "
                                   "file or folder")
    p.add_argument("--canvas", type=_size, help="WxH of the frames the pose JSON came from when the file does not "
                                                "say (default: the photo's size)")
    p.add_argument("--driving", help="driving video/animated image/folder of frames to extract poses from")
    p.add_argument("--retarget", action="store_true", help="fit the driving poses to the photo's body")
    p.add_argument("--out", required=True, help="output video (.mp4, .gif or .webp)")
    p.add_argument("--frames-dir", help="also write every frame as PNG into this folder")
    p.add_argument("--fps", type=float, default=None, help="output frame rate (default: the driving video's, or 15)")
    p.add_argument("--steps", type=int, default=50, help="sampling steps (official: 50)")
    p.add_argument("--cfg", type=float, default=1.5, help="guidance scale (official CFG checkpoints: 1.5)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--size", type=_size, default=(256, 256), help="output WxH, multiples of 8 (default 256x256)")
    p.add_argument("--fit", choices=("crop", "pad", "official"), default="crop",
                   help="bring inputs to the output size by centre crop or padding")
    p.add_argument("--scheduler", choices=sorted(SCHEDULERS), default="ddim")
    p.add_argument("--frames-per-batch", type=int, default=8,
                   help="frames per model call; a temporal model runs frames-per-batch // window whole windows")
    p.add_argument("--window", type=int, default=16,
                   help="temporal checkpoints: frames the model sees at once (16 as trained, 8 as in the paper)")
    p.add_argument("--overlap", type=int, default=4,
                   help="temporal checkpoints: frames shared by neighbouring windows, blended at every step")
    p.add_argument("--noise", choices=NOISE_MODES, default="per_frame")
    p.add_argument("--uncond", choices=("blank", "zeros"), help="override the checkpoint's CFG mode")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--dtype", choices=sorted(DTYPES), default="fp16" if torch.cuda.is_available() else "fp32")


def _image(path: str, mode: str) -> torch.Tensor:
    try:
        img = Image.open(path).convert(mode)
    except OSError as e:
        raise InputError(f"cannot read image {path}: {e}") from e
    arr = np.asarray(img, dtype=np.float32) / 255.0
    t = torch.from_numpy(arr)
    return (t.permute(2, 0, 1) if t.ndim == 3 else t[None])[None]


def _mask(path: str) -> torch.Tensor:
    m = _image(path, "L")
    return (m > 0).float() if m.max() <= 1 / 255 + 1e-6 else m  # some datasets store masks as 0/1 values


def _builtin_mask(reference: torch.Tensor) -> torch.Tensor:
    from ..segment import segment_person
    arr = (reference[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    return torch.from_numpy(segment_person(arr)).float()[None, None]


def _pose_images(args, reference: torch.Tensor):
    """-> (poses [T,3,H,W] in 0..1, fps or None)."""
    from ..pose import detect_poses, load_pose_file, render_pose_sequence, retarget_poses
    seq, fps = None, None
    if args.driving:
        from ..video_io import read_frames
        frames, fps = read_frames(args.driving)
        seq = detect_poses(frames, backend="builtin")
    elif args.poses:
        src = Path(args.poses)
        images = sorted(p for p in src.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if src.is_dir() else []
        if images:
            if args.retarget:
                raise InputError("--retarget needs keypoints, but --poses holds rendered pose images; give pose "
                                 "JSON or --driving, or drop --retarget")
            return torch.cat([_image(str(p), "RGB") for p in images]), None
        canvas = args.canvas or (reference.shape[-1], reference.shape[-2])
        seq = load_pose_file(src, canvas=canvas)
        fps = getattr(seq, "fps", None)
    else:
        raise InputError("give --poses (pose images or JSON) or --driving (a video to extract poses from)")
    if args.retarget:
        arr = (reference[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        seq = retarget_poses(seq, detect_poses([arr], backend="builtin"))
    rendered = render_pose_sequence(seq)
    return torch.from_numpy(rendered).permute(0, 3, 1, 2).float() / 255.0, fps


def run(args) -> int:
    from .. import animate, load_model
    from ..video_io import write_frames, write_video
    reference = _image(args.image, "RGB")
    mask = _mask(args.mask) if args.mask else _builtin_mask(reference)
    poses, fps = _pose_images(args, reference)
    model = load_model(args.checkpoint, device=args.device, dtype=DTYPES[args.dtype], configs=args.configs,
                       uncond=args.uncond)
    if args.personal:
        from ..training.personal import apply_personal, remember_base
        apply_personal(remember_base(model, args.checkpoint), args.personal)
    width, height = args.size
    bar = tqdm(total=None, unit="step", desc="DisCo")  # temporal models: window-steps

    def on_step(info):
        bar.total = info.total
        bar.update(info.done - bar.n)  # a temporal model's batch of windows counts several window-steps

    frames = animate(model, reference, mask, poses, height=height, width=width, fit=args.fit,
                     num_inference_steps=args.steps, guidance_scale=args.cfg, scheduler=args.scheduler,
                     seed=args.seed, frames_per_batch=args.frames_per_batch, noise_mode=args.noise,
                     window=args.window, overlap=args.overlap, on_step=on_step)
    bar.close()
    fps = args.fps or fps or 15.0
    write_video(frames.numpy(), args.out, fps)
    if args.frames_dir:
        write_frames(frames.numpy(), args.frames_dir, "frame")
    print(f"wrote {args.out}: {frames.shape[0]} frames {width}x{height} at {fps:g} fps")
    return 0
