"""A loss-curve picture (PIL only, no plotting library): raw losses in grey, a moving average in colour."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

MARGIN = 36


def moving_average(values: list[float], window: int) -> list[float]:
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def loss_curve_image(losses: list[float], total_steps: int | None = None, width: int = 512,
                     height: int = 256) -> np.ndarray:
    """uint8 [height, width, 3]: loss against step, with the last and smoothed values written on it."""
    img = Image.new("RGB", (width, height), (24, 26, 30))
    draw = ImageDraw.Draw(img)
    x0, y0, x1, y1 = MARGIN, 10, width - 10, height - 24
    draw.rectangle([x0, y0, x1, y1], outline=(90, 90, 90))
    total = max(total_steps or len(losses), 1)
    if losses:
        lo, hi = min(losses), max(losses)
        span = (hi - lo) or max(abs(hi), 1e-6)
        smooth = moving_average(losses, max(1, len(losses) // 20))

        def point(i, v):
            return x0 + (x1 - x0) * (i + 1) / total, y1 - (y1 - y0) * (v - lo) / span

        for values, colour in ((losses, (110, 110, 110)), (smooth, (90, 200, 255))):
            pts = [point(i, v) for i, v in enumerate(values)]
            if len(pts) > 1:
                draw.line(pts, fill=colour, width=2)
            else:
                draw.ellipse([pts[0][0] - 2, pts[0][1] - 2, pts[0][0] + 2, pts[0][1] + 2], fill=colour)
        draw.text((4, y0), f"{hi:.3g}", fill=(200, 200, 200))
        draw.text((4, y1 - 10), f"{lo:.3g}", fill=(200, 200, 200))
        draw.text((x0 + 6, y0 + 4), f"loss {losses[-1]:.4f}  (avg {smooth[-1]:.4f})", fill=(230, 230, 230))
    draw.text((x0, height - 18), f"step {len(losses)} / {total}", fill=(200, 200, 200))
    return np.array(img, dtype=np.uint8)  # a writable copy
