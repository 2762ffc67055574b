"""Human-specific fine-tuning (the official `imgspecific_ft` recipe): teach a DisCo model one person.

- `trainable`: which tensors train (`official`, `crossattn-kv`, `lora`), including the official `nets.0` quirk.
- `lora`: small hand-written LoRA adapters on the UNet's attention projections.
- `objective`: the official noise-prediction loss of one batch (`forward_train_multicontrol`).
- `optim`: the official AdamW and warm-up/linear-decay learning-rate schedule.
- `data`: frames of the person -> (reference, target, pose, background) samples with the official augmentation.
- `trainer`: the loop (mixed precision, gradient checkpointing, progress, cancel, resumable state).
- `personal`: the small `.safetensors` a fine-tune produces, and applying it to its base model.
- `modes`: train/eval modes as the official code sets them (its parity run is `disco_core/parity/training.py`).
No ComfyUI imports.
"""
