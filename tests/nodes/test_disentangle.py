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


def test_not_an_image_and_not_a_mask_name_the_input(node, photo, core):
    with pytest.raises(core.InputError, match="^'image' must be an IMAGE tensor"):
        node.disentangle("photo.png")
    with pytest.raises(core.InputError, match="^'mask' must be a MASK"):
        node.disentangle(photo, torch.ones(2, 3, 4, 5, 6))


EMPTY_MASK = ("The person mask is empty (no pixel above 0.5){after}. LoadImage gives an all-zero 64x64 mask for "
              "images without transparency: connect a real person mask (1 = person), flip invert_mask if yours "
              "marks the background, or leave mask unconnected to use the built-in segmenter.")
NOBODY = ("The built-in segmenter found no person in the photo. Use a photo of one clearly visible person, or "
          "connect a MASK (1 = person) from a segmentation node.")


def test_empty_mask_message_says_what_to_do_and_mentions_invert_only_when_on(node, photo, core):
    h, w = photo.shape[1:3]
    with pytest.raises(core.InputError) as err:
        node.disentangle(photo, torch.zeros(1, h, w))
    assert str(err.value) == EMPTY_MASK.format(after="")
    with pytest.raises(core.InputError) as err:
        node.disentangle(photo, torch.ones(1, h, w), invert_mask=True)
    assert str(err.value) == EMPTY_MASK.format(after=", after invert_mask")
    with pytest.raises(core.InputError):  # exactly 0.5 is not "above 0.5"
        node.disentangle(photo, torch.full((1, h, w), 0.5))


def test_the_segmenters_mask_is_the_one_used(node, photo, core, monkeypatch):
    """Without a mask the built-in segmenter's mask is used as it is (here a stand-in, so no model is needed);
    when it finds nobody the message says so, not that a connected mask is empty."""
    import importlib

    segment = importlib.import_module(core.__name__ + ".pose.segment")
    h, w = photo.shape[1:3]
    found = torch.zeros(h, w)
    found[h // 4:, w // 3: 2 * w // 3] = 1
    monkeypatch.setattr(segment, "segment_person", lambda image: found.numpy().copy())
    reference, _, _, mask = node.disentangle(photo)
    assert torch.equal(mask[0], found) and torch.equal(reference.mask[0, 0], found)
    monkeypatch.setattr(segment, "segment_person", lambda image: torch.zeros(h, w).numpy())
    with pytest.raises(core.InputError) as err:
        node.disentangle(photo)
    assert str(err.value) == NOBODY


def test_missing_segmenter_message_is_the_whole_advice(node, photo, core, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "mediapipe", None)
    with pytest.raises(core.DiscoError) as err:
        node.disentangle(photo)
    message = str(err.value)
    assert message.startswith("No mask is connected and the built-in person segmenter is unavailable (")
    assert message.endswith("). Connect a MASK (1 = person) from any segmentation node, or install the pack's "
                            "'pose' extra (pip install 'mediapipe>=0.10.9,<0.10.22') and restart ComfyUI.")


def test_only_the_first_photo_and_mask_of_a_batch_are_used(node, photo, photo_mask):
    photos = torch.cat([photo, photo.flip(2)])
    masks = torch.cat([photo_mask, 1.0 - photo_mask])
    reference, fg, bg, mask = node.disentangle(photos, masks)
    assert reference.image.shape[0] == reference.mask.shape[0] == fg.shape[0] == mask.shape[0] == 1
    torch.testing.assert_close(mask, photo_mask)
