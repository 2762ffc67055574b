"""Read checkpoint tensors one at a time into memory the model owns, never keeping the file mapped.

safetensors' own loaders map the whole file and hand out views of that mapping: a tensor used as is (same dtype)
keeps the mapping alive, and every page read for a dtype conversion stays resident until then, so loading a
full-size model cost its weights plus most of the file in RSS. Here each tensor is read with plain file reads
into a fresh buffer (converted, then dropped), so loading peaks at the weights plus one tensor.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from ..errors import CheckpointError

# safetensors dtype names (https://github.com/huggingface/safetensors, format spec).
_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
           "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
           "BOOL": torch.bool}


class SafetensorsStream:
    """Header of a `.safetensors` file (validated by the caller with safetensors) plus per-tensor reads."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        with open(self.path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(n))
        self.metadata: dict[str, str] = header.pop("__metadata__", None) or {}
        self._base = 8 + n
        self._entries = header
        self._scratch: torch.Tensor | None = None

    def keys(self) -> list[str]:
        return list(self._entries)

    def meta_tensors(self) -> dict[str, torch.Tensor]:
        """Shape/dtype stand-ins on the meta device (layout detection and key checks read no data)."""
        return {k: torch.empty(e["shape"], dtype=_DTYPES[e["dtype"]], device="meta")
                for k, e in self._entries.items()}

    def read(self, key: str, f, dtype: torch.dtype | None = None) -> torch.Tensor:
        """The tensor `key` in fresh memory, cast to `dtype` if it is a float tensor (None: the file's dtype).

        `f`: this file opened 'rb' (kept open by the caller). A tensor that needs a cast is read into one reused
        scratch buffer, so the only allocations that stay are the results (no heap holes from freed reads).
        """
        entry = self._entries[key]
        begin, end = entry["data_offsets"]
        stored, shape = _DTYPES[entry["dtype"]], entry["shape"]
        cast = dtype is not None and dtype != stored and stored.is_floating_point
        if math.prod(shape) == 0:
            return torch.empty(shape, dtype=dtype if cast else stored)
        if not cast:
            raw = torch.empty(end - begin, dtype=torch.uint8)
        else:
            if self._scratch is None or self._scratch.numel() < end - begin:
                self._scratch = None
                self._scratch = torch.empty(end - begin, dtype=torch.uint8)
            raw = self._scratch[:end - begin]
        f.seek(self._base + begin)
        if f.readinto(raw.numpy()) != end - begin:
            raise CheckpointError(f"{self.path} is truncated: tensor {key} runs past the end of the file; "
                                  "download or convert it again.")
        value = raw.view(stored).reshape(shape)
        return value.to(dtype) if cast else value
