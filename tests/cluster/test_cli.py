"""`animate --ray` writes the same frames as a local run; `batch` renders a jobs file with a broken job, reports
it, goes on, and resumes; without a reachable cluster the command ends quickly with what to do."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from disco_core.cli import main
from tests.paths import ROOT
from tests.synthetic_inputs import write_demo_files

N_POSES = 5


@pytest.fixture
def demo(tmp_path):
    write_demo_files(tmp_path, N_POSES)
    return tmp_path


def _pngs(folder):
    return np.stack([np.asarray(Image.open(p)) for p in sorted(folder.glob("*.png"))])


def test_animate_on_ray_writes_the_frames_of_a_local_run(ray_session, tiny_checkpoint, demo, tmp_path, capsys,
                                                         one_thread):
    common = ["animate", "--checkpoint", str(tiny_checkpoint), "--image", str(demo / "photo.png"),
              "--mask", str(demo / "mask.png"), "--poses", str(demo / "pose_img"), "--steps", "2",
              "--size", "32x32", "--frames-per-batch", "2"]
    assert main(common + ["--out", str(tmp_path / "local.gif"), "--frames-dir", str(tmp_path / "local")]) == 0
    assert main(common + ["--out", str(tmp_path / "ray.mp4"), "--frames-dir", str(tmp_path / "ray"),
                          "--ray", "local", "--workers", "2", "--threads-per-worker", "1"]) == 0
    assert f"{N_POSES} frames 32x32" in capsys.readouterr().out
    local, remote = _pngs(tmp_path / "local"), _pngs(tmp_path / "ray")
    assert local.shape == (N_POSES, 32, 32, 3) and np.array_equal(local, remote)
    assert (tmp_path / "ray.mp4").stat().st_size > 0


def test_cluster_flags_need_ray(tiny_checkpoint, demo, tmp_path, capsys):
    code = main(["animate", "--checkpoint", str(tiny_checkpoint), "--image", str(demo / "photo.png"),
                 "--poses", str(demo / "pose_img"), "--out", str(tmp_path / "x.mp4"), "--workers", "4"])
    assert code == 1 and "--workers needs --ray" in capsys.readouterr().err


def test_an_unreachable_cluster_ends_quickly_with_what_to_do(tiny_checkpoint, demo, tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "disco_core", "animate", "--checkpoint", str(tiny_checkpoint),
                           "--image", str(demo / "photo.png"), "--mask", str(demo / "mask.png"),
                           "--poses", str(demo / "pose_img"), "--out", str(tmp_path / "x.mp4"),
                           "--ray", f"ray://127.0.0.1:{port}"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1
    assert f"cannot reach the Ray cluster at ray://127.0.0.1:{port}" in done.stderr
    assert "ray start --head" in done.stderr
    assert time.monotonic() - start < 60


def test_batch_reports_a_broken_job_goes_on_and_resumes(ray_session, tiny_checkpoint, demo, tmp_path, capsys):
    jobs = tmp_path / "jobs.jsonl"
    good = {"image": "photo.png", "mask": "mask.png", "poses": "pose_img", "steps": 1, "size": "32x32"}
    jobs.write_text("\n".join(json.dumps(j) for j in (
        {**good, "out": "a.mp4"},
        {**good, "image": "no_such_photo.png", "out": "broken.mp4"},
        {**good, "out": "b.gif", "max_frames": 2},
    )) + "\n")
    out = tmp_path / "videos"
    argv = ["batch", str(jobs), "--out", str(out), "--checkpoint", str(tiny_checkpoint), "--ray", "local",
            "--workers", "2", "--threads-per-worker", "1"]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert "2 done, 0 already complete (skipped), 1 failed, of 3 jobs" in captured.out
    assert "line 2 (broken.mp4): cannot read image" in captured.out and "no_such_photo.png" in captured.out
    assert "3/3" in captured.err  # the progress bar over all jobs
    assert sorted(p.name for p in out.iterdir()) == ["a.mp4", "b.gif"]  # no partial file left
    (tmp_path / "no_such_photo.png").write_bytes((demo / "photo.png").read_bytes())
    assert main(argv) == 0
    assert "1 done, 2 already complete (skipped), 0 failed" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["a.mp4", "b.gif", "broken.mp4"]


def test_cluster_flags_reach_the_cluster(monkeypatch):
    """--ray, --workers, --gpus-per-worker and --threads-per-worker each reach the Cluster the command starts (the
    frames cannot tell: a cluster renders the same frames as one process)."""
    import argparse

    import disco_core.cluster
    from disco_core.commands import animate

    made = []
    monkeypatch.setattr(disco_core.cluster, "Cluster", lambda *a, **kw: made.append((a, kw)) or "cluster")
    parser = argparse.ArgumentParser()
    animate.add_arguments(parser)
    base = ["--checkpoint", "c", "--image", "i", "--out", "o.mp4"]
    assert animate.make_cluster(parser.parse_args(base)) is None and made == []
    animate.make_cluster(parser.parse_args(base + ["--ray", "ray://10.0.0.1:10001", "--workers", "5",
                                                   "--gpus-per-worker", "0.5", "--threads-per-worker", "3"]))
    assert made == [(("ray://10.0.0.1:10001", 5), {"gpus_per_worker": 0.5, "threads_per_worker": 3})]
