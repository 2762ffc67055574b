"""Disentangle Image: person / scene split from a real photo and its DisCo mask."""
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
    small = photo_mask[:, ::4, ::4]
    _, _, _, resized = node.disentangle(photo, small)
    assert resized.shape == photo_mask.shape
    assert (resized.round() == photo_mask).float().mean() > 0.97


def test_without_mask_uses_the_builtin_segmenter_or_says_what_to_connect(node, photo, core):
    try:
        _, _, _, mask = node.disentangle(photo)
    except core.DiscoError as e:
        assert "Connect a MASK" in str(e) or "mediapipe" in str(e)
        return
    assert mask.shape == photo.shape[:3] and 0.05 < mask.mean() < 0.6


def test_not_an_image_is_an_actionable_error(node, core):
    with pytest.raises(core.InputError, match="Connect an IMAGE"):
        node.disentangle("photo.png")
