"""Settings and a runner shared by the cluster tests."""
from __future__ import annotations

import torch

from disco_core.cluster import animate_chunks_on

IMAGE = dict(height=32, width=32, num_inference_steps=2, frames_per_batch=2, seed=7)
TEMPORAL = dict(height=32, width=32, num_inference_steps=2, frames_per_batch=8, window=8, overlap=6, seed=7)


def _cluster_video(pool, dance, on_step=None, **options):
    reference, mask, poses = dance
    got = [(frames, chunk) for frames, chunk in animate_chunks_on(pool, reference, mask, poses, on_step=on_step,
                                                                  **options)]
    assert [f.start for f, _ in got] == sorted(f.start for f, _ in got)  # written in order
    return torch.cat([chunk for _, chunk in got])
