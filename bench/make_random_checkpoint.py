"""Write a full-size (SD1.5) DisCo checkpoint with random weights, as `python -m disco_core convert` would.

  python bench/make_random_checkpoint.py /tmp/disco_sd15_random.safetensors [--dtype fp16]

Our key layout, configs in the metadata; fp16 weights with the CLIP image encoder in fp32 like the official
DeepSpeed files (about 4.6 GB), or `--dtype fp32` (about 7.9 GB). Each component is initialised with its own
default init (seeded) and written straight to its place in the file, so writing needs one component in memory
(the UNet, 3.4 GB), not the model. Speed and memory do not depend on the values.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from torch import nn
from transformers import CLIPVisionModelWithProjection

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from disco_core.model.checkpoint import CONFIG_KEY, FORMAT_KEY, FORMAT_VERSION, VARIANT_KEY, model_shapes  # noqa: E402
from disco_core.model.config import DiscoConfig  # noqa: E402
from disco_core.model.networks import background_controlnet, clip_vision_config, pose_controlnet  # noqa: E402

_NAMES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}


def components(cfg: DiscoConfig):
    """(prefix, builder) in file order; each builder makes one randomly initialised fp32 component."""
    return [
        ("clip_image_encoder.", lambda: CLIPVisionModelWithProjection(clip_vision_config(cfg))),
        ("controlnet.nets.0.", lambda: pose_controlnet(cfg)),
        ("controlnet.nets.1.", lambda: background_controlnet(cfg)),
        ("refer_clip_proj.", lambda: nn.Linear(cfg.image_encoder["hidden_size"], cfg.unet["cross_attention_dim"],
                                               bias=False)),
        ("unet.", lambda: UNet2DConditionModel.from_config(cfg.unet)),
        ("vae.", lambda: AutoencoderKL.from_config(cfg.vae)),
    ]


def write(path: Path, cfg: DiscoConfig, dtype: torch.dtype, seed: int = 0) -> Path:
    shapes = model_shapes(cfg)
    dtypes = {k: torch.float32 if k.startswith("clip_image_encoder.") else dtype for k in shapes}
    header, offset = {}, 0
    for key in sorted(shapes):
        nbytes = shapes[key].numel() * dtypes[key].itemsize
        header[key] = {"dtype": _NAMES[dtypes[key]], "shape": list(shapes[key]), "data_offsets": [offset,
                                                                                                   offset + nbytes]}
        offset += nbytes
    header["__metadata__"] = {FORMAT_KEY: FORMAT_VERSION, CONFIG_KEY: cfg.to_json(), VARIANT_KEY: cfg.variant}
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    base = 8 + len(blob)
    written = set()
    tmp = path.with_suffix(".part")
    with open(tmp, "wb") as f:
        f.write(len(blob).to_bytes(8, "little") + blob)
        f.truncate(base + offset)
        for i, (prefix, build) in enumerate(components(cfg)):
            torch.manual_seed(seed + i)
            for name, value in build().state_dict().items():
                key = prefix + name
                if key not in header:
                    continue  # non-persistent in our model (e.g. CLIP position_ids)
                data = value.detach().to(dtypes[key]).contiguous().view(torch.uint8).numpy().tobytes()
                f.seek(base + header[key]["data_offsets"][0])
                f.write(data)
                written.add(key)
            print(f"wrote {prefix}*", flush=True)
    missing = set(shapes) - written
    if missing:
        raise SystemExit(f"internal: {len(missing)} tensors not written, e.g. {sorted(missing)[:3]}")
    tmp.replace(path)
    return path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path)
    p.add_argument("--dtype", choices=("fp16", "bf16", "fp32"), default="fp16")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[args.dtype]
    write(args.out, DiscoConfig.sd_image_variations(), dtype, args.seed)
    print(f"{args.out}: {args.out.stat().st_size / 1e9:.2f} GB")


if __name__ == "__main__":
    main()
