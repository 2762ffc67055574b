"""Pose Sequence: driving video frames, POSE_KEYPOINT, rendered skeletons or pose JSON -> DISCO_POSES."""
from __future__ import annotations

import math

import torch

from ..disco_core.errors import InputError
from ..disco_core.pose import PoseSequence, parse_pose_text, render_pose_sequence, retarget_poses
from ..disco_core.pose.detect import BACKENDS, detect_poses
from ..disco_core.pose.filtering import fill_missing, resample_fps, resample_indices, sanitize, smooth_poses
from . import comfy_glue as glue
from . import previews
from .sockets import DISCO_POSES, DISCO_REFERENCE, POSE_KEYPOINT, DiscoPoses

SOURCES_HELP = ("Connect one pose source: frames (a driving video, poses are detected), pose_images (skeletons "
                "already rendered, e.g. from DWPose Estimator), pose_keypoint (POSE_KEYPOINT from DWPose / "
                "OpenPose Estimator) or paste pose JSON into pose_json.")


def _retarget(seq: PoseSequence, reference, detector: str) -> PoseSequence:
    photo = glue.bchw_to_image(reference.image)
    ref_pose = detect_poses(_to_uint8(photo), backend=detector, models_dir=glue.annotator_folder())
    return retarget_poses(seq, ref_pose)


class DisCoPoseSequence:
    CATEGORY = "DisCo"
    DESCRIPTION = (
        "Turns the driving motion into DisCo's pose skeletons, one per output frame. Sources, first connected "
        "wins: pose_images (already rendered skeletons), pose_keypoint (POSE_KEYPOINT), pose_json (OpenPose / "
        "DisCo / POSE_KEYPOINT JSON text), frames (a driving video: poses are detected). Keypoint sources can "
        "be smoothed over time and retargeted to the reference person's body proportions."
    )
    RETURN_TYPES = (DISCO_POSES, "IMAGE", "FLOAT")
    RETURN_NAMES = ("poses", "preview", "fps")
    OUTPUT_TOOLTIPS = ("Pose skeletons for the DisCo Sampler.",
                       "The skeletons as images [T,H,W,3], to check them (PreviewImage).",
                       "Frame rate of the pose sequence (frames per second).")
    FUNCTION = "build_with_preview"
    OUTPUT_NODE = True  # "Queue selected output nodes" on it previews the motion without sampling

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "detector": (list(BACKENDS), {
                    "tooltip": "Pose detector for frames (and for the reference when retargeting). builtin: "
                               "MediaPipe BlazePose, offline, CPU, bundled weights. openpose / dwpose: "
                               "comfyui_controlnet_aux models, weights in models/disco/annotators."}),
                "fps": ("FLOAT", {"default": 24.0, "min": 1.0, "max": 240.0, "step": 0.01,
                                  "tooltip": "Frame rate of the driving video (frames per second). Link "
                                             "GetVideoComponents' fps here. JSON that carries its own fps wins."}),
                "target_fps": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 240.0, "step": 0.01,
                                         "tooltip": "Resample the motion to this frame rate (frames per "
                                                    "second) so it keeps its real speed; 0 keeps every frame."}),
                "max_frames": ("INT", {"default": 0, "min": 0, "max": 100000,
                                       "tooltip": "Use at most this many frames (count) from the start; 0 = "
                                                  "all. Sampling time grows with the frame count."}),
                "smoothing": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 1.0, "step": 0.05,
                                        "tooltip": "Temporal smoothing of the keypoints (0..1, unitless) against "
                                                   "detector jitter; 0 = off. Keypoint sources only."}),
                "retarget": ("BOOLEAN", {"default": False,
                                         "tooltip": "Rescale the driving skeleton to the reference person's "
                                                    "limb lengths and position (needs reference connected). "
                                                    "Keypoint sources only."}),
            },
            "optional": {
                "frames": ("IMAGE", {"tooltip": "Driving video frames [T,H,W,3] (LoadVideo → GetVideoComponents, "
                                                "VHS Load Video). Poses are detected on each frame."}),
                "pose_images": ("IMAGE", {"tooltip": "Skeletons already rendered in OpenPose colours [T,H,W,3] "
                                                     "(e.g. DWPose Estimator's image output). Used as they are."}),
                "pose_keypoint": (POSE_KEYPOINT, {"tooltip": "POSE_KEYPOINT from DWPose / OpenPose Estimator "
                                                             "(comfyui_controlnet_aux), one entry per frame."}),
                "reference": (DISCO_REFERENCE, {"tooltip": "From Disentangle Image; needed for retarget."}),
                "pose_json": ("STRING", {"default": "", "multiline": True,
                                         "placeholder": "OpenPose, DisCo or POSE_KEYPOINT JSON (optional)",
                                         "tooltip": "Pose JSON text: POSE_KEYPOINT, OpenPose or DisCo format, a "
                                                    "list with one entry per frame. Coordinates in pixels of "
                                                    "the canvas, or normalised for POSE_KEYPOINT."}),
                "canvas_width": ("INT", {"default": 0, "min": 0, "max": 16384,
                                         "tooltip": "Width in pixels of the frames the JSON poses were taken "
                                                    "from, when the JSON does not say; 0 = from frames."}),
                "canvas_height": ("INT", {"default": 0, "min": 0, "max": 16384,
                                          "tooltip": "Height in pixels of those frames; 0 = from frames."}),
            },
        }

    def build(self, detector, fps, target_fps, max_frames, smoothing, retarget, frames=None, pose_images=None,
              pose_keypoint=None, reference=None, pose_json="", canvas_width=0, canvas_height=0):
        if pose_images is not None:
            if retarget:
                raise InputError("retarget needs keypoints, but pose_images are already rendered skeletons. "
                                 "Connect frames or pose_keypoint instead, or turn retarget off.")
            rendered = glue.image_to_bchw(pose_images, "pose_images")
            if target_fps:
                rendered = rendered[torch.from_numpy(resample_indices(len(rendered), fps, target_fps))]
            rendered = rendered[:max_frames or None]
            out_fps = float(target_fps or fps)
            return (DiscoPoses(rendered=rendered, fps=out_fps), glue.bchw_to_image(rendered), out_fps)

        if frames is not None:
            frames = glue.image_rgb(frames, "frames")
        seq = self._keypoints(detector, fps, target_fps, max_frames, frames, pose_keypoint, pose_json,
                              canvas_width, canvas_height)
        seq = sanitize(seq, margin=1.0)  # NaN/inf, and joints over a canvas away, are missing joints
        _check_people(seq, _source_name(pose_keypoint, pose_json, detector))
        fps = float(seq.fps or fps)
        if target_fps:
            seq, _ = resample_fps(seq, fps, target_fps)
        seq = seq[:max_frames or None]
        if len(seq) == 0:
            raise InputError("The pose source has no frames. " + SOURCES_HELP)
        seq = fill_missing(seq)
        if smoothing > 0:
            seq = smooth_poses(seq, smoothing)
        if retarget:
            if reference is None:
                raise InputError("retarget is on but no reference is connected: connect Disentangle Image's "
                                 "reference output to Pose Sequence, or turn retarget off.")
            seq = _retarget(seq, reference, detector)
        skeletons = glue.to_image(render_pose_sequence(seq))
        out_fps = float(target_fps or fps)
        poses = DiscoPoses(rendered=skeletons.permute(0, 3, 1, 2).contiguous(), keypoints=seq, fps=out_fps)
        return (poses, skeletons, out_fps)

    def build_with_preview(self, **inputs):
        """`build`, plus the canvas preview (skeletons over the reference photo) as UI output."""
        result = self.build(**inputs)
        poses, fps = result[0], result[2]
        retargeted = bool(inputs.get("retarget")) and inputs.get("reference") is not None
        # start_frame: which source frame the preview's first frame is, for the trim buttons
        ui = previews.pose_preview(poses, inputs.get("reference"), fps, retargeted=retargeted,
                                   start_frame=int(inputs.get("start_frame") or 0))
        return {"ui": ui, "result": result}

    @staticmethod
    def _keypoints(detector, fps, target_fps, max_frames, frames, pose_keypoint, pose_json, canvas_width,
                   canvas_height) -> PoseSequence:
        canvas = None
        if canvas_width and canvas_height:
            canvas = (canvas_width, canvas_height)
        elif frames is not None:
            canvas = (int(frames.shape[2]), int(frames.shape[1]))
        if pose_keypoint is not None:
            return PoseSequence.from_pose_keypoint(pose_keypoint, fps=fps, canvas=canvas)
        if pose_json and pose_json.strip():
            return parse_pose_text(pose_json, canvas=canvas, fps=fps)
        if frames is not None:
            video = frames[:_frames_needed(len(frames), fps, target_fps, max_frames)]
            return detect_poses(_to_uint8(video), backend=detector, models_dir=glue.annotator_folder(), fps=fps,
                                progress=glue.simple_progress(len(video)))
        raise InputError("Pose Sequence has no input. " + SOURCES_HELP)


def _source_name(pose_keypoint, pose_json, detector) -> str:
    if pose_keypoint is not None:
        return "pose_keypoint"
    if pose_json and pose_json.strip():
        return "pose_json"
    return f"frames (detector {detector})"


def _check_people(seq: PoseSequence, source: str) -> None:
    """No person anywhere is an error (DisCo would draw black skeletons); gaps are filled later and logged."""
    empty = seq.empty_frames
    if len(seq) and empty.all():
        fix = ("Use a driving video in which one person is visible (full body or upper body, facing the camera "
               "works best), or try another detector (openpose / dwpose)." if source.startswith("frames") else
               "Check that the keypoints are in pixels of the canvas (or normalised, for POSE_KEYPOINT) and that "
               "each frame lists a person.")
        raise InputError(f"No person was found in any of the {len(seq)} frames of {source}. {fix}")
    if empty.any():
        glue.log.warning("DisCo Pose Sequence: no person in %d of %d frames of %s; they repeat the nearest pose.",
                         int(empty.sum()), len(seq), source)


def _to_uint8(image: torch.Tensor):
    return (image[..., :3].clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()


def _frames_needed(count: int, fps: float, target_fps: float, max_frames: int) -> int:
    """Source frames needed to produce max_frames output frames (all of them when max_frames is 0)."""
    if not max_frames:
        return count
    ratio = fps / target_fps if target_fps else 1.0
    return min(count, int(math.ceil(max_frames * ratio)) + 1)


NODE_CLASS_MAPPINGS = {"DisCoPoseSequence": DisCoPoseSequence}
NODE_DISPLAY_NAME_MAPPINGS = {"DisCoPoseSequence": "Pose Sequence"}
