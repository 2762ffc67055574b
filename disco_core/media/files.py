"""Read and write frame sequences (videos, animated images, image folders) as uint8 [T,H,W,3]."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import InputError

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
ANIMATED_EXTS = {".gif", ".webp", ".png", ".apng"}
VIDEO_EXTS = {".mp4", ".mov", ".webm", ".mkv", ".avi", ".m4v"}
WRITE_EXTS = {".mp4", ".gif", ".webp"}


def _natural_key(name: str):
    # "frame_10" after "frame_9", as people number frames
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def _to_rgb(img) -> np.ndarray:
    """PIL image (any mode) -> uint8 [H,W,3]; transparency is composited over white."""
    from PIL import Image

    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        canvas.alpha_composite(rgba)
        return np.asarray(canvas.convert("RGB"))
    return np.asarray(img.convert("RGB"))


def _stack(frames: list[np.ndarray], source: Path) -> np.ndarray:
    if not frames:
        raise InputError(f"No frames could be read from {source}. Check that it is a non-empty video or image sequence.")
    sizes = {f.shape for f in frames}
    if len(sizes) > 1:
        raise InputError(
            f"Frames in {source} have different sizes {sorted(sizes)}. Resize them to one size first."
        )
    return np.stack(frames)


def _read_pil(path: Path) -> tuple[np.ndarray, float | None]:
    from PIL import Image, ImageSequence

    frames, durations = [], []
    with Image.open(path) as im:
        for frame in ImageSequence.Iterator(im):
            frame.load()  # per-frame info (duration) is only filled in after decoding
            frames.append(_to_rgb(frame))
            durations.append(frame.info.get("duration"))
    valid = [d for d in durations if d]
    fps = round(1000.0 / float(np.mean(valid)), 3) if valid else None
    return _stack(frames, path), fps


def _read_av(path: Path) -> tuple[np.ndarray, float | None]:
    import imageio.v3 as iio

    fps = None
    try:
        fps = iio.immeta(path, plugin="pyav").get("fps")
    except Exception:  # metadata is optional; frames are what matter
        pass
    frames = [np.ascontiguousarray(f[..., :3]) for f in iio.imiter(path, plugin="pyav", format="rgb24")]
    return _stack(frames, path), (float(fps) if fps else None)


def _read_folder(path: Path) -> tuple[np.ndarray, None]:
    from PIL import Image

    files = sorted((p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS),
                   key=lambda p: _natural_key(p.name))
    if not files:
        raise InputError(
            f"Folder {path} has no images ({', '.join(sorted(IMAGE_EXTS))}). Put the frames there or pass a video file."
        )
    frames = []
    for f in files:
        try:
            with Image.open(f) as im:
                frames.append(_to_rgb(im))
        except Exception as e:
            raise InputError(f"Cannot read image {f}: {e}. Remove or replace that file.") from e
    return _stack(frames, path), None


def read_frames(path) -> tuple[np.ndarray, float | None]:
    """Frames of a video file, animated/still image, or folder of images -> (uint8 [T,H,W,3], fps or None)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise InputError(f"Input {path} does not exist. Check the path.")
    if path.is_dir():
        return _read_folder(path)
    ext = path.suffix.lower()
    # Try the reader the extension suggests first, then the other one (extensions lie).
    readers = [_read_av, _read_pil] if ext in VIDEO_EXTS else [_read_pil, _read_av]
    errors = []
    for reader in readers:
        try:
            return reader(path)
        except InputError:
            raise
        except Exception as e:
            errors.append(f"{reader.__name__.strip('_')}: {e}")
    raise InputError(
        f"Cannot read {path} as a video or image ({'; '.join(errors)}). "
        "Use an mp4/mov/webm video, an animated webp/gif, or a folder of images."
    )


def _to_uint8(frames) -> np.ndarray:
    if hasattr(frames, "detach"):  # torch tensor, without importing torch here
        frames = frames.detach().cpu().numpy()
    arr = np.asarray(frames)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] not in (3, 4) or arr.shape[0] == 0:
        raise InputError(f"Expected frames shaped [T,H,W,3], got {list(arr.shape)}.")
    arr = arr[..., :3]
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    if np.issubdtype(arr.dtype, np.floating):
        return (np.clip(arr, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    raise InputError(f"Frames must be uint8 (0..255) or float (0..1), got {arr.dtype}.")


def _pad_even(frames: np.ndarray) -> np.ndarray:
    # yuv420p needs even width/height; repeat the edge rather than rescale
    _, h, w, _ = frames.shape
    if h % 2 == 0 and w % 2 == 0:
        return frames
    return np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def write_video(frames, path, fps: float = 8.0) -> Path:
    """Write frames (uint8 or float 0..1, [T,H,W,3]) as H.264 .mp4, or animated .gif/.webp, by extension."""
    path = Path(path).expanduser()
    ext = path.suffix.lower()
    if ext not in WRITE_EXTS:
        raise InputError(f"Cannot write '{ext or path.name}': use a .mp4, .gif or .webp file name.")
    if not fps or fps <= 0:
        raise InputError(f"fps must be positive, got {fps}.")
    arr = _to_uint8(frames)
    path.parent.mkdir(parents=True, exist_ok=True)
    if ext == ".mp4":
        import imageio_ffmpeg

        arr = _pad_even(arr)
        _, h, w, _ = arr.shape
        writer = imageio_ffmpeg.write_frames(
            str(path), (w, h), fps=float(fps), codec="libx264", pix_fmt_out="yuv420p",
            quality=8, macro_block_size=1, output_params=["-movflags", "+faststart"],
        )
        writer.send(None)  # start ffmpeg
        try:
            for frame in arr:
                writer.send(np.ascontiguousarray(frame))
        finally:
            writer.close()
    else:
        from PIL import Image

        images = [Image.fromarray(f) for f in arr]
        extra = {"quality": 90} if ext == ".webp" else {"optimize": False}
        images[0].save(path, save_all=True, append_images=images[1:], duration=round(1000.0 / fps), loop=0, **extra)
    return path


def write_frames(frames, folder, prefix: str = "frame", start: int = 0) -> list[Path]:
    """Write each frame as `<folder>/<prefix>_00000.png`, numbered from `start`; returns the paths."""
    from PIL import Image

    arr = _to_uint8(frames)
    folder = Path(folder).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, frame in enumerate(arr):
        p = folder / f"{prefix}_{start + i:05d}.png"
        Image.fromarray(frame).save(p)
        paths.append(p)
    return paths
