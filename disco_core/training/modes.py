"""The modules' train/eval modes during fine-tuning, as the official train() sets them."""


def set_official_modes(model) -> None:
    """Official train(): everything in train mode, then VAE and CLIP back to eval (all dropouts are p = 0)."""
    model.train()
    model.vae.eval()
    model.clip_image_encoder.eval()
