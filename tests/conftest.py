"""Shared fixtures: the parity fixture carried in tests/fixtures, a tiny DisCo model built from it, the optional
real data of ../shared/data, and a one-line summary of what skipped for lack of it."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import torch

from tests.paths import HAVE_SHARED_DATA, PARITY_IMAGE, REQUIRE_SHARED_DATA, ROOT, SHARED, SHARED_DATA_REASON


def pytest_configure(config):
    config.addinivalue_line("markers", f"shared_data: {SHARED_DATA_REASON}")
    if REQUIRE_SHARED_DATA and not HAVE_SHARED_DATA:
        raise pytest.UsageError(f"DISCO_REQUIRE_SHARED_DATA=1 but {SHARED}/data or {SHARED}/reference/pose_render "
                                "is missing: CI must run the real-data tests.")


def pytest_collection_modifyitems(config, items):
    if HAVE_SHARED_DATA:
        return
    skip = pytest.mark.skip(reason=SHARED_DATA_REASON)
    for item in items:
        if "shared_data" in item.keywords:
            item.add_marker(skip)


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ")


def pytest_terminal_summary(terminalreporter):
    """One line per skip reason with its count (the real-data tests collapse into one line)."""
    reasons = Counter(_skip_reason(r) for r in terminalreporter.stats.get("skipped", []))
    for reason, count in reasons.most_common():
        terminalreporter.write_line(f"{count} skipped: {reason}")
    seconds = Counter()  # setup + call + teardown (fixtures such as the ComfyUI server included) by tests/<folder>
    for reports in terminalreporter.stats.values():
        for r in reports:
            if getattr(r, "nodeid", "").startswith("tests/") and hasattr(r, "duration"):
                seconds[r.nodeid.split("/")[1]] += r.duration
    if len(seconds) > 1:
        spent = ", ".join(f"tests/{folder} {s:.0f} s" for folder, s in sorted(seconds.items()))
        terminalreporter.write_line(f"time by folder: {spent}")


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """../shared/data (real photos and clips); tests using it skip with the one shared reason without it."""
    if not HAVE_SHARED_DATA:
        pytest.skip(SHARED_DATA_REASON)
    return SHARED / "data"


@pytest.fixture(scope="session")
def parity_image_dir() -> Path:
    return PARITY_IMAGE


@pytest.fixture(scope="session")
def parity_fixture(parity_image_dir):
    from disco_core.parity.fixtures import Fixture
    return Fixture.load(parity_image_dir)


@pytest.fixture(scope="session")
def tiny_checkpoint(parity_image_dir, tmp_path_factory) -> Path:
    """The parity fixture's official-layout weights converted into one self-describing .safetensors."""
    from disco_core import convert_checkpoint
    out = tmp_path_factory.mktemp("models") / "disco_tiny.safetensors"
    return convert_checkpoint(parity_image_dir / "weights.safetensors", out,
                              configs=parity_image_dir / "configs.json")


@pytest.fixture(scope="session")
def tiny_model(tiny_checkpoint):
    from disco_core import load_model
    return load_model(tiny_checkpoint)


@pytest.fixture
def person_inputs():
    """A synthetic portrait photo, its mask and three different pose images (fast, deterministic)."""
    g = torch.Generator().manual_seed(0)
    reference = torch.rand(1, 3, 96, 64, generator=g)
    mask = torch.zeros(1, 1, 96, 64)
    mask[..., 20:80, 20:44] = 1
    poses = torch.zeros(3, 3, 80, 60)
    for i in range(3):
        poses[i, i % 3, 10 + 10 * i:40 + 10 * i, 20:30] = 0.6
    return reference, mask, poses


# The temporal model (issue 8): its parity fixture is carried in the repository.
PARITY_TEMPORAL = ROOT / "tests" / "fixtures" / "parity" / "temporal"


@pytest.fixture(scope="session")
def parity_temporal_dir() -> Path:
    return PARITY_TEMPORAL


@pytest.fixture(scope="session")
def temporal_fixture():
    from disco_core.parity.fixtures import Fixture
    return Fixture.load(PARITY_TEMPORAL)


@pytest.fixture(scope="session")
def temporal_checkpoint(tmp_path_factory) -> Path:
    """The temporal fixture's official-layout weights converted into one self-describing .safetensors."""
    from disco_core import convert_checkpoint
    out = tmp_path_factory.mktemp("models") / "disco_temporal_tiny.safetensors"
    return convert_checkpoint(PARITY_TEMPORAL / "weights.safetensors", out, configs=PARITY_TEMPORAL / "configs.json")


@pytest.fixture(scope="session")
def temporal_model(temporal_checkpoint):
    from disco_core import load_model
    return load_model(temporal_checkpoint)
