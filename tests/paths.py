"""Where test data lives. Core tests use only `FIXTURES` (carried in the repository) and generated inputs;
tests of accuracy on real photos and clips read `SHARED_DATA` (not ours to redistribute) and skip without it."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
PARITY_IMAGE = FIXTURES / "parity" / "image"
SHARED = ROOT.parent / "shared"
SHARED_DATA = SHARED / "data"
SHARED_POSE_RENDER = SHARED / "reference" / "pose_render"  # official renders of the shared data's pose JSON
HAVE_SHARED_DATA = SHARED_DATA.is_dir() and SHARED_POSE_RENDER.is_dir()
# Every data-dependent skip uses exactly this reason, so the summary can count them on one line.
SHARED_DATA_REASON = ("needs ../shared beside the checkout (real photos/clips and the official references they "
                      "were compared with; not redistributable; CI has them): accuracy on real data")
# CI sets this: a missing ../shared/data is then an error instead of a skip.
REQUIRE_SHARED_DATA = os.environ.get("DISCO_REQUIRE_SHARED_DATA") == "1"
