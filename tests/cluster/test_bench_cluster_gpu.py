"""bench/cluster_gpu.py (run on a lent GPU) stays runnable: its CPU smoke run with the tiny model."""
from __future__ import annotations

import re
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_cluster_gpu_bench_runs_and_reports_both_paths(ray_session, capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    sys.modules.pop("cluster_gpu", None)
    import cluster_gpu
    assert cluster_gpu.main(["--model", "tiny", "--device", "cpu", "--frames", "2", "--size", "64", "--steps", "1",
                             "--frames-per-batch", "1", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    rates = [float(r) for r in re.findall(r"([\d.]+) frames/s", out)]
    assert len(rates) == 2 and all(r > 0 for r in rates), out
    assert re.search(r"overhead [+-][\d.]+ %", out) and re.search(r"1 MB there and back: [\d.]+ ms", out), out
