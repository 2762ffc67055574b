"""Reproducing the official code's outputs from its parity fixtures (`../shared/reference/parity`).

- `fixtures`: reading a fixture and comparing tensors; `image` / `temporal`: a sampling run of each model variant;
  `training`: one official fine-tuning step.
"""
