"""Rendering on a Ray cluster: one long video across many workers (GPUs, hosts), and many videos at once.

`Cluster(address, workers, gpus_per_worker)` connects (or starts a private Ray with `local`) and keeps one pool
of workers per model (`pool.py`); each worker is a Ray actor that loads the model once (`worker.py`).
`animate_chunks_on(pool, ...)` renders one video exactly as `disco_core.animate_chunks` does (`image.py`: frame
chunks handed out dynamically; `temporal.py`: the driver runs the step loop, workers predict window noise).
Ray is optional: `pip install -e ".[cluster]"`; without it every entry point says so (`require_ray`).
"""
from .connection import Cluster, ClusterError, require_ray
from .source import ModelSource

__all__ = ["Cluster", "ClusterError", "ModelSource", "require_ray", "animate_chunks_on"]


def __getattr__(name):
    if name == "animate_chunks_on":
        from .animate import animate_chunks_on
        return animate_chunks_on
    raise AttributeError(name)
