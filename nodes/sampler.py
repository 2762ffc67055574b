"""DisCo Sampler: model + reference + poses (+ background) -> IMAGE frames, one per pose frame, and fps."""
from __future__ import annotations


from ..disco_core import SCHEDULERS, animate
from ..disco_core.media.images import FIT_MODES
from ..disco_core.errors import InputError
from ..disco_core.media.frame_file import frame_buffer
from ..disco_core.sampling.memory import activation_bytes
from ..disco_core.sampling.windows import DEFAULT_OVERLAP, DEFAULT_WINDOW, plan_windows
from . import comfy_glue as glue
from . import previews
from .sockets import DISCO_MODEL, DISCO_POSES, DISCO_REFERENCE

DEFAULT_FPS = 24.0  # when neither the poses nor the video they came from carried a frame rate
SEED_MAX = 0xFFFFFFFFFFFFFFFF


def _size_problem(width, height) -> str | None:
    """What is wrong with an output size, or None; a size still unknown (None, linked) is not checked."""
    if any(not 64 <= size <= 2048 or size % 8 for size in (width, height) if size is not None):
        return (f"width and height must be multiples of 8 between 64 and 2048 pixels (got {width}x{height}); "
                "DisCo was trained at 256x256.")
    return None


class DisCoSampler:
    CATEGORY = "DisCo"
    DESCRIPTION = (
        "Animates the reference person so that they follow the pose sequence: one output frame per pose frame. "
        "The background comes from the reference photo, or from the optional background image(s) "
        "(background swap). With a temporal checkpoint the frames are drawn together in overlapping windows "
        "(window / overlap), any number of them. Shows a preview while it samples; Cancel stops it between steps."
    )
    RETURN_TYPES = ("IMAGE", "FLOAT")
    RETURN_NAMES = ("frames", "fps")
    OUTPUT_TOOLTIPS = ("Generated frames [T,H,W,3], float 0..1, T = number of pose frames (kept in a file in "
                       "ComfyUI's temp folder, so a whole song does not fill the RAM).",
                       "Frame rate of the poses (frames per second), for CreateVideo / Video Combine.")
    FUNCTION = "sample_with_preview"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "model": (DISCO_MODEL, {
                    "tooltip": "From Load DisCo Model."}),  # pragma: no mutate
                "reference": (DISCO_REFERENCE, {
                    "tooltip": "From Disentangle Image: the person and the scene."}),  # pragma: no mutate
                "poses": (DISCO_POSES, {
                    "tooltip": "From Pose Sequence: one skeleton per output frame."}),  # pragma: no mutate
                "seed": ("INT", {"default": 42, "min": 0, "max": SEED_MAX, "control_after_generate": True,
                                 "tooltip": "Random seed of the starting noise (integer). Same seed and "  # pragma: no mutate
                                            "settings give the same video on the same device."}),  # pragma: no mutate
                "steps": ("INT", {"default": 50, "min": 1, "max": 1000,
                                  "tooltip": "Denoising steps per frame (count). DisCo used 50; 20-30 is often "  # pragma: no mutate
                                             "enough with ddim/dpm++; time grows linearly."}),  # pragma: no mutate
                "cfg": ("FLOAT", {"default": 1.5, "min": 0.0, "max": 20.0, "step": 0.05, "round": 0.01,
                                  "tooltip": "Classifier-free guidance scale (unitless); ≤ 1 turns guidance off "  # pragma: no mutate
                                             "(2x faster). 1.5 for the *_cfg checkpoints, 3 for *_nocfg."}),  # pragma: no mutate
                "scheduler": (list(SCHEDULERS), {"default": "ddim" if "ddim" in SCHEDULERS else SCHEDULERS[0],
                                                 "tooltip": "Sampler algorithm. ddim is what DisCo used."}),  # pragma: no mutate
                "width": ("INT", {"default": 256, "min": 64, "max": 2048, "step": 8,
                                  "tooltip": "Output width in pixels (multiple of 8). DisCo was trained at "  # pragma: no mutate
                                             "256x256; other sizes work but drift from the training data."}),  # pragma: no mutate
                "height": ("INT", {"default": 256, "min": 64, "max": 2048, "step": 8,
                                   "tooltip": "Output height in pixels (multiple of 8)."}),  # pragma: no mutate
                "fit": (list(FIT_MODES), {"default": "crop",
                                          "tooltip": "How photo, background and poses are brought to width x "  # pragma: no mutate
                                                     "height: crop = centre crop, pad = letterbox with black, "  # pragma: no mutate
                                                     "official = exactly DisCo's own preprocessing."}),  # pragma: no mutate
                "frames_per_batch": ("INT", {"default": 8, "min": 1, "max": 256,
                                             "tooltip": "Frames denoised together (count). Lower it if you run "  # pragma: no mutate
                                                        "out of GPU memory; it does not change the result "  # pragma: no mutate
                                                        "with noise_mode per_frame. Temporal models run "  # pragma: no mutate
                                                        "frames_per_batch // window whole windows at once "  # pragma: no mutate
                                                        "(at least one)."}),  # pragma: no mutate
            },
            "optional": {
                "background": ("IMAGE", {
                    "tooltip": "Background swap: one image for every frame, or one per "  # pragma: no mutate
                               "pose frame [T,H,W,3]. Empty: the reference photo's own "  # pragma: no mutate
                               "background."}),  # pragma: no mutate
                "noise_mode": (["per_frame", "official"], {
                    "default": "per_frame",
                    "tooltip": "per_frame: each frame's noise depends only on seed and frame index (results do "  # pragma: no mutate
                               "not change with frames_per_batch). official: one draw per batch, as the DisCo "  # pragma: no mutate
                               "code does (for comparisons)."}),  # pragma: no mutate
                "pose_scale": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 2.0, "step": 0.05,
                                         "tooltip": "Strength of the pose ControlNet (multiplier, 1 = as "  # pragma: no mutate
                                                    "trained; 0 ignores the poses)."}),  # pragma: no mutate
                "background_scale": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 2.0, "step": 0.05,
                                               "tooltip": "Strength of the background ControlNet (multiplier, 1 "  # pragma: no mutate
                                                          "= as trained; 0 ignores the background)."}),  # pragma: no mutate
                "window": ("INT", {"default": DEFAULT_WINDOW, "min": 1, "max": 64,
                                   "tooltip": "Temporal models only (image models ignore it): frames the model "  # pragma: no mutate
                                              "sees at once (count). 16 as the released temporal checkpoints "  # pragma: no mutate
                                              "were trained, 8 as in the paper; longer videos run as "  # pragma: no mutate
                                              "overlapping windows."}),  # pragma: no mutate
                "overlap": ("INT", {"default": DEFAULT_OVERLAP, "min": 0, "max": 63,
                                    "tooltip": "Temporal models only (image models ignore it): frames shared by "  # pragma: no mutate
                                               "neighbouring windows (count, less than window), blended at every "  # pragma: no mutate
                                               "step so windows meet without a seam. More overlap: smoother, "  # pragma: no mutate
                                               "slower."}),  # pragma: no mutate
                "cluster": ("DISCO_CLUSTER", {
                    "tooltip": "From DisCo Cluster: render on its Ray workers (the same "  # pragma: no mutate
                               "frames, split across GPUs or machines). Empty: here."}),  # pragma: no mutate
            },
        }

    @classmethod
    def VALIDATE_INPUTS(cls, width=256, height=256):
        # naming width/height here turns off ComfyUI's own min/max check for them, so check the range too. One
        # linked from another node's output arrives as None (its value exists only when the graph runs).
        return _size_problem(width, height) or True

    def sample(self, model, reference, poses, seed, steps, cfg, scheduler, width, height, fit,
               frames_per_batch, background=None, noise_mode="per_frame", pose_scale=1.0,
               background_scale=1.0, window=DEFAULT_WINDOW, overlap=DEFAULT_OVERLAP, cluster=None):
        if _size_problem(width, height):  # a width/height linked from another node is known only now
            raise InputError(_size_problem(width, height))
        if len(poses) == 0:
            raise InputError("The pose sequence is empty: Pose Sequence produced no frames. Check its input.")
        chunks = -(-len(poses) // frames_per_batch)
        batch = min(frames_per_batch, len(poses))
        if model.model.is_temporal:  # progress counts window-steps
            chunks = len(plan_windows(len(poses), window, overlap).starts)
            batch = min(window, len(poses))
        options = dict(
            background=None if background is None else glue.image_to_bchw(background, "background"),
            height=height, width=width, fit=fit, num_inference_steps=steps, guidance_scale=cfg,
            scheduler=scheduler, seed=seed, frames_per_batch=frames_per_batch, noise_mode=noise_mode,
            pose_scale=pose_scale, background_scale=background_scale, window=window, overlap=overlap,
            on_step=glue.progress(steps * chunks), preview_every=glue.preview_every(steps),
            should_cancel=glue.raise_if_interrupted, buffer_dir=glue.frames_folder(),
        )
        if cluster is not None:
            frames = _on_cluster(cluster, model.model, reference, poses, options)
        else:
            model.ready(activation_bytes(batch, height, width, model.model.dtype, cfg))
            frames = animate(model.model, reference.image, reference.mask, poses.frames, **options)
        return (glue.to_image(frames, owned=True), float(poses.fps or DEFAULT_FPS))

    def sample_with_preview(self, **inputs):
        """`sample`, plus the frames it made as an animated canvas preview (UI output)."""
        frames, fps = self.sample(**inputs)
        return {"ui": previews.frames_preview(frames, fps, "sampler"), "result": (frames, fps)}


def _on_cluster(cluster, model, reference, poses, options):
    """The same frames on the cluster's workers, which load the model from its file (DisCo Cluster)."""
    from ..disco_core.cluster import animate_chunks_on
    source = getattr(model, "disco_source", None)
    if source is None:
        raise InputError("this model was not loaded from a file (e.g. it comes straight from DisCo Fine-Tune), so "
                         "the cluster's workers cannot load it: save the personalisation and pick it in Load "
                         "DisCo Model, or disconnect DisCo Cluster")
    pool = cluster.pool(source)
    glue.log.info("DisCo: rendering %d frames on %r: %d workers (%s)", len(poses), cluster, len(pool.workers),
                  ", ".join(f"{w.info['host']}:{w.info['pid']} {w.info['device']}" for w in pool.workers))
    buffer_dir = options.pop("buffer_dir")
    out = None
    for frames, chunk in animate_chunks_on(pool, reference.image, reference.mask, poses.frames, **options):
        if out is None:  # in a file, as the local path's frames (frame_file.py)
            out = frame_buffer((len(poses), *chunk.shape[1:]), buffer_dir)
        out[frames.start:frames.stop] = chunk
    return out


NODE_CLASS_MAPPINGS = {"DisCoSampler": DisCoSampler}
NODE_DISPLAY_NAME_MAPPINGS = {"DisCoSampler": "DisCo Sampler"}
