"""The fine-tuning loop: official objective and optimiser, mixed precision with fp32 master weights, gradient
checkpointing, progress with the loss, cancellation between steps, resumable state.

The base model is never modified: training runs on a copy that shares every frozen tensor with it and owns fp32
copies of the trained ones (or LoRA adapters). The result is that copy, with the trained tensors cast to the
model's dtype for sampling, plus their fp32 values for the personalisation file.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from pathlib import Path
from typing import Callable

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from ..errors import Cancelled, CheckpointError, InputError
from ..model.networks import DiscoModel
from . import lora as lora_mod
from .data import PersonFrames, SampleSource, draws_generator
from .objective import Draws, denoising_loss, latent_shape, training_scheduler
from .optim import LR, WARMUP_RATIO, learning_rate, make_optimizer, set_learning_rate
from .modes import set_official_modes
from .trainable import canonical_set, official_trainable_names

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_HALF = {"bf16": torch.bfloat16, "fp16": torch.float16}
STATE_FORMAT = "disco_finetune_state"


@dataclasses.dataclass
class FineTuneSettings:
    steps: int = 500            # the official recipe's --ft_iters
    lr: float = LR
    trainable: str = "official"
    rank: int = lora_mod.DEFAULT_RANK
    batch_size: int = 8         # official local_train_batch_size
    seed: int = 0
    height: int = 256           # the official training size
    width: int = 256
    precision: str = "auto"     # auto: autocast in the model's dtype when it is fp16/bf16, else fp32
    warmup_ratio: float = WARMUP_RATIO
    gradient_checkpointing: bool = True
    augment: bool = True

    def __post_init__(self):
        self.trainable = canonical_set(self.trainable)
        problems = []
        if self.steps < 1:
            problems.append(f"steps must be at least 1 (got {self.steps})")
        if not (0 < self.lr < 1):
            problems.append(f"lr must be between 0 and 1 (got {self.lr}); the official recipe uses 1e-3")
        if self.batch_size < 1:
            problems.append(f"batch size must be at least 1 (got {self.batch_size})")
        if self.precision not in PRECISIONS:
            problems.append(f"precision {self.precision!r} is not one of {PRECISIONS}")
        if self.height % 8 or self.width % 8 or min(self.height, self.width) < 8:
            problems.append(f"training size {self.width}x{self.height} must be a positive multiple of 8")
        if self.trainable == "lora" and self.rank < 1:
            problems.append(f"LoRA rank must be at least 1 (got {self.rank})")
        if problems:
            raise InputError("; ".join(problems))

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)


@dataclasses.dataclass
class StepReport:
    step: int        # steps done, 1-based
    total: int
    loss: float
    lr: float
    seconds: float   # wall time of this step


@dataclasses.dataclass
class FineTuneResult:
    model: DiscoModel
    trained: dict[str, torch.Tensor]   # fp32 master values of what was trained (model tensors or LoRA factors)
    settings: FineTuneSettings
    losses: list[float]


def share_weights(model: DiscoModel) -> DiscoModel:
    """A new DiscoModel whose tensors are the same storage as `model`'s (no copy). LoRA adapters are cloned."""
    with torch.device("meta"):
        copy = DiscoModel(model.config)
    copy.requires_grad_(False)  # assign keeps this flag; inference tensors (ComfyUI) refuse requires_grad=True
    state = {k: v for k, v in model.state_dict().items() if not k.startswith(lora_mod.ATTR + ".")}
    copy.load_state_dict(state, strict=True, assign=True)
    source = dict(model.named_modules())
    for name, module in copy.named_modules():  # non-persistent buffers (CLIP position_ids)
        for bname, buf in list(module.named_buffers(recurse=False)):
            if buf is not None and buf.is_meta:
                module.register_buffer(bname, getattr(source[name], bname), persistent=False)
    copy.requires_grad_(False).eval()
    if lora_mod.has_lora(model):
        import copy as _copy
        lora_mod.attach_lora(copy, _copy.deepcopy(getattr(model, lora_mod.ATTR)))
    for attr in ("base_path", "base_name", "personal_info"):
        if hasattr(model, attr):
            setattr(copy, attr, getattr(model, attr))
    return copy


def _replace_with_master(model: nn.Module, names: list[str]) -> dict[str, nn.Parameter]:
    """Give each trained tensor its own fp32 Parameter (the master weight); the shared base stays untouched."""
    out = {}
    for name in names:
        module_name, attr = name.rsplit(".", 1)
        module = model.get_submodule(module_name)
        master = nn.Parameter(getattr(module, attr).detach().to(torch.float32).clone(), requires_grad=True)
        setattr(module, attr, master)
        out[name] = master
    return out


def training_mode(fn):
    """Run `fn` with autograd available even when the caller is inside torch.inference_mode / no_grad (ComfyUI
    executes every node under inference_mode)."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with torch.inference_mode(False), torch.enable_grad():
            return fn(*args, **kwargs)
    return wrapper


def _own_inference_tensors(model: nn.Module, modules: list[nn.Module]) -> int:
    """Tensors made under inference_mode cannot be saved for backward: give the networks that backward passes
    through normal copies of such tensors (only those; normal tensors stay shared). Returns how many."""
    replaced = 0
    for root in modules:
        for module in root.modules():
            for name, p in list(module.named_parameters(recurse=False)):
                if p.is_inference():
                    setattr(module, name, nn.Parameter(p.clone(), requires_grad=p.requires_grad))
                    replaced += 1
            for name, b in list(module.named_buffers(recurse=False)):
                if b is not None and b.is_inference():
                    module.register_buffer(name, b.clone(), persistent=name not in module._non_persistent_buffers_set)
                    replaced += 1
    return replaced


def _autocast_dtype(precision: str, model_dtype: torch.dtype) -> torch.dtype | None:
    if precision in _HALF:
        return _HALF[precision]
    if model_dtype != torch.float32:
        return model_dtype  # half weights are only usable under autocast
    return None


class FineTuner:
    """Fine-tune `base` on one person. `run()` may be called once; `save_state` / `resume` make it resumable."""

    @training_mode
    def __init__(self, base: DiscoModel, person: PersonFrames, settings: FineTuneSettings | None = None, *,
                 device: str | torch.device | None = None):
        self.settings = settings or FineTuneSettings()
        if base.config.variant != "image":
            raise InputError(f"fine-tuning supports the image DisCo model (the official recipe); this is a "
                             f"{base.config.variant} model. Load an image-model checkpoint to fine-tune")
        if getattr(base, "personal_info", None) or lora_mod.has_lora(base):
            raise InputError("this model already has a personalisation applied; fine-tune its base model instead")
        s = self.settings
        self.device = torch.device(device) if device is not None else base.device
        self.model = share_weights(base)
        if getattr(base, "compute_dtype", None) is not None:
            # The base keeps its file's fp16 weights and widens them layer by layer (fast/stored_precision.py);
            # the copy has no such hooks, so it trains on weights widened once (the base stays untouched).
            for net in (self.model.unet, self.model.controlnet, self.model.vae):
                net.to(base.compute_dtype)
        if self.model.device != self.device:
            self.model.to(self.device)  # moves only the copy's references
        _own_inference_tensors(self.model, [self.model.unet, self.model.controlnet])
        self.base_dtype = base.dtype
        self.autocast = _autocast_dtype(s.precision, self.base_dtype)
        # CPU autocast does not cover fp16 matmuls: train this copy's networks in fp32 there (the base is untouched)
        self.upcast = self.device.type == "cpu" and self.autocast == torch.float16
        if self.upcast:
            for net in self._networks():
                net.to(torch.float32)
            self.autocast = None
        if s.trainable == "lora":
            adapters = lora_mod.add_lora(self.model, s.rank, generator=torch.Generator().manual_seed(s.seed))
            self.params = {k: p for k, p in lora_mod.adapters_state(adapters).items()}
            for p in self.params.values():
                p.requires_grad_(True)
        else:
            self.params = _replace_with_master(self.model, official_trainable_names(self.model, s.trainable))
        self.optimizer = make_optimizer(self.params.values(), s.lr)
        self.scaler = (torch.amp.GradScaler("cuda") if self.autocast == torch.float16 and self.device.type == "cuda"
                       else None)
        self.scheduler = training_scheduler(self.model.config.scheduler)
        self.source = SampleSource(person, s.height, s.width, self.model.config.clip_image_size, s.seed, s.augment)
        self.latent_shape = latent_shape(self.model, s.height, s.width)
        self.step = 0
        self.losses: list[float] = []

    def _networks(self):
        return self.model.unet, self.model.controlnet, self.model.refer_clip_proj, self.model.vae

    # ------------------------------------------------------------------------------------------------ loop
    def _context(self):
        if self.autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast)

    @training_mode
    def train_step(self) -> float:
        s = self.settings
        batch = self.source.batch(self.step, s.batch_size).to(self.device)
        draws = Draws.sample(s.batch_size, self.latent_shape, self.scheduler.config.num_train_timesteps,
                             draws_generator(s.seed, self.step))
        set_learning_rate(self.optimizer, learning_rate(self.step, s.steps, s.lr, s.warmup_ratio))
        self.optimizer.zero_grad(set_to_none=True)
        with self._context():
            loss = denoising_loss(self.model, batch, draws, self.scheduler)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        value = float(loss.detach())
        if value != value:  # NaN
            raise InputError(f"the loss became NaN at step {self.step + 1}; lower the learning rate or use "
                             "precision fp32/bf16")
        self.step += 1
        self.losses.append(value)
        return value

    @training_mode
    def run(self, on_step: Callable[[StepReport], None] | None = None,
            should_cancel: Callable[[], bool] | None = None, state_path: str | Path | None = None) -> FineTuneResult:
        """Train to `settings.steps`. On cancel (between steps) the state is saved to `state_path` if given."""
        s = self.settings
        set_official_modes(self.model)
        nets = [self.model.unet, *self.model.controlnet.nets]
        for net in nets:
            if s.gradient_checkpointing:
                net.enable_gradient_checkpointing()
        try:
            while self.step < s.steps:
                if should_cancel is not None and should_cancel():
                    raise Cancelled(f"fine-tuning was cancelled after {self.step} of {s.steps} steps")
                start = time.perf_counter()
                loss = self.train_step()
                lr = self.optimizer.param_groups[0]["lr"]
                if on_step is not None:
                    on_step(StepReport(self.step, s.steps, loss, lr, time.perf_counter() - start))
        except BaseException:
            if state_path is not None and self.step < s.steps:
                self.save_state(state_path)
            raise
        finally:
            for net in nets:
                if net.is_gradient_checkpointing:
                    net.disable_gradient_checkpointing()
            self.model.eval()
        return self._finish()

    def _finish(self) -> FineTuneResult:
        trained = {k: p.detach().clone() for k, p in self.params.items()}
        for name, p in self.params.items():  # cast for sampling: same dtype as the rest of the model
            p.requires_grad_(False)
            if name.startswith("lora."):
                p.data = p.data.to(self.base_dtype)
            else:
                module_name, attr = name.rsplit(".", 1)
                setattr(self.model.get_submodule(module_name), attr,
                        nn.Parameter(p.detach().to(self.base_dtype), requires_grad=False))
        if self.upcast:
            for net in self._networks():
                net.to(self.base_dtype)
            if lora_mod.has_lora(self.model):
                getattr(self.model, lora_mod.ATTR).to(self.base_dtype)
        self.model.personal_info = {"trainable": self.settings.trainable, "steps": self.step}
        return FineTuneResult(self.model, trained, self.settings, list(self.losses))

    # ----------------------------------------------------------------------------------------- resumable state
    def save_state(self, path: str | Path) -> Path:
        """Everything needed to continue: trained tensors, AdamW moments, step, losses, settings."""
        path = Path(path)
        tensors = {f"param.{k}": p.detach().float().cpu().contiguous() for k, p in self.params.items()}
        steps = {}
        for k, p in self.params.items():
            st = self.optimizer.state.get(p, {})
            if st:
                tensors[f"exp_avg.{k}"] = st["exp_avg"].float().cpu().contiguous()
                tensors[f"exp_avg_sq.{k}"] = st["exp_avg_sq"].float().cpu().contiguous()
                steps[k] = float(st["step"])
        meta = {"format": STATE_FORMAT, "settings": self.settings.to_json(), "step": str(self.step),
                "losses": json.dumps(self.losses), "adam_steps": json.dumps(steps)}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        save_file(tensors, str(tmp), metadata=meta)
        tmp.replace(path)
        return path

    @training_mode
    def resume(self, path: str | Path) -> "FineTuner":
        path = Path(path)
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
                tensors = {k: f.get_tensor(k) for k in f.keys()}
        except Exception as e:  # noqa: BLE001 - any read failure is the same problem for the user
            raise CheckpointError(f"cannot read fine-tuning state {path}: {e}") from e
        if meta.get("format") != STATE_FORMAT:
            raise CheckpointError(f"{path} is not a fine-tuning state file (made by an interrupted fine-tune)")
        saved = json.loads(meta["settings"])
        mine = dataclasses.asdict(self.settings)
        differ = {k: (saved.get(k), v) for k, v in mine.items() if saved.get(k) != v and k != "steps"}
        if differ:
            raise InputError(f"{path.name} was made with other settings {differ} (saved, now); resume with the "
                             "same settings (only --steps may change)")
        adam_steps = json.loads(meta["adam_steps"])
        with torch.no_grad():
            for k, p in self.params.items():
                p.copy_(tensors[f"param.{k}"].to(p))
                if k in adam_steps:
                    self.optimizer.state[p] = {
                        "step": torch.tensor(adam_steps[k]),
                        "exp_avg": tensors[f"exp_avg.{k}"].to(p), "exp_avg_sq": tensors[f"exp_avg_sq.{k}"].to(p)}
        self.step = int(meta["step"])
        self.losses = json.loads(meta["losses"])
        return self


def fine_tune(base: DiscoModel, person: PersonFrames, settings: FineTuneSettings | None = None, *,
              on_step=None, should_cancel=None, resume: str | Path | None = None,
              state_path: str | Path | None = None, device=None) -> FineTuneResult:
    tuner = FineTuner(base, person, settings, device=device)
    if resume is not None:
        tuner.resume(resume)
    return tuner.run(on_step=on_step, should_cancel=should_cancel, state_path=state_path)


@torch.no_grad()
def evaluation_loss(model: DiscoModel, person: PersonFrames, *, batches: int = 4, batch_size: int = 4,
                    height: int = 256, width: int = 256, seed: int = 12345) -> float:
    """Mean official loss over fixed, un-augmented batches and fixed draws: comparable before and after."""
    source = SampleSource(person, height, width, model.config.clip_image_size, seed, augment=False)
    scheduler = training_scheduler(model.config.scheduler)
    shape = latent_shape(model, height, width)
    total = 0.0
    for i in range(batches):
        draws = Draws.sample(batch_size, shape, scheduler.config.num_train_timesteps, draws_generator(seed, i))
        context = (torch.autocast(model.device.type, dtype=model.dtype) if model.dtype != torch.float32
                   else contextlib.nullcontext())
        with context:
            total += float(denoising_loss(model, source.batch(i, batch_size).to(model.device), draws, scheduler))
    return total / batches
