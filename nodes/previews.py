"""Animated previews for the canvas: frames -> a few JPEG sprite sheets in the temp folder, described in a node's
UI output so that web/js/disco_player.js can play, loop and scrub them frame by frame.

Sheets instead of a video file: exact frame access for the scrubber and the trim, no codec the browser may lack,
one request per sheet. No ComfyUI import here; the folder comes from comfy_glue.
"""
from __future__ import annotations

import math
import os
import uuid

import numpy as np
import torch

from . import comfy_glue as glue

UI_KEY = "disco_preview"  # the UI output key the web extension reads (ComfyUI's own "images" key stays unused)
SUBFOLDER = "disco_preview"
MAX_SIDE, MIN_SIDE = 256, 96  # px, longest side of one preview frame
FULL_SIZE_FRAMES = 600  # up to this many frames keep MAX_SIDE; longer clips get smaller frames (same total pixels)
SHEET_MAX_SIDE = 2048  # px, each sheet's width and height stay below this
JPEG_QUALITY = 80
CHUNK = 64  # frames resized at a time, so a long clip is never held twice at full size


def frame_size(width: int, height: int, count: int) -> tuple[int, int]:
    """(w, h) of one preview frame: aspect kept, longest side MAX_SIDE, shrinking for long clips."""
    side = MAX_SIDE * math.sqrt(FULL_SIZE_FRAMES / max(count, FULL_SIZE_FRAMES))
    side = max(MIN_SIDE, min(MAX_SIDE, int(side)))
    scale = side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def resized_chunks(frames, size: tuple[int, int]):
    """Yield uint8 [n,h,w,3] chunks of `frames` ([T,H,W,3] float 0..1 tensor or uint8 array) at `size` (w, h)."""
    w, h = size
    for start in range(0, len(frames), CHUNK):
        chunk = torch.as_tensor(frames[start:start + CHUNK])
        x = chunk[..., :3].permute(0, 3, 1, 2).float()
        if chunk.dtype == torch.uint8:
            x = x / 255.0
        if x.shape[-2:] != (h, w):
            x = torch.nn.functional.interpolate(x, size=(h, w), mode="bilinear", antialias=True,
                                                align_corners=False)
        yield (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def write_sheets(chunks, count: int, size: tuple[int, int], prefix: str, folder: str | None = None) -> dict:
    """Tile `count` frames of `size` (w, h), given as uint8 [n,h,w,3] chunks, into JPEG sheets under
    `folder`/SUBFOLDER (default: the temp folder); returns the layout the player needs."""
    from PIL import Image

    if count <= 0:
        raise ValueError("no frames to preview")
    w, h = size
    columns = max(1, min(count, SHEET_MAX_SIDE // w))
    rows = max(1, min(-(-count // columns), SHEET_MAX_SIDE // h))
    per_sheet = columns * rows
    out_dir = os.path.join(folder or glue.temp_folder(), SUBFOLDER)
    os.makedirs(out_dir, exist_ok=True)
    token = uuid.uuid4().hex[:10]  # a new name per run: the browser never shows a stale cached sheet
    sheets, sheet, index = [], None, 0
    for chunk in chunks:
        for frame in chunk:
            if index == count:
                break
            k = index % per_sheet
            if k == 0:
                n = min(per_sheet, count - index)
                sheet = Image.new("RGB", (w * min(columns, n), h * -(-n // columns)))
            sheet.paste(Image.fromarray(np.ascontiguousarray(frame)), ((k % columns) * w, (k // columns) * h))
            index += 1
            if k == per_sheet - 1 or index == count:
                name = f"{prefix}_{token}_{len(sheets):04d}.jpg"
                sheet.save(os.path.join(out_dir, name), quality=JPEG_QUALITY)
                sheets.append({"filename": name, "subfolder": SUBFOLDER, "type": "temp"})
    if index != count:
        raise ValueError(f"preview expected {count} frames, got {index}")
    return {"frames": count, "width": w, "height": h, "columns": columns, "per_sheet": per_sheet,
            "sheets": sheets}


def preview_ui(kind: str, fps: float, layout: dict, **info) -> dict:
    """A node's UI output: `{UI_KEY: [{kind, fps, frames, sheets, ...info}]}` (ComfyUI wants lists)."""
    return {UI_KEY: [{"kind": kind, "fps": float(fps), **layout, **info}]}


def frames_preview(frames, fps: float, kind: str, **info) -> dict:
    """UI output previewing an IMAGE batch [T,H,W,3] (e.g. the sampler's frames)."""
    size = frame_size(int(frames.shape[2]), int(frames.shape[1]), len(frames))
    layout = write_sheets(resized_chunks(frames, size), len(frames), size, kind)
    return preview_ui(kind, fps, layout, **info)


def pose_preview(poses, reference=None, fps: float = 0.0, **info) -> dict:
    """UI output previewing Pose Sequence's result: each skeleton over the reference photo when one is connected
    (retargeted keypoints sit on the photo's body), else the skeletons alone."""
    from ..disco_core.pose.preview import pose_preview_frames, skeleton_overlay_frames

    photo = None
    if reference is not None:
        photo = reference.image[0].permute(1, 2, 0).clamp(0, 1).mul(255).round().to(torch.uint8).numpy()
    count = len(poses)
    if poses.keypoints is not None:
        canvas = (photo.shape[1], photo.shape[0]) if photo is not None else poses.keypoints.canvas
        size = frame_size(*canvas, count)
        chunks = pose_preview_frames(poses.keypoints, size, photo=photo, chunk=CHUNK)
    else:  # already rendered skeleton images, made on demand (disco_core.pose.frames.PoseFrames)
        rendered = _FrameList(poses.frames)
        size = frame_size(int(rendered.shape[2]), int(rendered.shape[1]), count)
        chunks = skeleton_overlay_frames(resized_chunks(rendered, size), photo=photo)
    layout = write_sheets(chunks, count, size, "poses")
    return preview_ui("poses", fps or poses.fps or 0.0, layout, over_photo=photo is not None, **info)


class _FrameList:
    """[T,H,W,3] uint8 frames of a PoseFrames (`frame(t)`), sliced by chunk: never all frames at once."""

    def __init__(self, frames):
        self.frames = frames
        w, h = frames.size
        self.shape = (len(frames), h, w, 3)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index: slice) -> np.ndarray:
        return np.stack([self.frames.frame(t) for t in range(*index.indices(len(self)))])

