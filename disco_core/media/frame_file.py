"""Frame buffers in a file: a torch tensor whose pages belong to a file on disk instead of anonymous memory.

A whole song's frames as float32 are gigabytes (5,400 frames at 256x256: 4.2 GB). Mapped from a file
(MAP_SHARED), the frames written so far are page cache: the kernel writes them back and drops them when memory
is short, and reads them in again when a frame is read, so what a process must keep in RAM no longer grows with
the number of frames. To every reader it is an ordinary CPU tensor, so ComfyUI's IMAGE type and every node
downstream keep working. The file is deleted when the tensor is garbage collected; on Linux its pages go when the
last view of it does.

A RAM-backed folder (tmpfs such as /dev/shm) would gain nothing: its pages count as shared memory and cannot be
written back, so such a folder falls back to an ordinary tensor.
"""
from __future__ import annotations

import logging
import math
import os
import shutil
import tempfile
import weakref

import torch

log = logging.getLogger("DisCo")

PREFIX = "frames_"  # every buffer file starts with this; clear_folder removes only such files
RAM_FILESYSTEMS = {"tmpfs", "ramfs", "hugetlbfs"}


def _mount_type(path: str) -> str | None:
    """File system type of the mount holding `path` (Linux /proc/self/mounts; None elsewhere)."""
    try:
        with open("/proc/self/mounts") as f:
            mounts = [line.split()[1:3] for line in f]
    except OSError:
        return None
    path = os.path.realpath(path)
    best, kind = "", None
    for point, fs in mounts:
        point = point.replace("\\040", " ")
        if (path == point or path.startswith(point.rstrip("/") + "/")) and len(point) >= len(best):
            best, kind = point, fs
    return kind


def ram_backed(folder: str) -> bool:
    """True when files in `folder` live in RAM (tmpfs, ramfs): mapping them saves nothing."""
    return _mount_type(folder) in RAM_FILESYSTEMS


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:  # Windows: still mapped by a view that outlived the tensor; clear_folder removes it later
        pass


def frame_buffer(shape: tuple[int, ...], folder: str | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """An uninitialised CPU tensor of `shape`: `torch.empty` when `folder` is None (or RAM-backed, or the tensor
    is empty, or the disk has no room), else mapped from a new file `frames_*` in `folder`, its disk space
    reserved, deleted when the tensor is collected."""
    count = math.prod(shape)
    if folder is None or count == 0:
        return torch.empty(shape, dtype=dtype)
    os.makedirs(folder, exist_ok=True)
    if ram_backed(folder):
        log.warning("DisCo: %s is in RAM (tmpfs); keeping frames in memory instead of a file there", folder)
        return torch.empty(shape, dtype=dtype)
    nbytes = count * torch.empty((), dtype=dtype).element_size()
    fd, path = tempfile.mkstemp(prefix=PREFIX, suffix=".raw", dir=folder)
    try:
        try:  # reserve the disk now: a mapped file that cannot grow later kills the process (SIGBUS)
            os.posix_fallocate(fd, 0, nbytes) if hasattr(os, "posix_fallocate") else os.ftruncate(fd, nbytes)
        finally:
            os.close(fd)
        tensor = torch.from_file(path, shared=True, size=count, dtype=dtype).view(shape)
    except (OSError, RuntimeError) as e:
        _remove(path)
        log.warning("DisCo: no room for %.0f MiB of frames in %s (%s); keeping them in memory instead",
                    nbytes / 2**20, folder, e)
        return torch.empty(shape, dtype=dtype)
    weakref.finalize(tensor, _remove, path)
    return tensor


def clear_folder(folder: str) -> int:
    """Remove buffer files left in `folder` by an earlier process (crashed or killed); returns how many. Call it
    before this process makes any buffer there."""
    removed = 0
    if os.path.isdir(folder):
        for name in os.listdir(folder):
            if name.startswith(PREFIX):
                path = os.path.join(folder, name)
                shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else _remove(path)
                removed += not os.path.exists(path)
    return removed
