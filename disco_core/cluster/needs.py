"""What every cluster module needs first: Ray itself, and the error for a cluster that cannot do the job."""
from __future__ import annotations

from ..errors import DependencyError, DiscoError

INSTALL_HINT = ('Ray is not installed: install it with `pip install "ray>=2.9"` (or `pip install -e ".[cluster]"` '
                "in the pack's folder) into the Python that runs DisCo, then restart it")


class ClusterError(DiscoError):
    """The cluster cannot be reached, or cannot run the workers; the message says what to do."""


def require_ray():
    try:
        import ray
    except ImportError as e:
        raise DependencyError(INSTALL_HINT) from e
    return ray
