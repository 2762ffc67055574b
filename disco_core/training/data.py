"""Training samples from frames of one person, as the official human-specific fine-tuning dataset makes them.

Each sample: a target frame with its rendered pose, and a reference frame drawn at random from the same person
(`--ft_one_ref_image False`) with its mask. Augmentation (`--strong_rand_stage2`, `--strong_aug_stage1`): a random
square crop along the long side, then a random resized crop (area 0.5..1, square), the *same* window for every
image of the sample. From them:
- target: bilinear to H x W, in [-1, 1];  pose: the same, in [0, 1];
- reference (CLIP input): bicubic to the CLIP size without antialias, CLIP-normalised, x the binarised mask;
- background: the reference bilinear to H x W in [-1, 1], x (1 - binarised mask).
Masks are binarised (>= 0.001 -> 1) after resizing, as the official `normalize_mask` does.
Every random choice comes from a generator seeded by (seed, step): the same seed gives the same batches, and a
resumed run sees exactly the batches it would have seen.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from ..errors import InputError
from ..media.images import clip_normalize, pil_resize_mask, resize
from .objective import Batch

MIN_CROP_SCALE = 0.5   # --strong_aug_stage1
MASK_THRESHOLD = 1e-3  # normalize_mask
MIN_FRAMES = 1


@dataclasses.dataclass
class PersonFrames:
    """Frames of the person [N,3,H,W], their person masks [N,1,H,W] and rendered poses [N,3,H,W], all 0..1."""
    frames: torch.Tensor
    masks: torch.Tensor
    poses: torch.Tensor

    def __post_init__(self):
        n, _, h, w = self.frames.shape
        if self.masks.shape != (n, 1, h, w) or self.poses.shape != (n, 3, h, w):
            raise InputError(f"frames {tuple(self.frames.shape)}, masks {tuple(self.masks.shape)} and poses "
                             f"{tuple(self.poses.shape)} must be [N,3,H,W], [N,1,H,W], [N,3,H,W] for the same N,H,W")

    def __len__(self) -> int:
        return int(self.frames.shape[0])


def _as_bchw(x: torch.Tensor, channels: int, name: str) -> torch.Tensor:
    if x.ndim == 3 and channels == 1:
        x = x[:, None]
    if x.ndim != 4 or x.shape[1] != channels:
        raise InputError(f"{name} must be [N,{channels},H,W] float 0..1, got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise InputError(f"{name} contains NaN or infinite values")
    return x.float().clamp(0, 1)


def spaced_indices(n: int, max_frames: int | None) -> list[int]:
    """At most `max_frames` indices spread evenly over 0..n-1 (all of them when n is small enough)."""
    if not max_frames or n <= max_frames:
        return list(range(n))
    return sorted({round(i * (n - 1) / (max_frames - 1)) for i in range(max_frames)}) if max_frames > 1 else [0]


def prepare_person(frames: torch.Tensor, masks: torch.Tensor | None = None, poses: torch.Tensor | None = None,
                   *, max_frames: int | None = None, short_side: int | None = None) -> PersonFrames:
    """Frames [N,3,H,W] 0..1 -> PersonFrames; masks and poses missing are made by the pack's built-in
    detectors (mediapipe person segmentation and BlazePose -> DisCo-style skeletons).

    `max_frames` keeps that many evenly spaced frames (with their masks/poses); `short_side` downsizes the
    frames first (training crops are resized to 256 px anyway, so 1080p frames only cost memory and time).
    """
    frames = _as_bchw(frames, 3, "frames")
    count = frames.shape[0]
    if poses is not None and poses.shape[0] != count:
        raise InputError(f"got {poses.shape[0]} poses for {count} frames; give one pose per frame")
    if masks is not None and masks.shape[0] not in (1, count):
        raise InputError(f"got {masks.shape[0]} masks for {count} frames; give one mask, or one per frame")
    keep = spaced_indices(count, max_frames)
    frames = frames[keep]
    masks = masks[keep] if masks is not None and masks.shape[0] > 1 else masks
    poses = poses[keep] if poses is not None else None
    if short_side and min(frames.shape[-2:]) > short_side:
        scale = short_side / min(frames.shape[-2:])
        frames = resize(frames, (round(frames.shape[-2] * scale), round(frames.shape[-1] * scale)), "bilinear")
    n, _, h, w = frames.shape
    if n < MIN_FRAMES or min(h, w) < 8:
        raise InputError(f"fine-tuning needs at least {MIN_FRAMES} frame of at least 8x8 pixels, got {n} of {w}x{h}")
    uint8 = (frames.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    if masks is None:
        from ..pose.segment import segment_person
        masks = torch.from_numpy(np.stack([segment_person(f) for f in uint8]))[:, None]
    masks = _as_bchw(masks, 1, "masks")
    if masks.shape[0] == 1 and n > 1:
        masks = masks.expand(n, -1, -1, -1)
    if masks.shape[-2:] != (h, w):
        masks = resize(masks, (h, w), "bilinear")
    if poses is None:
        from ..pose import detect_poses, render_pose_sequence
        seq = detect_poses(list(uint8), backend="builtin")
        if bool(seq.empty_frames.all()):
            raise InputError("no person pose was found in any of the frames; give frames that show the whole "
                             "person, or connect poses")
        poses = torch.from_numpy(render_pose_sequence(seq)).permute(0, 3, 1, 2).float() / 255
    poses = _as_bchw(poses, 3, "poses")
    if poses.shape[0] != n:
        raise InputError(f"got {poses.shape[0]} poses for {n} frames; give one pose per frame")
    if poses.shape[-2:] != (h, w):
        poses = resize(poses, (h, w), "bilinear")
    if float(masks.amax()) <= 0:
        raise InputError("every person mask is empty; the person was not found. Give frames that show the person "
                         "clearly, or connect a MASK")
    return PersonFrames(frames, masks, poses)


def _step_generator(seed: int, step: int, stream: int) -> torch.Generator:
    return torch.Generator().manual_seed((int(seed) * 1_000_003 + int(step) * 7 + stream) % (2**63))


def _uniform(g: torch.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=g))


def crop_window(h: int, w: int, g: torch.Generator, min_scale: float = MIN_CROP_SCALE) -> tuple[int, int, int]:
    """(top, left, side) of the augmentation window: random square along the long side, then a random square
    of area min_scale..1 inside it (RandomResizedCrop with ratio 1)."""
    side = min(h, w)
    top = int(torch.randint(0, h - side + 1, (), generator=g)) if h > side else 0
    left = int(torch.randint(0, w - side + 1, (), generator=g)) if w > side else 0
    crop = max(1, min(side, round(math.sqrt(_uniform(g, min_scale, 1.0)) * side)))
    i = int(torch.randint(0, side - crop + 1, (), generator=g))
    j = int(torch.randint(0, side - crop + 1, (), generator=g))
    return top + i, left + j, crop


class SampleSource:
    """Seeded (reference, target, pose, background) batches from a PersonFrames."""

    def __init__(self, person: PersonFrames, height: int, width: int, clip_size: int, seed: int = 0,
                 augment: bool = True):
        self.person, self.height, self.width, self.clip_size = person, height, width, clip_size
        self.seed, self.augment = seed, augment

    def sample(self, g: torch.Generator) -> tuple[torch.Tensor, ...]:
        n = len(self.person)
        t = int(torch.randint(0, n, (), generator=g))
        r = int(torch.randint(0, n, (), generator=g))
        h, w = self.person.frames.shape[-2:]
        if self.augment:
            top, left, side = crop_window(h, w, g)
        else:
            side = min(h, w)
            top, left = (h - side) // 2, (w - side) // 2

        def win(x):
            return x[None, :, top:top + side, left:left + side]

        size = (self.height, self.width)
        target = resize(win(self.person.frames[t]), size, "bilinear") * 2 - 1
        pose = resize(win(self.person.poses[t]), size, "bilinear")
        ref, ref_mask = win(self.person.frames[r]), win(self.person.masks[r])
        clip_mask = (pil_resize_mask(ref_mask, self.clip_size) >= MASK_THRESHOLD).float()
        clip = clip_normalize(resize(ref, (self.clip_size,) * 2, "bicubic", antialias=False)) * clip_mask
        bg_mask = (resize(ref_mask, size, "bilinear") >= MASK_THRESHOLD).float()
        background = (resize(ref, size, "bilinear") * 2 - 1) * (1 - bg_mask)
        return clip, target, pose, background

    def batch(self, step: int, batch_size: int) -> Batch:
        g = _step_generator(self.seed, step, 0)
        parts = [self.sample(g) for _ in range(batch_size)]
        return Batch(*(torch.cat(p) for p in zip(*parts)))


def draws_generator(seed: int, step: int) -> torch.Generator:
    """The generator of a step's noise / timestep / posterior draws (a stream apart from the data's)."""
    return _step_generator(seed, step, 1)
