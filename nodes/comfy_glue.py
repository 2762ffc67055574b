"""The one module that knows ComfyUI: model folder, devices, memory manager, progress, interrupt, tensor layouts.

Every other node file talks to ComfyUI only through these functions. When ComfyUI cannot be imported (plain
Python, unit tests) they fall back to plain torch: progress and interrupt become no-ops, the device comes from
torch, and the model folder is `$DISCO_MODELS_DIR` (os.pathsep-separated) or `./models/disco`.
"""
from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path
from typing import Callable

import torch

from ..disco_core import errors
from ..disco_core.errors import CheckpointError, InputError

log = logging.getLogger("DisCo")

MODEL_FOLDER = "disco"  # ComfyUI/models/disco, or a `disco:` entry in extra_model_paths.yaml
CHECKPOINT_EXTENSIONS = {".safetensors", ".sft", ".pt", ".pth", ".ckpt"}
WEIGHTS_HELP = (
    "Get an official DisCo checkpoint (mp_rank_00_model_states.pt, e.g. the 'moretiktok_cfg' fine-tune) from the "
    "links in https://github.com/Wangt-CN/DisCo#model-zoo, then either put the .pt file there as it is or convert "
    "it once with `python -m disco_core convert mp_rank_00_model_states.pt <folder>/disco_moretiktok_cfg.safetensors` "
    "(smaller, loads faster, no pickle)."
)
PERSONAL_FOLDER = "personal"  # models/disco/personal: fine-tuned personalisations
PREVIEW_MAX_SIZE = 512  # px, longest side of the step previews sent to the browser

IN_COMFYUI = importlib.util.find_spec("comfy") is not None and importlib.util.find_spec("folder_paths") is not None
if IN_COMFYUI:
    import comfy.model_management as mm
    import comfy.model_patcher
    import comfy.utils
    import folder_paths


# ----------------------------------------------------------------------------------------------- model folder
def register_model_folder() -> None:
    """Add `models/disco` to ComfyUI's folders, keeping paths that extra_model_paths.yaml already gave it."""
    if not IN_COMFYUI:
        return
    folder_paths.add_model_folder_path(MODEL_FOLDER, os.path.join(folder_paths.models_dir, MODEL_FOLDER))
    paths, _ = folder_paths.folder_names_and_paths[MODEL_FOLDER]
    folder_paths.folder_names_and_paths[MODEL_FOLDER] = (paths, set(CHECKPOINT_EXTENSIONS))


def model_folders() -> list[str]:
    if IN_COMFYUI:
        return list(folder_paths.get_folder_paths(MODEL_FOLDER))
    env = os.environ.get("DISCO_MODELS_DIR")
    return [p for p in env.split(os.pathsep) if p] if env else [str(Path("models") / MODEL_FOLDER)]


def temp_folder() -> str:
    """Where canvas previews go: ComfyUI's temp folder (served by /view?type=temp, emptied at start-up);
    outside ComfyUI the system temp folder."""
    if IN_COMFYUI:
        return folder_paths.get_temp_directory()
    import tempfile

    return os.path.join(tempfile.gettempdir(), "disco")


FRAMES_SUBFOLDER = "disco_frames"  # the temp folder's subfolder for file-backed IMAGE outputs


def frames_folder() -> str:
    """Where the sampler's and Temporal Smooth's IMAGE frames live (files mapped as tensors, frame_file.py):
    the temp folder's disco_frames/, deleted with the outputs, emptied when the pack loads."""
    return os.path.join(temp_folder(), FRAMES_SUBFOLDER)


def clear_frames_folder() -> None:
    """Remove frame files a crashed or killed ComfyUI left behind (ComfyUI also empties temp/ at start-up)."""
    from ..disco_core.media.frame_file import clear_folder

    removed = clear_folder(frames_folder())
    if removed:
        log.info("DisCo: removed %d frame file(s) left in %s by an earlier run", removed, frames_folder())


def annotator_folder() -> str:
    """Where the optional openpose / dwpose detector weights go: models/disco/annotators."""
    return os.path.join(model_folders()[0], "annotators")


def _is_checkpoint_name(name: str) -> bool:
    """False for personalisations (personal/...) and the pose detectors' weights (annotators/, any depth)."""
    parts = name.replace("\\", "/").split("/")
    return parts[0] != PERSONAL_FOLDER and "annotators" not in parts


def list_checkpoints() -> list[str]:
    """Checkpoint file names (relative to their model folder), sorted; personalisations (personal/) and the
    pose detectors' weights (annotators/) excluded."""
    if IN_COMFYUI:
        return [n for n in folder_paths.get_filename_list(MODEL_FOLDER) if _is_checkpoint_name(n)]
    names = set()
    for folder in model_folders():
        root = Path(folder)
        if root.is_dir():
            names.update(p.relative_to(root).as_posix() for p in root.rglob("*")
                         if p.is_file() and p.suffix.lower() in CHECKPOINT_EXTENSIONS
                         and _is_checkpoint_name(p.relative_to(root).as_posix()))
    return sorted(names)


def list_personalisations() -> list[str]:
    """Personalisation files (models/disco/personal/*.safetensors), names relative to that folder, sorted."""
    names = set()
    for folder in model_folders():
        root = Path(folder) / PERSONAL_FOLDER
        if root.is_dir():
            names.update(p.relative_to(root).as_posix() for p in root.rglob("*.safetensors") if p.is_file())
    return sorted(names)


def personal_path(name: str, must_exist: bool = True) -> str:
    """Where personalisation `name` is (or, with must_exist=False, will be written: the first model folder)."""
    name = name if name.endswith(".safetensors") else name + ".safetensors"
    if must_exist:
        for folder in model_folders():
            path = Path(folder) / PERSONAL_FOLDER / name
            if path.is_file():
                return str(path)
        raise CheckpointError(f"personalisation '{name}' was not found in {PERSONAL_FOLDER}/ of the 'disco' model "
                              f"folder ({', '.join(model_folders())}); run DisCo Fine-Tune to make one, then refresh "
                              "the browser (press R).")
    parts = Path(name).parts
    if Path(name).is_absolute() or ".." in parts:
        raise InputError(f"save name '{name}' must be a plain name like 'my_person', inside the personal folder")
    return str(Path(model_folders()[0]) / PERSONAL_FOLDER / name)


def missing_checkpoint_message(name: str | None) -> str:
    folders = ", ".join(model_folders()) or f"models/{MODEL_FOLDER}"
    found = list_checkpoints()
    what = f"DisCo checkpoint '{name}' was not found" if name else "No DisCo checkpoint was found"
    have = f" Files there now: {', '.join(found[:10])}." if found else " The folder is empty."
    return (f"{what} in the '{MODEL_FOLDER}' model folder ({folders}).{have} Expected a .safetensors file made by "
            f"`python -m disco_core convert` or an official DisCo .pt checkpoint. {WEIGHTS_HELP} Then refresh the "
            f"browser (press R) so the list updates.")


def checkpoint_path(name: str) -> str:
    """Full path of a checkpoint listed by `list_checkpoints`; a CheckpointError that says what to do otherwise."""
    if not name:
        raise CheckpointError(missing_checkpoint_message(None))
    if IN_COMFYUI:
        path = folder_paths.get_full_path(MODEL_FOLDER, name)
    else:
        path = next((str(Path(f) / name) for f in model_folders() if (Path(f) / name).is_file()), None)
    if path is None or not os.path.isfile(path):
        raise CheckpointError(missing_checkpoint_message(name))
    return path


# ------------------------------------------------------------------------------------------------ error names
def short_error_names() -> None:
    """ComfyUI's error dialog names a node error `module.QualName` (execution.full_type_name), and this pack's
    module path starts with its folder: `comfyui-disco.disco_core.errors.InputError`. Only builtins' errors are
    named bare there, so inside ComfyUI the pack's error classes say they are builtins: the dialog (and Python's
    traceback) shows `InputError`. Plain pickle can no longer find them by that name, but nothing in ComfyUI
    pickles them, and Ray's cloudpickle (the cluster path) copies such a class by value, a subclass of the real
    DiscoError (tests/nodes/test_error_names.py); Ray workers import the pack without this call."""
    if not IN_COMFYUI:
        return
    for cls in vars(errors).values():
        if isinstance(cls, type) and issubclass(cls, errors.DiscoError):
            cls.__module__ = "builtins"


# ------------------------------------------------------------------------------------------ devices and dtypes
def torch_device() -> torch.device:
    if IN_COMFYUI:
        return mm.get_torch_device()
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def offload_device() -> torch.device:
    return mm.unet_offload_device() if IN_COMFYUI else torch.device("cpu")


DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}


def resolve_dtype(choice: str, device: torch.device | None = None) -> torch.dtype:
    """'auto' -> what ComfyUI picks for a UNet on this device (fp32 on CPU, fp16/bf16 on GPUs)."""
    if choice in DTYPES:
        return DTYPES[choice]
    if choice != "auto":
        raise InputError(f"dtype '{choice}' is not one of auto, {', '.join(DTYPES)}. Pick one of those.")
    device = device or torch_device()
    if IN_COMFYUI:
        picked = mm.unet_dtype(device=device, supported_dtypes=[torch.float16, torch.bfloat16, torch.float32])
        return picked if picked in DTYPES.values() else torch.float16
    return torch.float16 if device.type == "cuda" else torch.float32


# ------------------------------------------------------------------------------------------- memory manager
class _PatcherRoot(torch.nn.Module):
    """What the ModelPatcher holds: ComfyUI writes bookkeeping attributes (`device`, ...) on its module, and
    DiscoModel.device is a read-only property, so the model sits one level down."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.disco = model


class ManagedModel:
    """The DISCO_MODEL value: a DiscoModel plus the ComfyUI ModelPatcher that moves it on and off the GPU.

    The weights rest on the offload device; `ready()` asks ComfyUI's memory manager for room (evicting other
    models) and returns the device to run on. Other nodes' models later evict this one the same way.
    """

    def __init__(self, model: torch.nn.Module, name: str = ""):
        self.model = model
        self.name = name
        self.load_device = torch_device()
        self.patcher = None
        if IN_COMFYUI:
            self.patcher = comfy.model_patcher.ModelPatcher(_PatcherRoot(model), load_device=self.load_device,
                                                            offload_device=offload_device())

    def ready(self, memory_required: int = 0) -> torch.device:
        if self.patcher is not None:
            # Plain torch layers cannot be partially loaded (only comfy.ops layers can), so load all of it.
            mm.load_models_gpu([self.patcher], memory_required=memory_required, force_full_load=True)
        else:
            self.model.to(self.load_device)
        return self.load_device

    def __repr__(self) -> str:  # shown in ComfyUI error reports as the input value
        return f"DisCoModel({self.name or 'unnamed'}, dtype={getattr(self.model, 'dtype', '?')})"


# --------------------------------------------------------------------------------------- progress, interrupt
def raise_if_interrupted() -> bool:
    """ComfyUI's Cancel button: raises its InterruptProcessingException (so the run shows as interrupted, not
    failed). Returns False otherwise, so it also serves as the core's `should_cancel` check."""
    if IN_COMFYUI:
        mm.throw_exception_if_processing_interrupted()
    return False


def _preview_image(preview):
    if preview is None:
        return None
    from PIL import Image

    array = (preview.detach().float().clamp(0, 1).cpu().numpy() * 255).round().astype("uint8")
    return ("JPEG", Image.fromarray(array), PREVIEW_MAX_SIZE)


def preview_method() -> str:
    """ComfyUI's --preview-method: 'none' (its default), 'auto', 'latent2rgb' or 'taesd'; 'none' outside it."""
    if not IN_COMFYUI:
        return "none"
    from comfy.cli_args import args

    method = getattr(args, "preview_method", None)
    return str(getattr(method, "value", method) or "none")


def latent_previewer():
    """ComfyUI's own step previewer for DisCo's latents (Stable Diffusion's VAE, so the SD1.5 latent format):
    a latent-to-RGB projection for 'auto'/'latent2rgb', TAESD when asked for and installed; None for 'none'."""
    if preview_method() == "none":
        return None
    import comfy.latent_formats
    import latent_preview

    return latent_preview.get_previewer(torch_device(), comfy.latent_formats.SD15())


def _latent_preview(previewer, info):
    x0 = info.x0 if info.x0 is not None else info.latents
    return previewer.decode_latent_to_preview_image("JPEG", x0[:1] if x0.ndim == 4 else x0)


def progress(total: int, node_id: str | None = None) -> Callable:
    """An `on_step(info)` callback for the core: ComfyUI progress bar + step preview + interrupt point.

    Previews follow --preview-method: nothing is computed for 'none'; otherwise ComfyUI's previewer projects
    the step's x0 latents to RGB (no VAE decode)."""
    bar = comfy.utils.ProgressBar(total, node_id=node_id) if IN_COMFYUI else None
    previewer = latent_previewer() if bar is not None else None

    def on_step(info) -> None:
        raise_if_interrupted()
        if bar is not None:
            preview = _preview_image(getattr(info, "preview", None))
            if previewer is not None and preview is None:
                preview = _latent_preview(previewer, info)
            bar.update_absolute(info.done, info.total, preview)

    return on_step


def training_progress(total: int, node_id: str | None = None) -> Callable:
    """`on_step(report)` for fine-tuning: progress bar, the loss as text under the node, a live loss-curve
    preview, and an interrupt point."""
    bar = comfy.utils.ProgressBar(total, node_id=node_id) if IN_COMFYUI else None
    losses: list[float] = []

    def on_step(report) -> None:
        raise_if_interrupted()
        losses.append(report.loss)
        if bar is None:
            return
        preview = None
        if report.step == report.total or report.step % max(1, report.total // 20) == 0:
            from PIL import Image
            from ..disco_core.training.plot import loss_curve_image
            preview = ("JPEG", Image.fromarray(loss_curve_image(losses, report.total)), PREVIEW_MAX_SIZE)
        bar.update_absolute(report.step, report.total, preview)
        _progress_text(f"step {report.step}/{report.total}  loss {report.loss:.4f}", node_id)

    return on_step


def _progress_text(text: str, node_id: str | None) -> None:
    if not IN_COMFYUI or node_id is None:
        return
    try:
        from server import PromptServer
        PromptServer.instance.send_progress_text(text, node_id)
    except Exception:  # noqa: BLE001 - older ComfyUI without progress text: the bar still moves
        pass


def preview_every(steps: int) -> int:
    """Steps between the core's VAE-decoded previews: none for the nodes, whose previews are the cheap latent
    projection of `progress` (ComfyUI's --preview-method decides whether there are any)."""
    return 0


def simple_progress(total: int, node_id: str | None = None) -> Callable[[int], None]:
    """`update(done)` for loops without previews (pose detection, smoothing); also an interrupt point."""
    bar = comfy.utils.ProgressBar(total, node_id=node_id) if IN_COMFYUI else None

    def update(done: int, new_total: int | None = None) -> None:
        raise_if_interrupted()
        if bar is not None:
            bar.update_absolute(done, new_total)

    return update


# ---------------------------------------------------------------------------------------------- tensor layouts
def image_rgb(image: torch.Tensor, name: str = "image") -> torch.Tensor:
    """ComfyUI IMAGE [B,H,W,C] -> [B,H,W,3]: alpha dropped (C=4, or grey+alpha C=2), grey repeated (C=1).
    An empty batch or a non-image is an InputError that names the input."""
    if not isinstance(image, torch.Tensor) or image.ndim not in (3, 4):
        raise InputError(f"'{name}' must be an IMAGE tensor [batch, height, width, 3]; got "
                         f"{type(image).__name__} {tuple(getattr(image, 'shape', ()))}. Connect an IMAGE output.")
    if image.ndim == 3:
        image = image[None]
    if image.shape[-1] not in (1, 2, 3, 4):
        raise InputError(f"'{name}' has {image.shape[-1]} channels; expected RGB [B,H,W,3]. Convert it to RGB.")
    if image.shape[0] == 0 or image.shape[1] == 0 or image.shape[2] == 0:
        raise InputError(f"'{name}' is empty (shape {tuple(image.shape)}): the image or video it came from has no "
                         "frames or no pixels. Check the file loaded upstream (a video that decodes to 0 frames "
                         "gives this) and load one with content.")
    if image.shape[-1] <= 2:
        return image[..., :1].expand(*image.shape[:-1], 3)
    return image[..., :3]


def image_to_bchw(image: torch.Tensor, name: str = "image") -> torch.Tensor:
    """ComfyUI IMAGE [B,H,W,C] (see image_rgb) 0..1 -> float32 [B,3,H,W] on the CPU."""
    return image_rgb(image, name).permute(0, 3, 1, 2).float().cpu().contiguous()


def mask_to_b1hw(mask: torch.Tensor, height: int, width: int, name: str = "mask") -> torch.Tensor:
    """ComfyUI MASK [B,H,W] or [H,W] 0..1 -> float32 [B,1,height,width] (resized if its size differs)."""
    if mask.ndim == 2:
        mask = mask[None]
    if mask.ndim == 4 and mask.shape[-1] == 1:
        mask = mask[..., 0]
    if mask.ndim != 3:
        raise InputError(f"'{name}' must be a MASK [batch, height, width]; got shape {tuple(mask.shape)}.")
    mask = mask[:, None].float().cpu()
    if mask.shape[-2:] != (height, width):
        mask = torch.nn.functional.interpolate(mask, size=(height, width), mode="bilinear", align_corners=False)
    return mask.clamp(0, 1)


def bchw_to_image(x: torch.Tensor) -> torch.Tensor:
    """[B,C,H,W] 0..1 -> ComfyUI IMAGE [B,H,W,3] float32 on the CPU (C=1 is repeated to grey)."""
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    return x.permute(0, 2, 3, 1).float().cpu().contiguous()


def to_image(frames: torch.Tensor, owned: bool = False) -> torch.Tensor:
    """Any [T,H,W,3] frames (uint8 0..255 or float 0..1, numpy or torch) -> ComfyUI IMAGE float32 on the CPU.

    No copy is made of frames that already are one (a video's frames are the largest thing in a workflow);
    `owned=True` says the caller made `frames` itself, so they may be clamped in place.
    """
    frames = torch.as_tensor(frames)
    if frames.dtype == torch.uint8:  # to the CPU first: as floats on the card they would take 4x the memory
        return frames.cpu().float().div_(255.0).contiguous()
    if frames.dtype == torch.float32 and frames.device.type == "cpu" and frames.is_contiguous():
        if owned:
            return frames.clamp_(0, 1)
        if frames.numel() == 0 or (bool(frames.min() >= 0) and bool(frames.max() <= 1)):
            return frames
    return frames.float().clamp(0, 1).cpu().contiguous()


# ------------------------------------------------------------------------------------------ video and audio
def video_source(video):
    """A ComfyUI VIDEO (VideoFromFile: a path or BytesIO; any other VideoInput is encoded to a BytesIO by its
    own get_stream_source) or a plain path -> something PyAV opens, read frame by frame."""
    if isinstance(video, (str, os.PathLike)):
        return os.fspath(video)
    if hasattr(video, "get_stream_source"):
        return video.get_stream_source()
    raise InputError(f"'video' must be a VIDEO (from Load Video); got {type(video).__name__}. Connect Load "
                     "Video's output, or use the frames input for an IMAGE batch.")


def audio_to_comfy(audio) -> dict:
    """core Audio (float32 [C,S]) -> ComfyUI AUDIO {"waveform": [1,C,S] float tensor, "sample_rate": int}."""
    return {"waveform": torch.from_numpy(audio.samples)[None], "sample_rate": int(audio.sample_rate)}


def audio_from_comfy(audio, name: str = "audio"):
    """ComfyUI AUDIO -> core Audio (first item of the batch)."""
    from ..disco_core.media.audio import Audio

    wave = audio.get("waveform") if isinstance(audio, dict) else None
    rate = audio.get("sample_rate") if isinstance(audio, dict) else None
    if not isinstance(wave, torch.Tensor) or wave.ndim not in (2, 3) or not rate:
        raise InputError(f"'{name}' must be an AUDIO value {{'waveform': [batch, channels, samples], "
                         f"'sample_rate': int}}; got {type(audio).__name__}. Connect an AUDIO output (Load Audio, "
                         "Get Video Components).")
    wave = wave[0] if wave.ndim == 3 else wave
    return Audio(wave.detach().float().cpu().numpy(), int(rate))
