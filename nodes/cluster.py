"""DisCo Cluster: where the DisCo Sampler renders, a Ray cluster (docs/cluster.md). The value is a
`disco_core.cluster.Cluster`, kept between prompts (same settings: same workers, model loaded once) and shut
down when the settings change or ComfyUI exits."""
from __future__ import annotations

import atexit
import threading

from ..disco_core.cluster.needs import INSTALL_HINT
from ..disco_core.errors import DependencyError, InputError

DISCO_CLUSTER = "DISCO_CLUSTER"
AUTO_GPUS = -1.0
_LOCK = threading.Lock()
_CURRENT: dict = {}   # settings -> Cluster: the one cluster this ComfyUI holds


def _shutdown_all() -> None:
    with _LOCK:
        for cluster in _CURRENT.values():
            cluster.shutdown()
        _CURRENT.clear()


atexit.register(_shutdown_all)


def cluster_for(address: str, workers: int, gpus_per_worker: float):
    """The kept cluster for these settings; another one is shut down first (its workers hold the devices)."""
    from ..disco_core.cluster import Cluster
    try:
        import ray  # noqa: F401
    except ImportError:
        raise DependencyError(INSTALL_HINT) from None
    key = (address.strip(), workers, None if gpus_per_worker < 0 else gpus_per_worker)
    with _LOCK:
        if key not in _CURRENT:
            for cluster in _CURRENT.values():
                cluster.shutdown()
            _CURRENT.clear()
            _CURRENT[key] = Cluster(key[0], workers, gpus_per_worker=key[2])
        return _CURRENT[key]


def _address_problem(address: str) -> str | None:
    """What is wrong with a cluster address, or None when it is one the node accepts."""
    address = address.strip()
    if address in ("local", "auto") or address.startswith("ray://"):
        return None
    return f"address {address!r} must be local, auto or ray://HOST:PORT (the head node's port, 10001)"


class DisCoCluster:
    CATEGORY = "DisCo"
    DESCRIPTION = (
        "Render with DisCo Sampler on a Ray cluster: one video split across several GPUs or machines (the same "
        "frames as on one device), and the workers keep the model between runs. Connect it to the sampler's "
        "'cluster' input. Needs Ray (pip install ray) in ComfyUI's Python; see docs/cluster.md."
    )
    RETURN_TYPES = (DISCO_CLUSTER,)
    RETURN_NAMES = ("cluster",)
    OUTPUT_TOOLTIPS = ("The cluster, for DisCo Sampler's 'cluster' input.",)
    FUNCTION = "connect"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "address": ("STRING", {"default": "local", "tooltip": (
                "local: a private Ray on this machine (one worker per GPU, or CPU workers). auto: the cluster "  # pragma: no mutate
                "this machine joined with `ray start`. ray://HOST:10001: a remote cluster's head node.")}),  # pragma: no mutate
            "workers": ("INT", {"default": 2, "min": 1, "max": 256, "tooltip": (
                "Ray workers (count), each holding the model once; a video's frames or windows are shared "  # pragma: no mutate
                "between them.")}),  # pragma: no mutate
            "gpus_per_worker": ("FLOAT", {"default": AUTO_GPUS, "min": AUTO_GPUS, "max": 8.0, "step": 0.25,
                                          "tooltip": ("GPUs each worker takes (count; fractions share a GPU). "  # pragma: no mutate
                                                      "-1 = auto: 1 when the cluster has GPUs, else CPU "  # pragma: no mutate
                                                      "workers; 0 = CPU.")}),  # pragma: no mutate
        }}

    @classmethod
    def VALIDATE_INPUTS(cls, address="local"):
        if address is None:  # linked from another node's output: known only when the graph runs (connect checks)
            return True
        return _address_problem(address) or True

    def connect(self, address="local", workers=2, gpus_per_worker=AUTO_GPUS):
        if workers < 1:
            raise InputError(f"workers must be at least 1, got {workers}")
        if _address_problem(address):
            raise InputError(_address_problem(address))
        return (cluster_for(address, workers, gpus_per_worker),)


NODE_CLASS_MAPPINGS = {"DisCoCluster": DisCoCluster}
NODE_DISPLAY_NAME_MAPPINGS = {"DisCoCluster": "DisCo Cluster"}
