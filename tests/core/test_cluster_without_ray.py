"""Without Ray installed, `--ray`, `batch` and the DisCo Cluster node say how to install it (Ray is an extra)."""
from __future__ import annotations

import sys

import pytest

from disco_core.cli import main


@pytest.fixture
def no_ray(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError


def test_animate_with_ray_says_how_to_install_it(no_ray, tiny_checkpoint, tmp_path, capsys):
    from PIL import Image
    Image.new("RGB", (32, 32)).save(tmp_path / "p.png")
    code = main(["animate", "--checkpoint", str(tiny_checkpoint), "--image", str(tmp_path / "p.png"),
                 "--mask", str(tmp_path / "p.png"), "--poses", str(tmp_path), "--out", str(tmp_path / "x.mp4"),
                 "--ray", "local"])
    err = capsys.readouterr().err
    assert code == 1 and "Ray is not installed" in err and 'pip install -e ".[cluster]"' in err


def test_batch_without_ray_says_how_to_install_it(no_ray, tmp_path, capsys):
    (tmp_path / "jobs.jsonl").write_text('{"image": "p.png", "poses": "poses"}\n')
    code = main(["batch", str(tmp_path / "jobs.jsonl"), "--out", str(tmp_path / "out"), "--ray", "local"])
    assert code == 1 and "pip install" in capsys.readouterr().err
