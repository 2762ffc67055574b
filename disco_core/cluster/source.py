"""What a worker loads: a checkpoint by path (read where the worker runs), its settings and personalisation."""
from __future__ import annotations

import dataclasses
import os
import socket

import torch

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclasses.dataclass(frozen=True)
class ModelSource:
    """A model as every worker builds it: same file path on every node (shared storage or a copy at the same
    place). `device` / `dtype` "auto": the worker's GPU in fp16 when it has one, else CPU fp32."""
    checkpoint: str
    configs: str | None = None
    personal: str | None = None
    uncond: str | None = None
    device: str = "auto"
    dtype: str = "auto"

    def resolve(self) -> tuple[str, torch.dtype]:
        device = self.device if self.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = self.dtype if self.dtype != "auto" else ("fp16" if device.startswith("cuda") else "fp32")
        return device, DTYPES[dtype]

    def missing_files(self) -> list[str]:
        return [p for p in (self.checkpoint, self.configs, self.personal) if p and not os.path.isfile(p)]

    def load(self):
        """Build the model here (on a worker); a file this node cannot see is a clear CheckpointError."""
        from ..errors import CheckpointError
        missing = self.missing_files()
        if missing:
            raise CheckpointError(
                f"the worker on host {socket.gethostname()} cannot read {', '.join(missing)}: every worker reads "
                "the model from the same path, so put the files on storage all nodes share (or copy them to that "
                "path on every node)")
        from ..model.checkpoint import load_model
        device, dtype = self.resolve()
        model = load_model(self.checkpoint, device=device, dtype=dtype, configs=self.configs, uncond=self.uncond)
        if self.personal:
            from ..training.personal import apply_personal, remember_base
            apply_personal(remember_base(model, self.checkpoint), self.personal)
        return model
