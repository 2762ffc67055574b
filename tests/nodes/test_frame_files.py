"""The sampler's and Temporal Smooth's IMAGE outputs live in files in the temp folder (disco_core/media/frame_file.py):
the same frames as in memory, the files gone when the outputs are dropped, none ever in a RAM-backed folder."""
import gc
import importlib
import os

import pytest
import torch

from tests.nodes.tiny_graph import tiny_graph

SAMPLE = dict(seed=3, steps=2, cfg=1.5, scheduler="ddim", width=64, height=64, fit="crop", frames_per_batch=3)


@pytest.fixture(scope="module")
def setup(pack, models_dir):
    return tiny_graph(pack, models_dir, 7)


@pytest.fixture
def folder(setup, tmp_path, monkeypatch):
    """The frame folder moved to a fresh directory, so the test sees only its own files."""
    glue = setup[-1]
    monkeypatch.setattr(glue, "temp_folder", lambda: str(tmp_path))
    return tmp_path / glue.FRAMES_SUBFOLDER


def files(folder):
    return sorted(p.name for p in folder.glob("frames_*")) if folder.is_dir() else []


def test_outputs_are_file_backed_and_the_same_frames_as_in_memory(setup, folder, monkeypatch):
    """Mutations seen failing: buffer_dir not passed by the sampler; not passed by Temporal Smooth."""
    nodes, model, reference, poses, glue = setup
    frames, fps = nodes["DisCoSampler"].sample(model, reference, poses, **SAMPLE)
    assert len(files(folder)) == 1  # the sampler's frames
    (smooth,) = nodes["DisCoTemporalSmooth"].smooth(frames, 0.6)
    (same,) = nodes["DisCoTemporalSmooth"].smooth(frames, 0.0)
    assert len(files(folder)) == 3
    assert frames.shape == (7, 64, 64, 3) and frames.dtype == torch.float32 and frames.is_contiguous()

    monkeypatch.setattr(glue, "frames_folder", lambda: None)  # what the nodes did before: frames in memory
    frames_ram, fps_ram = nodes["DisCoSampler"].sample(model, reference, poses, **SAMPLE)
    (smooth_ram,) = nodes["DisCoTemporalSmooth"].smooth(frames_ram, 0.6)
    assert len(files(folder)) == 3
    assert torch.equal(frames, frames_ram) and fps == fps_ram
    assert torch.equal(smooth, smooth_ram) and not torch.equal(smooth, frames)
    assert torch.equal(same, frames)


def test_frame_files_go_away_with_the_outputs_and_at_load(setup, folder):
    """Mutations seen failing: no weakref.finalize on the buffer; clear_folder removing every file, not only
    frames_*."""
    nodes, model, reference, poses, glue = setup
    frames, _ = nodes["DisCoSampler"].sample(model, reference, poses, **SAMPLE)
    (smooth,) = nodes["DisCoTemporalSmooth"].smooth(frames, 0.5)
    view = smooth[2:4]  # a view that outlives its tensor keeps its pages readable (the file is gone)
    expected = view.clone()
    assert len(files(folder)) == 2
    del frames, smooth
    gc.collect()
    assert files(folder) == []
    assert torch.equal(view, expected)

    (folder / "frames_left_by_a_crash.raw").write_bytes(b"x" * 16)
    (folder / "not_ours.txt").write_text("kept")
    glue.clear_frames_folder()
    assert files(folder) == [] and (folder / "not_ours.txt").is_file()


def test_a_ram_backed_folder_gets_no_files(core, tmp_path, monkeypatch):
    """Pages of a tmpfs file are shared memory that cannot be written back: no gain, so no file there.
    Mutation seen failing: the ram_backed check removed."""
    frame_file = importlib.import_module(core.__name__ + ".media.frame_file")
    monkeypatch.setattr(frame_file, "ram_backed", lambda folder: True)
    buffer = frame_file.frame_buffer((2, 4, 4, 3), str(tmp_path / "f"))
    assert buffer.shape == (2, 4, 4, 3) and files(tmp_path / "f") == []
    monkeypatch.undo()
    buffer = frame_file.frame_buffer((2, 4, 4, 3), str(tmp_path / "f"))
    assert len(files(tmp_path / "f")) == 1


def test_no_room_on_disk_keeps_the_frames_in_memory(core, tmp_path, monkeypatch):
    """A mapped file the disk cannot hold would kill ComfyUI (SIGBUS) when a frame is written: the space is
    reserved up front, and without it the frames stay in memory. Mutation seen failing: the reservation
    (posix_fallocate) replaced by a sparse ftruncate."""
    import errno

    frame_file = importlib.import_module(core.__name__ + ".media.frame_file")

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full, raising=False)
    buffer = frame_file.frame_buffer((2, 4, 4, 3), str(tmp_path / "f"))
    buffer.fill_(0.25)
    assert float(buffer.sum()) == 0.25 * 96 and files(tmp_path / "f") == []


def test_dev_shm_is_recognised_as_ram(core):
    """Mutation seen failing: tmpfs missing from RAM_FILESYSTEMS."""
    frame_file = importlib.import_module(core.__name__ + ".media.frame_file")
    if frame_file._mount_type("/dev/shm") != "tmpfs":
        pytest.skip("/dev/shm is not a tmpfs mount here")
    assert frame_file.ram_backed("/dev/shm") and frame_file.ram_backed("/dev/shm/not/made/yet")
    before = set(os.listdir("/dev/shm"))
    frame_file.frame_buffer((2, 4, 4, 3), "/dev/shm")
    assert not {n for n in set(os.listdir("/dev/shm")) - before if n.startswith(frame_file.PREFIX)}
