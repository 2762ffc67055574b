"""The DisCo networks and their weights.

- `config`: the model's configuration (`DiscoConfig`) and the bundled SD image-variations configs (`configs/`).
- `networks`: `DiscoModel` on stock diffusers/transformers classes; `temporal` + `temporal_layers`: the temporal
  variant (`TemporalDiscoModel`), the same networks with DisCo's temporal layers; `build`: which class a config names.
- `checkpoint` (+ `tensor_stream`, `stored_precision`): reading and converting official checkpoints, safely, with
  weights kept at their stored precision.
- `encode`: CLIP tokens of the foreground, VAE latents of the background, decoding latents to frames.
"""
