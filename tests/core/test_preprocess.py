"""Preprocessing from raw images reproduces the official tensors; fit geometry for any output size."""
import pytest
import torch

from disco_core.media.images import background_input, clip_input, fit, fit_window


def _img(t):  # uint8 HWC -> float [1, 3, H, W]
    return t.permute(2, 0, 1)[None].float() / 255


def test_official_preprocessing_from_raw_images(parity_fixture):
    inp = parity_fixture.inputs
    h, w = inp["label_imgs"].shape[-2:]
    for b in range(inp["label_imgs"].shape[0]):
        image = _img(inp[f"raw_reference_image_{b}"])
        mask = inp[f"raw_reference_mask_{b}"][None, None].float() / 255
        window = fit_window(*image.shape[-2:], h, w, "official")
        clip = clip_input(image, mask, window, 32)
        bg = background_input(image, mask, window, h, w)
        pose = fit(_img(inp[f"raw_pose_frames_{b}"][0]), h, w, "official")
        assert (clip[0] - inp["reference_img"][b]).abs().max() < 1e-5
        # PIL resizes uint8, we resize floats: allow a grey level or two.
        assert (bg[0] - inp["reference_img_controlnet"][b]).abs().max() < 2 * 2.5 / 255
        assert (pose[0] - inp["cond_imgs"][b]).abs().max() < 2.5 / 255


@pytest.mark.parametrize("src,out,mode,expected", [
    ((1080, 604), (256, 256), "crop", (238, 0, 604, 604)),       # portrait photo, square output
    ((1080, 604), (384, 256), "crop", (87, 0, 906, 604)),        # portrait output keeps more of the body
    ((1080, 604), (256, 256), "pad", (0, -238, 1080, 1080)),     # pad: the whole photo, padded left/right
    ((1080, 604), (384, 256), "official", (238, 0, 604, 604)),   # official: centre square, then stretched
])
def test_fit_window(src, out, mode, expected):
    assert fit_window(*src, *out, mode) == expected


def test_pad_keeps_whole_image_and_crop_fills_frame():
    x = torch.ones(1, 1, 100, 50)
    padded = fit(x, 64, 64, "pad")
    assert padded[..., :, 32].min() > 0.999 and padded[..., 32, 0] < 0.5   # centre kept, sides padded
    assert fit(x, 64, 64, "crop").min() > 0.99
