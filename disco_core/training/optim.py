"""The official optimiser and learning-rate schedule of DisCo fine-tuning (finetune_sdm_yaml.py, agent.py).

AdamW(lr, betas (0.9, 0.98), eps 1e-8, weight_decay 1e-3) in one group (decay on biases and norms too), and
`WarmupLinearLR`: lr rises linearly from 0 over the first `warmup_ratio` of the steps, then falls linearly to 0
at the end, never below 1e-8. The official run uses warmup_ratio 0.1: `--warmup_ratio` defaults to 0.1 in
utils/args.py, which wins over the 0.05 fallback in finetune_sdm_yaml.py (the fixture's net_args record 0.1).
Like the official scheduler (stepped once in its constructor), the very first update uses lr = 1e-8.
"""
from __future__ import annotations

import torch

LR = 1e-3            # the README's human-specific fine-tuning command
BETAS = (0.9, 0.98)
EPS = 1e-8
WEIGHT_DECAY = 1e-3  # --decay default
WARMUP_RATIO = 0.1
MIN_LR = 1e-8


def make_optimizer(params, lr: float = LR, weight_decay: float = WEIGHT_DECAY) -> torch.optim.AdamW:
    return torch.optim.AdamW(list(params), lr=lr, betas=BETAS, eps=EPS, weight_decay=weight_decay,
                             foreach=False)


def lr_factor(step: int, total_steps: int, warmup_ratio: float = WARMUP_RATIO) -> float:
    """Multiplier of the base lr for optimiser update `step` (0-based) of a `total_steps` run.

    The official schedule is built with max_iter = iterations + 1 and warmup_iters = int(ratio * max_iter).
    """
    max_iter = total_steps + 1
    warmup = int(warmup_ratio * max_iter)
    if step < warmup:
        return max(0.0, step / warmup)
    step = min(step, max_iter)
    return max(0.0, (max_iter - step) / (max_iter - warmup))


def learning_rate(step: int, total_steps: int, base_lr: float, warmup_ratio: float = WARMUP_RATIO) -> float:
    return max(MIN_LR, base_lr * lr_factor(step, total_steps, warmup_ratio))


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
