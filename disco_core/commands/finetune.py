"""python -m disco_core finetune --checkpoint BASE --images DIR_OR_VIDEO --out personal.safetensors [options]"""
from __future__ import annotations

import sys
from pathlib import Path

import torch
from tqdm import tqdm

from ..errors import InputError

HELP = "fine-tune a DisCo model on one person (photos or a short clip) and save the small personalisation file"
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def add_arguments(p):
    from ..training.trainable import ALIASES, TRAINABLE_SETS
    from ..training.trainer import FineTuneSettings
    d = FineTuneSettings()
    p.add_argument("--checkpoint", required=True, help="the base model: converted .safetensors or official .pt")
    p.add_argument("--configs", help="configs.json for non-standard model sizes (tiny test models)")
    p.add_argument("--images", required=True, help="a folder of photos/frames of the person, or a video/GIF of them")
    p.add_argument("--masks", help="folder of person masks (white = person), same names/order as the frames; "
                                   "default: the built-in person segmentation")
    p.add_argument("--poses", help="folder of rendered pose images (DisCo skeletons), one per frame in the same "
                                   "order; default: the built-in pose detector")
    p.add_argument("--out", required=True, help="personalisation file to write (.safetensors)")
    p.add_argument("--steps", type=int, default=d.steps, help=f"training steps (official: {d.steps})")
    p.add_argument("--lr", type=float, default=d.lr, help=f"peak learning rate (official: {d.lr:g})")
    p.add_argument("--trainable", choices=list(TRAINABLE_SETS) + list(ALIASES), default="official",
                   help="what trains: official (= crossattn, the official recipe), crossattn-kv, or lora")
    p.add_argument("--rank", type=int, default=d.rank, help="LoRA rank (with --trainable lora)")
    p.add_argument("--batch", type=int, default=d.batch_size, help=f"samples per step (official: {d.batch_size})")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--size", type=int, default=d.height, help="training resolution, square (official: 256)")
    p.add_argument("--max-frames", type=int, default=64, help="use at most this many evenly spaced frames")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--dtype", choices=sorted(DTYPES), default="fp16" if torch.cuda.is_available() else "fp32",
                   help="frozen weights and autocast precision; the trained weights stay fp32")
    p.add_argument("--resume", help="state file of an interrupted run (written next to --out on Ctrl-C)")
    p.add_argument("--no-gradient-checkpointing", action="store_true",
                   help="faster, but needs much more memory")


def _frames(path: str) -> torch.Tensor:
    from ..media.files import read_frames
    frames, _ = read_frames(path)
    return torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255


def _masks(path: str | None) -> torch.Tensor | None:
    if path is None:
        return None
    m = _frames(path).mean(1, keepdim=True)
    return (m > 0).float() if float(m.max()) <= 1 / 255 + 1e-6 else m  # 0/1-valued mask files


def run(args) -> int:
    from .. import load_model
    from ..training.data import prepare_person
    from ..training.personal import base_identity, remember_base, save_personal
    from ..training.trainer import FineTuneSettings, FineTuner

    out = Path(args.out)
    if out.suffix != ".safetensors":
        raise InputError(f"--out {out} must end in .safetensors")
    settings = FineTuneSettings(steps=args.steps, lr=args.lr, trainable=args.trainable, rank=args.rank,
                                batch_size=args.batch, seed=args.seed, height=args.size, width=args.size,
                                gradient_checkpointing=not args.no_gradient_checkpointing)
    print("preparing frames (masks and poses)...", file=sys.stderr)
    poses = _frames(args.poses) if args.poses else None
    person = prepare_person(_frames(args.images), _masks(args.masks), poses, max_frames=args.max_frames,
                            short_side=384)
    model = remember_base(load_model(args.checkpoint, device=args.device, dtype=DTYPES[args.dtype],
                                     configs=args.configs), args.checkpoint)
    base_name, base_sha = base_identity(model)
    tuner = FineTuner(model, person, settings, device=args.device)
    if args.resume:
        tuner.resume(args.resume)
    state = out.with_name(out.stem + ".state.safetensors")
    bar = tqdm(total=settings.steps, initial=tuner.step, unit="step", desc="fine-tune")

    def on_step(report):
        bar.update(1)
        bar.set_postfix(loss=f"{report.loss:.4f}", lr=f"{report.lr:.2e}")

    try:
        result = tuner.run(on_step=on_step, state_path=state)
    except KeyboardInterrupt:
        bar.close()
        print(f"\ninterrupted after {tuner.step} steps; state saved to {state}. Continue with the same options "
              f"plus --resume {state}", file=sys.stderr)
        return 130
    bar.close()
    save_personal(result, out, base_name, base_sha)
    if state.exists():
        state.unlink()
    size_mb = out.stat().st_size / 2**20
    print(f"wrote {out} ({size_mb:.1f} MiB, {len(result.trained)} tensors, {settings.trainable}); loss "
          f"{result.losses[0]:.4f} -> {result.losses[-1]:.4f}. Use it with: python -m disco_core animate "
          f"--checkpoint {args.checkpoint} --personal {out} ...")
    return 0
