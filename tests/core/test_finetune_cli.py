"""`python -m disco_core finetune` writes a personalisation; `animate --personal` uses it, on its base only."""
from __future__ import annotations

import numpy as np
from PIL import Image

from disco_core.cli import main
from disco_core.media.files import read_frames
from tests.core.training_helpers import synthetic_person, tiny_base


def _write(folder, images):
    folder.mkdir()
    for i, img in enumerate(images):
        arr = (img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr).save(folder / f"{i:03d}.png")
    return folder


def test_finetune_then_animate_with_the_personalisation(tmp_path, capsys):
    base = tiny_base(tmp_path)
    person = synthetic_person(n=3)
    frames = _write(tmp_path / "frames", person.frames)
    masks = _write(tmp_path / "masks", person.masks)
    poses = _write(tmp_path / "poses", person.poses)
    out = tmp_path / "me.safetensors"
    code = main(["finetune", "--checkpoint", str(base), "--images", str(frames), "--masks", str(masks),
                 "--poses", str(poses), "--out", str(out), "--steps", "2", "--batch", "1", "--size", "32",
                 "--trainable", "lora", "--rank", "2", "--device", "cpu", "--dtype", "fp32"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert out.is_file() and "lora" in captured.out and "--personal" in captured.out
    assert "fine-tune" in captured.err and "loss=" in captured.err  # the progress bar shows the loss
    assert not (tmp_path / "me.state.safetensors").exists()

    video = tmp_path / "dance.gif"
    args = ["animate", "--checkpoint", str(base), "--image", str(frames / "000.png"), "--mask",
            str(masks / "000.png"), "--poses", str(poses), "--out", str(video), "--steps", "1", "--size", "32x32",
            "--device", "cpu", "--dtype", "fp32", "--personal", str(out)]
    assert main(args) == 0
    assert read_frames(video)[0].shape == (3, 32, 32, 3)

    from disco_core import convert_checkpoint
    other = convert_checkpoint(base, tmp_path / "other.safetensors", uncond="blank")  # another file
    args[args.index(str(base))] = str(other)
    capsys.readouterr()
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "was trained on 'disco_tiny.safetensors'" in err and "other.safetensors" in err


def test_finetune_refuses_a_bad_output_name(tmp_path, capsys):
    code = main(["finetune", "--checkpoint", "x.safetensors", "--images", str(tmp_path), "--out",
                 str(tmp_path / "me.pt")])
    assert code == 1 and "must end in .safetensors" in capsys.readouterr().err
