"""python -m disco_core check-parity FIXTURE_DIR [--tol 1e-4]"""
from __future__ import annotations

import sys

from ..parity.fixtures import Fixture, UnsupportedFixture
from ..parity.image import run_fixture

HELP = ("run this pack's pipeline (or, on a training fixture, one fine-tuning step) on an official-output fixture "
        "and report the relative error of every tensor")


def add_arguments(p):
    p.add_argument("fixture", help="a folder laid out as shared/reference/parity/<case>/")
    p.add_argument("--tol", type=float, default=1e-4, help="largest allowed relative error (default 1e-4)")


def _run_training_fixture(path):
    from ..parity.training import TrainFixture, run_train_fixture
    return run_train_fixture(TrainFixture.load(path))


def run(args) -> int:
    from ..parity.training import is_training_fixture
    if is_training_fixture(args.fixture):  # one training step (loss, gradients, AdamW update)
        result = _run_training_fixture(args.fixture)
    else:
        try:
            fixture = Fixture.load(args.fixture)
        except UnsupportedFixture as e:
            print(f"not supported: {e}", file=sys.stderr)
            return 3
        result = run_fixture(fixture)
    width = max(map(len, result.errors))
    for name, err in sorted(result.errors.items()):
        flag = "" if err <= args.tol else "   <-- above tolerance"
        print(f"{name:<{width}}  rel_err={err:.3e}{flag}")
    print(f"max_rel_err={result.max_rel_err:.3e}")
    return 0 if result.max_rel_err <= args.tol else 1
