"""A pip install of the pack must put only `disco_core` into site-packages (ComfyUI owns `nodes`, `comfy`, ...)."""
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMFYUI_TOP_LEVEL = {"nodes", "comfy", "server", "folder_paths", "execution", "comfy_extras", "web", "tests"}


def test_wheel_contains_only_disco_core(tmp_path):
    pytest.importorskip("setuptools", reason="building the wheel needs setuptools in this environment")
    src = tmp_path / "src"  # build from a copy: setuptools writes build/ and *.egg-info next to the sources
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv*", ".git", "build", "*.egg-info", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(src)], check=True, cwd=tmp_path)
    wheel = next(tmp_path.glob("*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert top == {"disco_core"}, top
    assert not top & COMFYUI_TOP_LEVEL
    assert "disco_core/model/configs/sd_image_variations.json" in names
    assert any(n.startswith("disco_core/pose/") for n in names)
    assert "disco_core/media/reader.py" in names  # streamed video and sound
    # every subpackage ships (disco_core.fast was once left out of a hand-kept list)
    subpackages = {p.parent.relative_to(ROOT).as_posix() for p in (ROOT / "disco_core").rglob("__init__.py")}
    assert {s for s in subpackages if f"{s}/__init__.py" not in names} == set()
    assert not any("torch" in line.split(";")[0] for line in _requirements())


def _requirements():
    return [l.strip() for l in (ROOT / "requirements.txt").read_text().splitlines()
            if l.strip() and not l.startswith("#")]
