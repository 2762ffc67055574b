"""How far fp16 / bf16 sampling drifts from the fp32 pipeline (the autocast/dtype policy's price).

  python bench/precision_drift.py                       # the image parity fixture's tiny model, CPU
  python bench/precision_drift.py --device cuda --steps 50

Policy measured: weights and activations in fp16/bf16 except the CLIP image encoder (fp32, as the official
DeepSpeed eval), what `load_model(..., dtype=...)` gives. Two measures: (1) relative error against the official
fp32 outputs stored in the parity fixture (final latents, decoded images), next to fp32's own; (2) frames of a
`--steps`-step CFG run at 64x64 against the fp32 frames: mean and max absolute difference in 0..255 units.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from disco_core import animate, convert_checkpoint, load_model  # noqa: E402
from disco_core.parity.fixtures import Fixture  # noqa: E402
from disco_core.parity.image import run_fixture

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def fixture_dir() -> Path:
    for path in (ROOT / "tests" / "fixtures" / "parity" / "image", ROOT.parent / "shared" / "reference" / "parity"
                 / "image"):
        if (path / "weights.safetensors").is_file():
            return path
    raise SystemExit("image parity fixture not found")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--out", type=Path, default=Path("/tmp/disco_tiny_drift.safetensors"))
    p.add_argument("--max-fp16-mean", type=float, default=0.5,
                   help="exit non-zero if fp16 frames differ from fp32 by more than this on average (0..255)")
    p.add_argument("--max-bf16-mean", type=float, default=1.5,
                   help="the same for bf16 (8 mantissa bits against fp16's 11: a wider bound)")
    args = p.parse_args()
    fx_dir = fixture_dir()
    ckpt = convert_checkpoint(fx_dir / "weights.safetensors", args.out, configs=fx_dir / "configs.json")
    fx = Fixture.load(fx_dir)
    g = torch.Generator().manual_seed(0)
    reference, mask = torch.rand(1, 3, 96, 64, generator=g), torch.zeros(1, 1, 96, 64)
    mask[..., 20:80, 20:44] = 1
    poses = torch.rand(4, 3, 80, 60, generator=g)
    frames = {}
    print(f"steps={args.steps} device={args.device} fixture={fx_dir.name} ({fx.meta['scheduler']['num_inference_steps']}"
          " fixture steps)")
    print("| dtype | final latents rel. err vs official fp32 | images rel. err | frames vs fp32: mean abs | max abs |")
    print("|---|---|---|---|---|")
    for name, dtype in DTYPES.items():
        model = load_model(ckpt, device=args.device, dtype=dtype)
        errors = run_fixture(fx, model).errors
        frames[name] = animate(model, reference, mask, poses, height=64, width=64, num_inference_steps=args.steps,
                               seed=1) * 255
        diff = (frames[name] - frames["fp32"]).abs()
        print(f"| {name} | {errors['final_latents']:.2e} | {errors['logits_imgs']:.2e} | {diff.mean():.3f} | "
              f"{diff.max():.1f} |", flush=True)
        limit = {"fp16": args.max_fp16_mean, "bf16": args.max_bf16_mean}.get(name)
        if limit is not None and diff.mean() > limit:
            raise SystemExit(f"{name} drift {diff.mean():.3f} exceeds {limit}")


if __name__ == "__main__":
    main()
