"""python -m disco_core convert SRC DST.safetensors [--configs CONFIGS.json] [--uncond blank|zeros]"""
from __future__ import annotations

from ..model.checkpoint import convert_checkpoint, read_checkpoint

HELP = "convert an official DisCo checkpoint (.pt or .safetensors) into one self-describing .safetensors"


def add_arguments(p):
    p.add_argument("src", help="official mp_rank_00_model_states.pt, or a .safetensors state dict in its layout")
    p.add_argument("dst", help="output .safetensors (configs and variant stored in its metadata)")
    p.add_argument("--configs", help="configs.json for non-standard sizes (the parity fixtures' format); "
                                     "default: the full-size SD image-variations configs")
    p.add_argument("--uncond", choices=("blank", "zeros"),
                   help="CFG unconditional tokens: 'blank' for CFG-trained checkpoints (*_cfg, default), "
                        "'zeros' for the no-CFG ones (*_nocfg)")


def run(args) -> int:
    out = convert_checkpoint(args.src, args.dst, configs=args.configs, uncond=args.uncond)
    sd, meta = read_checkpoint(out)
    print(f"wrote {out} ({len(sd)} tensors, {sum(v.numel() for v in sd.values()) / 1e6:.1f}M parameters, "
          f"variant {meta.get('disco_variant')})")
    return 0
