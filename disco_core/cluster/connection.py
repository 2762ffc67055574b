"""Connecting to Ray: `local` (a private Ray on this machine), `auto` (the cluster this machine belongs to) or
`ray://host:port` (a remote cluster through Ray Client), with bounded waits and errors that say what to do."""
from __future__ import annotations

import os
import socket
from pathlib import Path
import threading

from .needs import INSTALL_HINT, ClusterError, require_ray  # noqa: F401 - re-exported

CONNECT_TIMEOUT_S = 20.0   # reaching the head node
LOAD_TIMEOUT_S = 600.0     # placing the workers and loading the model on each


def _check_reachable(address: str, timeout: float) -> None:
    host_port = address.removeprefix("ray://")
    host, _, port = host_port.rpartition(":")
    if not host or not port.isdigit():
        raise ClusterError(f"cluster address {address!r} must be 'local', 'auto' or ray://HOST:PORT "
                           "(the head node's Ray Client port, 10001 by default)")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        raise ClusterError(f"cannot reach the Ray cluster at {address} within {timeout:g} s ({e}); start it with "
                           "`ray start --head` on the head node and check the host, the port (Ray Client: 10001) "
                           "and the firewall") from None


def runtime_env() -> dict | None:
    """Inside ComfyUI (the pack imported under its folder's path): let the workers import that name (alias.py)."""
    from . import alias
    prefix = alias.prefix_of(__name__)
    if prefix is None:
        return None
    root = str(Path(__file__).resolve().parents[2])
    return {"env_vars": {"PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
                         alias.PACK_NAME: prefix, alias.PACK_ROOT: root},
            "worker_process_setup_hook": "disco_core.cluster.alias.install"}


def connect(address: str, timeout: float = CONNECT_TIMEOUT_S, num_cpus: int | None = None):
    """Join (or start) Ray once per process; an existing session is reused whatever address made it."""
    ray = require_ray()
    if ray.is_initialized():
        return ray
    if address == "local":
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, configure_logging=False,
                 runtime_env=runtime_env())
        return ray
    if address.startswith("ray://"):
        _check_reachable(address, timeout)
    elif address != "auto":
        raise ClusterError(f"cluster address {address!r} must be 'local', 'auto' or ray://HOST:PORT")
    errors: list[BaseException] = []

    def init():
        try:
            ray.init(address=address, log_to_driver=False, configure_logging=False, runtime_env=runtime_env())
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    thread = threading.Thread(target=init, daemon=True)  # Ray retries a lost head for minutes; we do not wait
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise ClusterError(f"no answer from the Ray cluster at {address!r} within {timeout:g} s; check that "
                           "`ray status` works on this machine")
    if errors:
        hint = ("no Ray cluster runs on this machine: start one with `ray start --head`, or use address 'local' "
                "for a private one" if address == "auto" else "check the address and that the cluster runs")
        raise ClusterError(f"cannot join the Ray cluster at {address!r}: {errors[0]}; {hint}") from None
    return ray


class Cluster:
    """A connection and its worker pools: one pool per model, kept between renders (the ComfyUI node's value).

    address: 'local' | 'auto' | 'ray://host:port'; workers: actors per model; gpus_per_worker: None = 1 when the
    cluster has GPUs, else 0 (CPU); threads_per_worker: torch threads (and CPUs reserved) per worker, default
    this machine's cores split between the workers."""

    def __init__(self, address: str = "local", workers: int = 2, gpus_per_worker: float | None = None,
                 threads_per_worker: int | None = None, connect_timeout: float = CONNECT_TIMEOUT_S,
                 load_timeout: float = LOAD_TIMEOUT_S):
        require_ray()
        if workers < 1:
            raise ClusterError(f"workers must be at least 1, got {workers}")
        if gpus_per_worker is not None and gpus_per_worker < 0:
            raise ClusterError(f"gpus per worker must be 0 (CPU) or more, got {gpus_per_worker}")
        self.address, self.workers, self.gpus_per_worker = address, workers, gpus_per_worker
        self.threads = threads_per_worker or max(1, (os.cpu_count() or 1) // workers)
        self.connect_timeout, self.load_timeout = connect_timeout, load_timeout
        self._pools: dict = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        gpus = "auto" if self.gpus_per_worker is None else f"{self.gpus_per_worker:g}"
        return f"Cluster({self.address!r}, workers={self.workers}, gpus_per_worker={gpus})"

    def connect(self):
        return connect(self.address, self.connect_timeout,
                       num_cpus=max(os.cpu_count() or 1, self.workers * self.threads))

    def gpus(self) -> float:
        if self.gpus_per_worker is not None:
            return self.gpus_per_worker
        return 1.0 if self.connect().cluster_resources().get("GPU", 0) > 0 else 0.0

    def pool(self, source):
        """The workers for `source`, started on first use; a pool of another model is shut down first (one
        model's workers hold the devices at a time)."""
        from .pool import WorkerPool
        with self._lock:
            pool = self._pools.get(source)
            if pool is not None and pool.alive():
                pool.top_up()
                return pool
            for old in self._pools.values():
                old.shutdown()
            self._pools.clear()
            self.connect()
            pool = WorkerPool(source, self.workers, gpus=self.gpus(), threads=self.threads,
                              load_timeout=self.load_timeout)
            self._pools[source] = pool
            return pool

    def shutdown(self) -> None:
        """Stop the workers (a `local` Ray is left for the process to end; `ray.shutdown()` ends it)."""
        with self._lock:
            for pool in self._pools.values():
                pool.shutdown()
            self._pools.clear()
