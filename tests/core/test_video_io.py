"""Round trips through disco_core.media.files and clear errors on bad input."""
from pathlib import Path

import numpy as np
import pytest

from disco_core.errors import InputError
from disco_core.media.files import read_frames, write_frames, write_video

from tests.paths import SHARED, SHARED_DATA_REASON
CLIP = SHARED / "data" / "clips" / "dance_fullbody_350.webp"


def _synthetic(t=12, h=64, w=80):
    # smooth gradients that move: survive H.264 well enough to compare content
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    frames = [np.stack([(xx + 3 * i) / (w + 40), yy / h, 0.5 + 0.4 * np.sin((xx + yy) / 9 + i / 3)], -1)
              for i in range(t)]
    return (np.clip(np.stack(frames), 0, 1) * 255).astype(np.uint8)


def test_mp4_round_trip(tmp_path):
    frames = _synthetic()
    out = write_video(frames, tmp_path / "clip.mp4", fps=10)
    back, fps = read_frames(out)
    assert back.dtype == np.uint8 and back.shape == frames.shape
    assert fps == pytest.approx(10, abs=0.01)
    assert np.abs(back.astype(int) - frames).mean() < 6


def test_mp4_odd_size_is_padded_and_float_accepted(tmp_path):
    frames = _synthetic(t=5, h=63, w=77).astype(np.float32) / 255
    back, _ = read_frames(write_video(frames, tmp_path / "odd.mp4", fps=8))
    assert back.shape == (5, 64, 78, 3)


@pytest.mark.parametrize("ext", [".gif", ".webp"])
def test_animated_image_round_trip(tmp_path, ext):
    frames = _synthetic(t=6)
    back, fps = read_frames(write_video(frames, tmp_path / f"clip{ext}", fps=10))
    assert back.shape == frames.shape
    assert fps == pytest.approx(10, abs=0.5)


def test_png_folder_natural_order(tmp_path):
    frames = _synthetic(t=11)
    paths = write_frames(frames, tmp_path / "seq", prefix="f")
    assert len(paths) == 11
    # unpadded names must still come back in numeric order (f_2 before f_10)
    for i, p in enumerate(paths):
        p.rename(p.with_name(f"f_{i}.png"))
    back, fps = read_frames(tmp_path / "seq")
    assert fps is None
    np.testing.assert_array_equal(back, frames)


def test_bad_inputs_raise_input_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_frames(tmp_path / "missing.mp4")
    (tmp_path / "junk.mp4").write_bytes(b"not a video")
    with pytest.raises(InputError, match="Cannot read"):
        read_frames(tmp_path / "junk.mp4")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no images"):
        read_frames(tmp_path / "empty")
    with pytest.raises(InputError, match=r"\.mp4"):
        write_video(_synthetic(t=2), tmp_path / "x.avi", fps=8)
    with pytest.raises(InputError, match=r"\[T,H,W,3\]"):
        write_video(np.zeros((2, 8, 8), np.uint8), tmp_path / "x.mp4", fps=8)


def test_shared_webp_clip():
    if not CLIP.exists():
        pytest.skip(SHARED_DATA_REASON)
    frames, fps = read_frames(CLIP)
    assert frames.shape == (45, 350, 350, 3) and frames.dtype == np.uint8
    assert fps == pytest.approx(15, abs=0.1)
