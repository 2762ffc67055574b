"""Poses for DisCo: one keypoint representation, DisCo-exact rendering, detection, clean-up, retargeting.

Detection backends import their heavy dependencies only when used.
"""
from .keypoints import PoseSequence, load_pose_file, parse_pose_obj, parse_pose_text
from .render import crop_resize_cond, render_coco17, render_pose, render_pose_sequence

__all__ = ["PoseSequence", "load_pose_file", "parse_pose_obj", "parse_pose_text", "render_pose",
           "render_pose_sequence", "render_coco17", "crop_resize_cond"]
