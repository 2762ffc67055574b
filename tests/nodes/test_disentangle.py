"""Disentangle Image: person / scene split of a photo with a mask, the built-in segmenter, errors."""
import pytest
import torch


@pytest.fixture
def node(pack):
    return pack.NODE_CLASS_MAPPINGS["DisCoDisentangleImage"]()


def test_split_with_a_mask(node, photo, photo_mask):
    reference, fg, bg, mask = node.disentangle(photo, photo_mask)
    h, w = photo.shape[1:3]
    assert reference.image.shape == (1, 3, h, w) and reference.mask.shape == (1, 1, h, w)
    assert fg.shape == bg.shape == (1, h, w, 3) and mask.shape == (1, h, w)
    torch.testing.assert_close(fg + bg, photo)  # a hard mask splits the photo exactly
    person = mask[0] > 0.5
    assert fg[0][~person].abs().max() == 0 and bg[0][person].abs().max() == 0
    assert 0.05 < mask.mean() < 0.6


def test_invert_and_resized_masks(node, photo, photo_mask):
    _, _, _, inverted = node.disentangle(photo, 1.0 - photo_mask, invert_mask=True)
    torch.testing.assert_close(inverted, photo_mask)
    small = photo_mask[:, ::2, ::2]
    _, _, _, resized = node.disentangle(photo, small)
    assert resized.shape == photo_mask.shape
    assert (resized.round() == photo_mask).float().mean() > 0.97


@pytest.mark.shared_data
def test_without_mask_the_builtin_segmenter_finds_the_person(node, real_photo, shared_data):
    """Mutation that must fail: `_segment` returning an all-ones (or all-zero) mask, or raising."""
    pytest.importorskip("mediapipe", reason='needs mediapipe: pip install "comfyui-disco[pose]"')
    from conftest import mask_tensor

    truth = mask_tensor(shared_data / "disco_demo" / "masks" / "00035.png")[0] > 0.5
    reference, fg, bg, mask = node.disentangle(real_photo)
    assert mask.shape == real_photo.shape[:3] and reference.mask.shape == (1, 1, *real_photo.shape[1:3])
    pred = mask[0] > 0.5
    assert (pred & truth).sum() / (pred | truth).sum() >= 0.9


def test_without_mask_and_without_mediapipe_says_what_to_connect(node, photo, core, monkeypatch):
    """Mutation that must fail: dropping the 'Connect a MASK' advice from the missing-segmenter error."""
    import sys

    monkeypatch.setitem(sys.modules, "mediapipe", None)  # import mediapipe -> ImportError
    with pytest.raises(core.DiscoError, match="Connect a MASK") as err:
        node.disentangle(photo)
    assert "mediapipe" in str(err.value)


def test_not_an_image_is_an_actionable_error(node, core):
    with pytest.raises(core.InputError, match="Connect an IMAGE"):
        node.disentangle("photo.png")
