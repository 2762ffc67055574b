"""The Ray actor: loads the model once and renders pieces of videos on it, keeping each video's encodings and the
sampler's caches (K/V of the CLIP tokens, conditioning embeddings) between calls, as the single-process path does.

Threaded (two calls at once) so that `cancel` runs while a render is under way; the render checks for it between
window batches and sampler steps, so remote work stops within one step."""
from __future__ import annotations

import os
import socket

import torch


class DiscoWorker:
    def __init__(self, source, threads: int | None = None):
        if threads:
            torch.set_num_threads(threads)
        self.source = source
        self.model = source.load()
        self.videos: dict[str, object] = {}
        self.predictors: dict[str, object] = {}
        self.cancelled: set[str] = set()

    def info(self) -> dict:
        model = self.model
        return {"is_temporal": model.is_temporal, "dtype": model.dtype, "device": str(model.device),
                "scheduler": dict(model.config.scheduler), "in_channels": model.unet.config.in_channels,
                "vae_scale_factor": model.config.vae_scale_factor, "uncond": model.config.uncond,
                "host": socket.gethostname(), "pid": os.getpid(), "threads": torch.get_num_threads()}

    def _should_cancel(self, video_id: str):
        return lambda: video_id in self.cancelled

    @torch.no_grad()
    def open_video(self, video_id: str, inputs: dict, options: dict) -> bool:
        """Encode the reference once for this video (and, temporal: prepare the window predictor)."""
        self.close_video(video_id)
        if self.model.is_temporal:
            from ..sampling.animate_temporal import TemporalVideo
            from ..sampling.windowed import WindowPredictor
            video = TemporalVideo(self.model, **inputs, **options)
            self.predictors[video_id] = WindowPredictor(self.model, video.job()).__enter__()
        else:
            from ..sampling.animate import ImageVideo
            video = ImageVideo(self.model, **inputs, **options)
        self.videos[video_id] = video
        return True

    def close_video(self, video_id: str) -> None:
        predictor = self.predictors.pop(video_id, None)
        if predictor is not None:
            predictor.__exit__(None, None, None)
        self.videos.pop(video_id, None)
        self.cancelled.discard(video_id)

    def cancel(self, video_id: str) -> None:
        self.cancelled.add(video_id)

    @torch.no_grad()
    def render_chunk(self, video_id: str, index: int) -> torch.Tensor:
        """Image model: chunk `index` of the video -> float32 frames [b, H, W, 3]."""
        return self.videos[video_id].render(index, should_cancel=self._should_cancel(video_id))

    @torch.no_grad()
    def predict(self, video_id: str, t, scaled: torch.Tensor, first: int, batch_ids: list[int]):
        """Temporal model: one step's weighted noise predictions of these contiguous window batches, in one
        call (`SegmentEps`: summed over the segment, only edge frames per window)."""
        model = self.model
        predictor = self.predictors[video_id]
        scaled = scaled.to(model.device)
        segment = predictor.predict(t, scaled, first, batch_ids, should_cancel=self._should_cancel(video_id))
        segment.body = segment.body.cpu()
        segment.head = [(index.cpu(), rows.cpu()) for index, rows in segment.head]
        return segment

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents -> float32 CPU frames [b, H, W, 3] in 0..1."""
        from ..model.encode import decode
        return decode(self.model, latents.to(self.model.device)).permute(0, 2, 3, 1).float().cpu()

    def exit_now(self) -> None:
        """End this worker's process at once, as a crash would (fault-injection for tests and drills)."""
        os._exit(1)
