"""Turning a photo and poses into frames: the step loop and everything around it.

- `steps`: schedulers, the conditioning, one denoising step and the image model's step loop (`denoise`).
- `noise`: the initial noise (per frame or shared) from a seed.
- `windows` + `windowed` + `window_poses`: the temporal model's overlapping windows, their fused step loop
  (`denoise_windows`) and the poses each window reads.
- `animate` / `animate_temporal`: the whole pipeline (`animate`, `animate_chunks`) streaming frames out.
- `fast`: the exact speed-ups (K/V of the CLIP tokens once per call, cached conditioning embeddings).
- `memory`: the activation-memory estimate that sizes batches.
"""
