"""Faults: a worker that dies mid-run has its work redone (same video); cancel stops the workers' work at their
next step and leaves them ready; a cluster that cannot run the workers fails with a clear message, quickly."""
from __future__ import annotations

import time

import pytest
import torch

from disco_core import animate
from disco_core.cluster import ClusterError, ModelSource, animate_chunks_on
from disco_core.errors import Cancelled

from tests.cluster.cluster_helpers import IMAGE, TEMPORAL, _cluster_video


def _crash_one_worker_once(pool):
    """on_step: at the first report, end one worker's process from inside (os._exit) while it still works."""
    victims = []

    def on_step(info):
        if not victims:
            victims.append(pool.workers[-1])
            victims[0].actor.exit_now.remote()
            time.sleep(0.5)  # let it die with its call in flight
    return on_step, victims


def test_a_worker_killed_mid_run_still_gives_the_same_temporal_video(cluster, temporal_checkpoint, temporal_model,
                                                                      dance, one_thread):
    pool = cluster.pool(ModelSource(str(temporal_checkpoint)))
    on_step, victims = _crash_one_worker_once(pool)
    got = _cluster_video(pool, dance, on_step=on_step, **TEMPORAL)
    assert victims and victims[0] not in pool.workers  # the kill happened and was noticed
    assert torch.equal(got, animate(temporal_model, *dance, **TEMPORAL))


def test_a_worker_killed_mid_run_still_gives_the_same_image_video(cluster, tiny_checkpoint, tiny_model, dance,
                                                                  one_thread):
    reference, mask, poses = dance
    inputs = (reference, mask, poses[:9])
    pool = cluster.pool(ModelSource(str(tiny_checkpoint)))
    assert len(pool.workers) == 2  # topped up after the previous test's loss
    on_step, victims = _crash_one_worker_once(pool)
    got = _cluster_video(pool, inputs, on_step=on_step, **IMAGE)
    assert victims and victims[0] not in pool.workers
    assert torch.equal(got, animate(tiny_model, *inputs, **IMAGE))


def test_cancel_stops_the_remote_work_and_frees_the_workers(cluster, tiny_checkpoint, dance):
    pool = cluster.pool(ModelSource(str(tiny_checkpoint)))
    pids = {w.info["pid"] for w in pool.workers}
    reference, mask, poses = dance
    calls = []

    def should_cancel():  # two polls in: both workers are busy with 200-step chunks
        calls.append(1)
        return len(calls) > 2

    start = time.monotonic()
    with pytest.raises(Cancelled):
        list(animate_chunks_on(pool, reference, mask, poses[:4], height=32, width=32, num_inference_steps=200,
                               frames_per_batch=2, should_cancel=should_cancel))
    assert pool.stopped.get("cancelled") == 2 and not pool.stopped.get("killed")  # stopped within a step
    assert {w.info["pid"] for w in pool.workers} == pids and not pool.videos  # same workers, video closed
    assert time.monotonic() - start < 20
    frames = list(animate_chunks_on(pool, reference, mask, poses[:2], height=32, width=32, num_inference_steps=1,
                                    frames_per_batch=1))
    assert len(frames) == 2  # the workers render again


def test_no_worker_able_to_load_the_model_is_a_clear_error(cluster, tmp_path):
    from disco_core.cluster import Cluster
    cluster.shutdown()  # free the CPUs the shared workers hold
    c = Cluster("local", workers=1, threads_per_worker=1, load_timeout=60)
    with pytest.raises(ClusterError, match="no worker could load the model.*cannot read .*missing.safetensors"):
        c.pool(ModelSource(str(tmp_path / "missing.safetensors")))


def test_workers_the_cluster_cannot_place_fail_within_the_load_timeout(cluster, tiny_checkpoint):
    from disco_core.cluster import Cluster
    cluster.shutdown()
    c = Cluster("local", workers=1, gpus_per_worker=1, threads_per_worker=1, load_timeout=3)
    start = time.monotonic()
    with pytest.raises(ClusterError, match="no worker started within 3 s.*0 GPUs.*1 GPU"):
        c.pool(ModelSource(str(tiny_checkpoint)))
    assert time.monotonic() - start < 15
