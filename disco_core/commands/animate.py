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
    from ..sampling.noise import NOISE_MODES
    from ..sampling.steps import SCHEDULERS
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
    p.add_argument("--driving", help="driving video/animated image/folder of frames to extract poses from (a video "
                                     "is read frame by frame, and its sound goes into the output video)")
    p.add_argument("--start-frame", type=int, default=0, help="first frame of the driving poses to use")
    p.add_argument("--max-frames", type=int, default=0, help="generate at most this many frames (0 = all)")
    p.add_argument("--retarget", action="store_true", help="fit the driving poses to the photo's body")
    p.add_argument("--out", required=True, help="output video (.mp4, .gif or .webp)")
    p.add_argument("--frames-dir", help="also write every frame as PNG into this folder")
    p.add_argument("--fps", type=float, default=None,
                   help="output frame rate (default: the driving video's, or 15); with --driving the motion is "
                        "resampled to it, so it keeps its real speed and stays in sync with the sound")
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
    p.add_argument("--device", default=None, help="default: cuda when there is a GPU, else cpu (with --ray: each "
                                                 "worker's own GPU, or its CPU)")
    p.add_argument("--dtype", choices=sorted(DTYPES), default=None,
                   help="default: fp16 on a GPU, fp32 on the CPU")
    add_cluster_arguments(p)


def add_cluster_arguments(p):
    p.add_argument("--ray", metavar="ADDRESS",
                   help="render on a Ray cluster: local (a private Ray on this machine), auto (the cluster this "
                        "machine joined with `ray start`) or ray://HOST:PORT; needs `pip install ray` (docs/cluster.md)")
    p.add_argument("--workers", type=int, default=2, help="with --ray: workers, each holding the model once")
    p.add_argument("--gpus-per-worker", type=float, default=None,
                   help="with --ray: GPUs each worker asks for (default 1 when the cluster has GPUs, else 0 = CPU)")
    p.add_argument("--threads-per-worker", type=int, default=None,
                   help="with --ray: torch threads (and CPUs reserved) per worker (default: cores / workers)")


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
    from ..pose.segment import segment_person
    arr = (reference[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    return torch.from_numpy(segment_person(arr)).float()[None, None]


def _driving(args):
    """-> (poses from --start-frame on at the source rate, source fps, video path or None). A video is decoded
    one frame at a time; animated images and folders of frames (small by nature) are read whole."""
    from ..pose import driving
    from ..media.reader import probe
    from ..media.files import VIDEO_EXTS, read_frames
    src = Path(args.driving)
    if src.is_file() and src.suffix.lower() in VIDEO_EXTS:
        fps = probe(src).fps
        stop = driving.source_stop(args.start_frame, args.max_frames, fps, args.fps or 0.0)
        return driving.detect_video(src, start=args.start_frame, stop=stop), fps, src
    frames, fps = read_frames(src)
    fps = fps or 15.0
    return driving.detect_frames(frames[args.start_frame:], fps=fps), fps, None


def _pose_frames(args, reference: torch.Tensor):
    """-> (PoseFrames of the output frames, output fps or None, sound or None). Skeletons are drawn per chunk
    while sampling; rendered pose images are kept as small uint8 frames."""
    from ..media.audio import read_audio
    from ..pose import detect_poses, load_pose_file, retarget_poses
    from ..pose.frames import ImageFrames, KeypointFrames
    from ..pose import driving
    audio = None
    if args.driving:
        seq, src_fps, video = _driving(args)
        seq = driving.trim(seq, src_fps, args.fps or 0.0, args.max_frames)
        fps = seq.fps
        if video is not None:
            audio = read_audio(video, *driving.span(args.start_frame, src_fps, len(seq), fps))
    elif args.poses:
        src = Path(args.poses)
        images = sorted(p for p in src.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if src.is_dir() else []
        if images:
            if args.retarget:
                raise InputError("--retarget needs keypoints, but --poses holds rendered pose images; give pose "
                                 "JSON or --driving, or drop --retarget")
            images = images[args.start_frame:][:args.max_frames or None]
            return ImageFrames([np.asarray(Image.open(p).convert("RGB")) for p in images]), None, None
        canvas = args.canvas or (reference.shape[-1], reference.shape[-2])
        seq = load_pose_file(src, canvas=canvas)
        seq = seq[args.start_frame:][:args.max_frames or None]
        fps = getattr(seq, "fps", None)
    else:
        raise InputError("give --poses (pose images or JSON) or --driving (a video to extract poses from)")
    if len(seq) == 0:
        raise InputError("no pose frames are left after --start-frame/--max-frames; use a smaller --start-frame")
    if args.retarget:
        arr = (reference[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        seq = retarget_poses(seq, detect_poses([arr], backend="builtin"))
    return KeypointFrames(seq), fps, audio


def local_defaults(args) -> tuple[str, torch.dtype]:
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    return device, DTYPES[args.dtype or ("fp16" if device.startswith("cuda") else "fp32")]


def make_cluster(args):
    """--ray/--workers/--gpus-per-worker/--threads-per-worker -> a Cluster (None without --ray)."""
    for flag in ("workers", "gpus_per_worker", "threads_per_worker"):
        if getattr(args, flag) != {"workers": 2}.get(flag) and not args.ray:
            raise InputError(f"--{flag.replace('_', '-')} needs --ray (the cluster to run the workers on)")
    if not args.ray:
        return None
    from ..cluster import Cluster
    return Cluster(args.ray, args.workers, gpus_per_worker=args.gpus_per_worker,
                   threads_per_worker=args.threads_per_worker)


def model_source(args):
    from ..cluster import ModelSource

    def absolute(p):
        return None if p is None else str(Path(p).resolve())
    return ModelSource(absolute(args.checkpoint), absolute(args.configs), absolute(args.personal), args.uncond,
                       args.device or "auto", args.dtype or "auto")


def run(args) -> int:
    cluster = make_cluster(args)
    try:
        render(args, cluster)
    finally:
        if cluster is not None:
            cluster.shutdown()
    return 0


def render(args, cluster=None, progress: bool = True) -> int:
    """One video as the flags say, here or on `cluster`; -> frames written."""
    from .. import load_model
    from ..sampling.animate import animate_chunks
    from ..media import VideoWriter
    from ..media.files import write_frames, write_video
    reference = _image(args.image, "RGB")
    mask = _mask(args.mask) if args.mask else _builtin_mask(reference)
    poses, fps, audio = _pose_frames(args, reference)
    fps = args.fps or fps or 15.0
    width, height = args.size
    bar = tqdm(total=None, unit="step", desc="DisCo", disable=not progress)  # temporal models: window-steps

    def on_step(info):
        bar.total = info.total
        bar.update(info.done - bar.n)  # a temporal model's batch of windows counts several window-steps

    options = dict(height=height, width=width, fit=args.fit, num_inference_steps=args.steps,
                   guidance_scale=args.cfg, scheduler=args.scheduler, seed=args.seed,
                   frames_per_batch=args.frames_per_batch, noise_mode=args.noise, window=args.window,
                   overlap=args.overlap, on_step=on_step)
    if cluster is None:
        device, dtype = local_defaults(args)
        model = load_model(args.checkpoint, device=device, dtype=dtype, configs=args.configs, uncond=args.uncond)
        if args.personal:
            from ..training.personal import apply_personal, remember_base
            apply_personal(remember_base(model, args.checkpoint), args.personal)
        chunks = animate_chunks(model, reference, mask, poses, **options)
    else:
        from ..cluster import animate_chunks_on
        chunks = animate_chunks_on(cluster.pool(model_source(args)), reference, mask, poses, **options)
    streamed = Path(args.out).suffix.lower() == ".mp4"
    held, count, writer = [], 0, None
    try:
        for frames, chunk in chunks:  # each chunk goes to the encoder (and PNGs) as soon as it is decoded
            if streamed:
                writer = writer or VideoWriter(args.out, fps, audio)  # opened once there is a frame to write
                writer.write(chunk)
            else:
                held.append(chunk)  # animated images are written whole (they are short by nature)
            if args.frames_dir:
                write_frames(chunk.numpy(), args.frames_dir, "frame", start=frames.start)
            count += len(frames)
    finally:
        if writer is not None:
            writer.close()
    bar.close()
    if not streamed:
        write_video(torch.cat(held).numpy(), args.out, fps)
        if audio is not None:
            print(f"note: {Path(args.out).suffix} has no sound track; write .mp4 to keep the driving video's sound")
    sound = f", with {audio.duration:.2f} s of sound" if writer is not None and audio is not None else ""
    if progress:
        print(f"wrote {args.out}: {count} frames {width}x{height} at {fps:g} fps{sound}")
    return count
