"""One small Ray session for the cluster tests (2 CPUs, no dashboard, this machine only), shut down at the end;
the workers are started once per model and shared by the tests of a module."""
from __future__ import annotations

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[cluster]')")


@pytest.fixture(scope="session")
def ray_session():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def cluster(ray_session):
    from disco_core.cluster import Cluster
    c = Cluster("local", workers=2, threads_per_worker=1)
    yield c
    c.shutdown()


@pytest.fixture
def dance():
    """A synthetic photo, its mask and 40 different pose images (fast, deterministic)."""
    import torch
    g = torch.Generator().manual_seed(3)
    reference = torch.rand(1, 3, 48, 40, generator=g)
    mask = torch.zeros(1, 1, 48, 40)
    mask[..., 8:44, 10:30] = 1
    poses = torch.rand(40, 3, 32, 32, generator=g)
    return reference, mask, poses


@pytest.fixture
def one_thread():
    """CPU float sums depend on how many threads split them: the single-process reference runs with the
    workers' thread count (1), as the equality is claimed for the same device and threads."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
