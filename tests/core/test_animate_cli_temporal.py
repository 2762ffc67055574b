"""`python -m disco_core animate` with a temporal checkpoint: windows, window-step progress bar, the video."""
import numpy as np
from PIL import Image

from disco_core.cli import main
from disco_core.media.files import read_frames


def _write_inputs(folder):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (80, 60, 3), dtype=np.uint8)).save(folder / "photo.png")
    mask = np.zeros((80, 60), np.uint8)
    mask[10:70, 15:45] = 255
    Image.fromarray(mask).save(folder / "mask.png")
    poses = folder / "poses"
    poses.mkdir()
    for i in range(5):
        Image.fromarray(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(poses / f"{i:03d}.png")


def test_animate_with_a_temporal_checkpoint_in_windows(temporal_checkpoint, tmp_path, capsys):
    _write_inputs(tmp_path)
    out = tmp_path / "dance.mp4"
    code = main(["animate", "--checkpoint", str(temporal_checkpoint), "--image", str(tmp_path / "photo.png"),
                 "--mask", str(tmp_path / "mask.png"), "--poses", str(tmp_path / "poses"), "--out", str(out),
                 "--steps", "2", "--size", "64x64", "--fps", "8", "--device", "cpu", "--dtype", "fp32",
                 "--window", "4", "--overlap", "1"])
    assert code == 0
    frames, _ = read_frames(out)
    assert frames.shape == (5, 64, 64, 3)
    captured = capsys.readouterr()
    assert "4/4" in captured.err            # 2 windows (frames 0-3, 1-4) x 2 steps, counted as window-steps
    assert "5 frames 64x64" in captured.out


def test_overlap_not_below_window_is_reported(temporal_checkpoint, tmp_path, capsys):
    _write_inputs(tmp_path)
    code = main(["animate", "--checkpoint", str(temporal_checkpoint), "--image", str(tmp_path / "photo.png"),
                 "--mask", str(tmp_path / "mask.png"), "--poses", str(tmp_path / "poses"),
                 "--out", str(tmp_path / "x.mp4"), "--steps", "1", "--size", "64x64", "--device", "cpu",
                 "--dtype", "fp32", "--window", "4", "--overlap", "4"])
    assert code == 1 and "overlap must be between 0 and window - 1 = 3" in capsys.readouterr().err
