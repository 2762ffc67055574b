"""Pose Sequence: a driving VIDEO (streamed), frames, POSE_KEYPOINT, rendered skeletons or pose JSON -> DISCO_POSES,
a preview, the frame rate and the driving video's sound cut to the same frames (AUDIO)."""
from __future__ import annotations

import numpy as np
import torch

from ..disco_core.media import audio as sound
from ..disco_core.errors import InputError
from ..disco_core.pose import PoseSequence, parse_pose_text, retarget_poses
from ..disco_core.pose.detect import BACKENDS, detect_poses
from ..disco_core.pose.filtering import fill_missing, resample_indices, sanitize, smooth_poses
from ..disco_core.pose.frames import ImageFrames, KeypointFrames, PoseFrames, preview_indices
from ..disco_core.pose import driving
from . import comfy_glue as glue
from . import previews
from .sockets import DISCO_POSES, DISCO_REFERENCE, POSE_KEYPOINT, DiscoPoses

SOURCES_HELP = ("Connect one pose source: video (a driving video from Load Video, read frame by frame), frames "
                "(an IMAGE batch, poses are detected), pose_images (skeletons already rendered, e.g. from DWPose "
                "Estimator), pose_keypoint (POSE_KEYPOINT from DWPose / OpenPose Estimator) or paste pose JSON into "
                "pose_json.")
PREVIEW_MAX_FRAMES = 64  # the preview shows at most this many frames, spread over the clip


def _retarget(seq: PoseSequence, reference, detector: str) -> PoseSequence:
    photo = glue.bchw_to_image(reference.image)
    ref_pose = detect_poses(_to_uint8(photo), backend=detector, models_dir=glue.annotator_folder())
    if ref_pose.empty_frames[0]:
        raise InputError(f"retarget: the {detector} pose detector found no person in the reference photo (the "
                         "image given to Disentangle Image), so there is no body to retarget onto. Use a photo in "
                         "which the person is clearly visible from head to hips (colour helps the built-in "
                         "detector), try another detector, or turn retarget off.")
    return retarget_poses(seq, ref_pose)


class DisCoPoseSequence:
    CATEGORY = "DisCo"
    DESCRIPTION = (
        "Turns the driving motion into DisCo's pose skeletons, one per output frame, and keeps the driving "
        "video's sound for exactly those frames. Sources, first connected wins: pose_images (already rendered "
        "skeletons), pose_keypoint (POSE_KEYPOINT), pose_json (OpenPose / DisCo / POSE_KEYPOINT JSON text), "
        "video (Load Video: read frame by frame, any length), frames (an IMAGE batch). Keypoint sources can be "
        "smoothed over time and retargeted to the reference person's body proportions."
    )
    RETURN_TYPES = (DISCO_POSES, "IMAGE", "FLOAT", "AUDIO")
    RETURN_NAMES = ("poses", "preview", "fps", "audio")
    OUTPUT_TOOLTIPS = ("Pose skeletons for the DisCo Sampler (keypoints; drawn at the sampler's size as it goes).",
                       f"Some skeletons as images (at most {PREVIEW_MAX_FRAMES} frames spread over the clip, at "
                       "most 512 px on the long side), to check them (PreviewImage).",
                       "Frame rate of the pose sequence (frames per second).",
                       "The driving video's sound (or the audio input) cut to the output frames: lasts frames / "
                       "fps. Silence when there is none. Connect it to Create Video.")
    FUNCTION = "build_with_preview"
    OUTPUT_NODE = True  # "Queue selected output nodes" on it previews the motion without sampling

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "detector": (list(BACKENDS), {
                    "tooltip": "Pose detector for video/frames (and for the reference when retargeting). builtin: "  # pragma: no mutate
                               "MediaPipe BlazePose, offline, CPU, bundled weights. openpose / dwpose: "  # pragma: no mutate
                               "comfyui_controlnet_aux models, weights in models/disco/annotators."}),  # pragma: no mutate
                "fps": ("FLOAT", {"default": 24.0, "min": 1.0, "max": 240.0, "step": 0.01,
                                  "tooltip": "Frame rate of frames / pose sources (frames per second). A "  # pragma: no mutate
                                             "connected video's own frame rate wins, and so does JSON that "  # pragma: no mutate
                                             "carries its fps."}),  # pragma: no mutate
                "target_fps": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 240.0, "step": 0.01,
                                         "tooltip": "Resample the motion to this frame rate (frames per "  # pragma: no mutate
                                                    "second) so it keeps its real speed; 0 keeps every frame."}),  # pragma: no mutate
                "max_frames": ("INT", {"default": 0, "min": 0, "max": 100000,
                                       "tooltip": "Output at most this many frames (count) from start_frame on; "  # pragma: no mutate
                                                  "0 = all. Sampling time grows with the frame count."}),  # pragma: no mutate
                "smoothing": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 1.0, "step": 0.05,
                                        "tooltip": "Temporal smoothing of the keypoints (0..1, unitless) against "  # pragma: no mutate
                                                   "detector jitter; 0 = off. Keypoint sources only."}),  # pragma: no mutate
                "retarget": ("BOOLEAN", {"default": False,
                                         "tooltip": "Rescale the driving skeleton to the reference person's "  # pragma: no mutate
                                                    "limb lengths and position (needs reference connected). "  # pragma: no mutate
                                                    "Keypoint sources only."}),  # pragma: no mutate
            },
            "optional": {
                "video": ("VIDEO", {
                    "tooltip": "Driving video from Load Video. Read and pose-detected one frame "  # pragma: no mutate
                               "at a time, so any length fits in memory; its sound comes out of "  # pragma: no mutate
                               "the audio output."}),  # pragma: no mutate
                "frames": ("IMAGE", {
                    "tooltip": "Driving video frames [T,H,W,3] already in memory (VHS Load "  # pragma: no mutate
                               "Video, Get Video Components). Poses are detected on each frame."}),  # pragma: no mutate
                "pose_images": ("IMAGE", {
                    "tooltip": "Skeletons already rendered in OpenPose colours [T,H,W,3] "  # pragma: no mutate
                               "(e.g. DWPose Estimator's image output). Used as they are "  # pragma: no mutate
                               "(kept at most 512 px on the long side)."}),  # pragma: no mutate
                "pose_keypoint": (POSE_KEYPOINT, {
                    "tooltip": "POSE_KEYPOINT from DWPose / OpenPose Estimator "  # pragma: no mutate
                               "(comfyui_controlnet_aux), one entry per frame."}),  # pragma: no mutate
                "reference": (DISCO_REFERENCE, {
                    "tooltip": "From Disentangle Image; needed for retarget."}),  # pragma: no mutate
                "audio": ("AUDIO", {
                    "tooltip": "Sound to carry along when the source is not a video with sound "  # pragma: no mutate
                               "(e.g. Get Video Components' audio next to its frames). It is "  # pragma: no mutate
                               "cut like the frames: from start_frame, for frames / fps."}),  # pragma: no mutate
                "pose_json": ("STRING", {"default": "", "multiline": True,
                                         "placeholder": "OpenPose, DisCo or POSE_KEYPOINT JSON (optional)",
                                         "tooltip": "Pose JSON text: POSE_KEYPOINT, OpenPose or DisCo format, a "  # pragma: no mutate
                                                    "list with one entry per frame. Coordinates in pixels of "  # pragma: no mutate
                                                    "the canvas, or normalised for POSE_KEYPOINT."}),  # pragma: no mutate
                "canvas_width": ("INT", {"default": 0, "min": 0, "max": 16384,
                                         "tooltip": "Width in pixels of the frames the JSON poses were taken "  # pragma: no mutate
                                                    "from, when the JSON does not say; 0 = from frames."}),  # pragma: no mutate
                "canvas_height": ("INT", {"default": 0, "min": 0, "max": 16384,
                                          "tooltip": "Height in pixels of those frames; 0 = from frames."}),  # pragma: no mutate
                "start_frame": ("INT", {"default": 0, "min": 0, "max": 1000000,
                                        "tooltip": "First source frame to use (count of frames skipped at the "  # pragma: no mutate
                                                   "start, 0 = all). The sound is cut from the same moment."}),  # pragma: no mutate
            },
        }

    def build(self, detector, fps, target_fps, max_frames, smoothing, retarget, video=None, frames=None,
              pose_images=None, pose_keypoint=None, reference=None, audio=None, pose_json="", canvas_width=0,
              canvas_height=0, start_frame=0):
        start_frame = int(start_frame or 0)
        source = None
        if pose_images is not None:
            if retarget:
                raise InputError("retarget needs keypoints, but pose_images are already rendered skeletons. "
                                 "Connect video, frames or pose_keypoint instead, or turn retarget off.")
            src_fps = float(fps)
            pose_frames = self._rendered(pose_images, src_fps, target_fps, max_frames, start_frame)
        else:
            if frames is not None:
                frames = glue.image_rgb(frames, "frames")
            seq, src_fps, source = self._keypoints(detector, fps, target_fps, max_frames, start_frame, video,
                                                   frames, pose_keypoint, pose_json, canvas_width, canvas_height)
            seq = sanitize(seq, margin=1.0)  # NaN/inf, and joints over a canvas away, are missing joints
            _check_people(seq, _source_name(pose_keypoint, pose_json, detector))
            seq = driving.trim(seq, src_fps, target_fps, max_frames)
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
            pose_frames = KeypointFrames(seq)
        out_fps = float(target_fps or src_fps)
        pose_frames.fps = out_fps
        keypoints = getattr(pose_frames, "seq", None)
        poses = DiscoPoses(frames=pose_frames, keypoints=keypoints, fps=out_fps)
        start_s, duration = driving.span(start_frame, src_fps, len(pose_frames), out_fps)
        return (poses, preview(pose_frames), out_fps, self._sound(audio, source, start_s, duration))

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
    def _rendered(pose_images, fps, target_fps, max_frames, start_frame) -> ImageFrames:
        # a batch [T,H,W,3] as it is; one image [H,W,3] is one frame (not H frames); RGBA/grey to RGB; else the
        # actionable error that names the input
        pose_images = glue.image_rgb(pose_images, "pose_images")
        if start_frame >= len(pose_images):
            raise InputError(f"start_frame {start_frame} is past the end of pose_images ({len(pose_images)} "
                             "frames); use a smaller start_frame.")
        images = pose_images[start_frame:]
        index = np.arange(len(images))
        if target_fps:
            index = resample_indices(len(images), fps, target_fps)
        index = index[:max_frames or None]
        return ImageFrames(images[torch.from_numpy(index)] if target_fps else images[:len(index)], fps)

    @staticmethod
    def _keypoints(detector, fps, target_fps, max_frames, start_frame, video, frames, pose_keypoint, pose_json,
                   canvas_width, canvas_height):
        """-> (poses from start_frame on at the source rate, source fps, video source or None)."""
        canvas = None
        if canvas_width and canvas_height:
            canvas = (canvas_width, canvas_height)
        elif frames is not None:
            canvas = (int(frames.shape[2]), int(frames.shape[1]))
        if pose_keypoint is not None:
            seq = PoseSequence.from_pose_keypoint(pose_keypoint, fps=fps, canvas=canvas)
        elif pose_json and pose_json.strip():
            try:
                seq = parse_pose_text(pose_json, canvas=canvas, fps=fps)
            except InputError as e:  # name the input: the text box, not the file or CLI the core also serves
                raise InputError(f"pose_json: {e}") from None
        elif video is not None:
            source = glue.video_source(video)
            src_fps = driving.probe(source).fps
            stop = driving.source_stop(start_frame, max_frames, src_fps, target_fps)
            seq = driving.detect_video(source, detector, glue.annotator_folder(), start_frame, stop,
                                       progress=glue.simple_progress(0))
            return seq, src_fps, source
        elif frames is not None:
            if start_frame >= len(frames):
                raise InputError(f"start_frame {start_frame} is past the end of the frames ({len(frames)}); use "
                                 "a smaller start_frame.")
            stop = driving.source_stop(start_frame, max_frames, fps, target_fps)
            seq = driving.detect_frames(frames[start_frame:stop], detector, glue.annotator_folder(), fps,
                                        progress=glue.simple_progress(0))
            return seq, float(fps), None
        else:
            raise InputError("Pose Sequence has no input. " + SOURCES_HELP)
        if start_frame >= len(seq):
            raise InputError(f"start_frame {start_frame} is past the end of the poses ({len(seq)} frames); use a "
                             "smaller start_frame.")
        return seq[start_frame:], float(seq.fps or fps), None

    @staticmethod
    def _sound(audio, source, start_s: float, duration: float) -> dict:
        """The AUDIO output: the audio input, else the video's own sound, else silence; always `duration` s."""
        if audio is not None:
            track = glue.audio_from_comfy(audio)
        elif source is not None:
            track = sound.read_audio(source, start_s, duration)
            if track is None:
                return glue.audio_to_comfy(sound.silence(duration))
            return glue.audio_to_comfy(track)
        else:
            return glue.audio_to_comfy(sound.silence(duration))
        return glue.audio_to_comfy(sound.cut(track, start_s, duration))


def preview(frames: PoseFrames) -> torch.Tensor:
    """IMAGE of at most PREVIEW_MAX_FRAMES skeletons spread over the clip, at most 512 px on the long side."""
    picked = [frames.preview(t) for t in preview_indices(len(frames), PREVIEW_MAX_FRAMES)]
    return glue.to_image(np.stack(picked))


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


NODE_CLASS_MAPPINGS = {"DisCoPoseSequence": DisCoPoseSequence}
NODE_DISPLAY_NAME_MAPPINGS = {"DisCoPoseSequence": "Pose Sequence"}
