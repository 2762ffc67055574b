"""`python -m disco_core mask IMAGE --out MASK.png [--dilate PX --feather PX]`."""
from __future__ import annotations

import argparse
from pathlib import Path

HELP = "write the person mask of a photo (L mode PNG, 255 = person), offline"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", type=Path, help="the reference photo")
    parser.add_argument("--out", type=Path, required=True, help="output PNG (L mode, 0/255; grey at a feathered edge)")
    parser.add_argument("--dilate", type=int, default=0, metavar="PX",
                        help="grow the mask by PX pixels (negative shrinks; default 0, as DisCo's masks)")
    parser.add_argument("--feather", type=int, default=0, metavar="PX", help="soften the edge over about PX pixels")


def run(args) -> int:
    import numpy as np
    from PIL import Image

    from ..errors import InputError
    from ..pose.segment import segment_person

    try:
        with Image.open(args.image) as im:
            img = np.asarray(im.convert("RGB"))
    except FileNotFoundError:
        raise InputError(f"image not found: {args.image}") from None
    except OSError as e:
        raise InputError(f"cannot read {args.image} as an image ({e}); give a PNG or JPEG photo") from None
    mask = segment_person(img, dilate=args.dilate, feather=args.feather)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.round(mask * 255).astype(np.uint8), mode="L").save(args.out)
    print(f"wrote {args.out} ({mask.mean() * 100:.1f}% person)")
    return 0
