"""Poses and person masks for DisCo: one keypoint representation, DisCo-exact rendering, detection (also from a
streamed driving video: `driving`), clean-up, retargeting, and the person mask (`segment`).

Detection backends import their heavy dependencies (mediapipe, controlnet_aux) only when they run.
"""
from .detect import detect_pose_stream, detect_poses
from .filtering import fill_missing, resample_fps, resample_indices, sanitize, smooth_poses
from .json_format import load_pose_file, parse_pose_obj, parse_pose_text
from .keypoints import PoseSequence
from .preview import draw_pose_preview
from .render import crop_resize_cond, render_coco17, render_pose, render_pose_sequence
from .retarget import retarget_poses

__all__ = ["PoseSequence", "load_pose_file", "parse_pose_obj", "parse_pose_text", "render_pose",
           "render_pose_sequence", "render_coco17", "crop_resize_cond", "detect_poses", "detect_pose_stream", "retarget_poses",
           "smooth_poses", "fill_missing", "sanitize", "resample_fps", "resample_indices", "draw_pose_preview"]
