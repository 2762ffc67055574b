"""Built-in person mask against DisCo's Grounded-SAM masks in ../shared/data."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from disco_core.errors import InputError
from disco_core.pose.segment import refine_mask, segment_person

from tests.paths import HAVE_SHARED_DATA, SHARED_DATA, SHARED_DATA_REASON

DATA = SHARED_DATA


def _pairs():
    if not HAVE_SHARED_DATA:
        return [pytest.param(None, marks=pytest.mark.skip(reason=SHARED_DATA_REASON))]
    pairs = [(DATA / "disco_demo" / "images" / m.name, m) for m in sorted((DATA / "disco_demo" / "masks").glob("*.png"))]
    for seq in sorted((DATA / "sequences").iterdir()):
        pairs += [(seq / "frames" / m.name, m) for m in sorted((seq / "masks").glob("*.png"))]
    return [pytest.param(p, id=f"{p[1].parent.parent.name}-{p[1].stem}") for p in pairs]


@pytest.mark.parametrize("pair", _pairs())
def test_mask_iou_on_real_images(pair):
    pytest.importorskip("mediapipe", reason='needs mediapipe: pip install "comfyui-disco[pose]"')
    image_path, mask_path = pair
    img = np.asarray(Image.open(image_path).convert("RGB"))
    gt = np.asarray(Image.open(mask_path).convert("L")) > 0  # 0/255 for disco_demo, 0/1 for sequences
    mask = segment_person(img)
    assert mask.shape == gt.shape and mask.dtype == np.float32
    assert set(np.unique(mask)) <= {0.0, 1.0}
    pred = mask > 0.5
    iou = (pred & gt).sum() / (pred | gt).sum()
    assert iou >= 0.94, f"IoU {iou:.3f}"  # README: 0.942-0.981 over these 21 images


def test_no_person_mask_is_mostly_empty():
    pytest.importorskip("mediapipe")
    mask = segment_person(np.full((120, 90, 3), 30, np.uint8))
    assert mask.shape == (120, 90) and mask.mean() < 0.05


def test_dilate_and_feather_in_pixels():
    m = np.zeros((101, 101), np.float32)
    m[40:61, 40:61] = 1
    grown = refine_mask(m, dilate=5)
    assert grown[35, 50] == 1 and grown[34, 50] == 0 and grown[50, 50] == 1
    shrunk = refine_mask(m, dilate=-5)
    assert shrunk[45, 50] == 1 and shrunk[44, 50] == 0
    soft = refine_mask(m * 255, feather=6)  # 0/255 input is understood
    assert 0.3 < soft[40, 50] < 0.7 and soft[50, 50] > 0.99 and soft[20, 50] < 0.01
    assert np.array_equal(refine_mask(m), m)
    with pytest.raises(InputError):
        refine_mask(m, feather=-1)
