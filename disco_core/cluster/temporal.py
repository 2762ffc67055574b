"""The temporal model on a cluster: the driver holds the video's latents and runs the one step loop
(`sampling.windowed.step_loop`); at every step each worker gets its contiguous segment of window batches in ONE
call and sends back their weighted noise predictions, summed over its segment except at its edges
(`SegmentEps`), which the driver adds in window order: bit-equal to one process. Driver memory: the latents
plus one step's traffic."""
from __future__ import annotations

from ..sampling.windowed import SegmentEps, batch_frames


def split_segments(num_batches: int, parts: int) -> list[list[int]]:
    """Contiguous runs of batch indices, as even as possible (at most one segment per batch)."""
    parts = max(1, min(parts, num_batches))
    base, extra = divmod(num_batches, parts)
    out, start = [], 0
    for p in range(parts):
        size = base + (p < extra)
        out.append(list(range(start, start + size)))
        start += size
    return out


class RemoteSteps:
    """`steps` for `step_loop`: one call per worker and step. `traffic` counts the bytes moved (bench)."""

    def __init__(self, pool, video_id: str, plan, batches: list[list[int]]):
        self.pool, self.video_id, self.plan, self.batches = pool, video_id, plan, batches
        self.sent = self.received = self.calls = 0

    def step(self, i, t, scaled, *, should_cancel=None, on_batch=None, trace=None) -> list[SegmentEps]:
        segments = split_segments(len(self.batches), len(self.pool.workers))
        tasks = []
        for ids in segments:
            frames = [f for b in ids for f in batch_frames(self.plan, self.batches[b])]
            lo, hi = min(frames), max(frames) + 1
            span = scaled[lo:hi].cpu().contiguous()
            self.sent += span.numel() * span.element_size()
            tasks.append(lambda actor, ids=ids, lo=lo, span=span:
                         actor.predict.remote(self.video_id, t, span, lo, ids))
        self.calls += len(tasks)
        out = []
        for ids, segment in zip(segments, self.pool.run_ordered(tasks, video_id=self.video_id,
                                                                  should_cancel=should_cancel,
                                                                  ahead=len(tasks))):
            self.received += segment.nbytes
            if on_batch is not None:
                on_batch(ids[-1], batch_frames(self.plan, self.batches[ids[-1]]))
            out.append(segment)
        return out
