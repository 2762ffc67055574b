"""Overlapping windows over a long video, and the weights that fuse their predictions at every step.

The temporal model was trained on clips of a fixed length (16 frames in the released checkpoints, 8 in the
paper), and its GroupNorm statistics are pooled over the clip, so it always sees exactly `window` frames:

* windows start every `window - overlap` frames; a last window that would run past the end is moved back to
  end on the last frame (it overlaps its neighbour more) instead of being shortened;
* a video shorter than one window is padded to a full window with mirrored frames (the extra frames are
  sampled and dropped);
* where windows overlap, each one's weight ramps linearly towards its edge that a neighbour covers, so the
  fused prediction cross-fades from one window to the next; an edge no neighbour covers keeps weight 1, so
  one window alone gives exactly its own prediction.
"""
from __future__ import annotations

import dataclasses

import torch

from ..errors import InputError

DEFAULT_WINDOW, DEFAULT_OVERLAP = 16, 4


def check_window(window: int, overlap: int) -> None:
    if window < 1:
        raise InputError(f"window must be at least 1 frame, got {window} (the released temporal checkpoints "
                         "were trained on 16-frame clips, the paper's on 8)")
    if not 0 <= overlap < window:
        raise InputError(f"overlap must be between 0 and window - 1 = {window - 1} frames, got {overlap}")


@dataclasses.dataclass(frozen=True)
class WindowPlan:
    num_frames: int          # frames of the video
    window: int              # frames the model sees at once
    overlap: int             # requested overlap between neighbouring windows
    starts: tuple[int, ...]  # first (virtual) frame of every window

    @property
    def length(self) -> int:
        """Frames sampled: the video, padded up to one window if it is shorter."""
        return max(self.num_frames, self.window)

    def frames(self, k: int) -> range:
        return range(self.starts[k], self.starts[k] + self.window)

    def source_frame(self, i: int) -> int:
        """The video frame whose pose a (possibly padding) frame i uses: mirrored past the end."""
        n = self.num_frames
        if n == 1:
            return 0
        period = 2 * (n - 1)
        i %= period
        return i if i < n else period - i

    def weights(self, k: int) -> torch.Tensor:
        """float32 [window]: this window's fusion weights (ramps only towards neighbours that overlap it)."""
        w = self.window
        left = self.starts[k - 1] + w - self.starts[k] if k > 0 else 0
        right = self.starts[k] + w - self.starts[k + 1] if k + 1 < len(self.starts) else 0
        i = torch.arange(w, dtype=torch.float32)
        weight = torch.ones(w)
        if left > 0:
            weight = torch.minimum(weight, (i + 1) / (left + 1))
        if right > 0:
            weight = torch.minimum(weight, (w - i) / (right + 1))
        return weight


def plan_windows(num_frames: int, window: int = DEFAULT_WINDOW, overlap: int = DEFAULT_OVERLAP) -> WindowPlan:
    check_window(window, overlap)
    if num_frames < 1:
        raise InputError("the pose sequence is empty: there is nothing to animate")
    if num_frames <= window:
        return WindowPlan(num_frames, window, overlap, (0,))
    stride = window - overlap
    starts = list(range(0, num_frames - window + 1, stride))
    if starts[-1] + window < num_frames:
        starts.append(num_frames - window)  # a full window ending on the last frame, never a short one
    return WindowPlan(num_frames, window, overlap, tuple(starts))
