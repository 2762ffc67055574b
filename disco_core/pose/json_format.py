"""Pose JSON in, whatever its flavour: the autodetecting parser (rules in keypoints.py's docstring).

Text that is not pose JSON at all (`[[1, 2, 3]]`, a list of numbers, a dict without people) is refused as such,
naming what it got and the flavours that are read, before any question about the canvas.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import InputError
from .keypoints import POSE_JSON_HELP, PoseSequence, _coco_array, _disco_frames


def parse_pose_obj(obj, canvas=None, fps=None, units: str = "normalized") -> PoseSequence:
    """Any supported flavour, already parsed from JSON. See keypoints.py's docstring for the rules."""
    try:
        return _parse_pose_obj(obj, canvas, fps, units)
    except InputError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError, IndexError) as e:  # a shape no flavour has
        raise InputError(f"the pose JSON is not in a format this pack reads ({type(e).__name__}: {e}); "
                         f"{POSE_JSON_HELP}") from None


def _parse_pose_obj(obj, canvas, fps, units) -> PoseSequence:
    if isinstance(obj, dict) and "frames" in obj and ("canvas_width" in obj or "canvas" in obj):
        # the pack's own wrapper: {"canvas_width", "canvas_height", "fps", "frames": [DisCo entries]}
        size = obj.get("canvas") or (obj["canvas_width"], obj["canvas_height"])
        return PoseSequence.from_disco_json(obj["frames"], size, obj.get("fps", fps))
    frames = obj if isinstance(obj, list) else [obj]
    if frames and all(isinstance(f, dict) and ("people" in f or "animals" in f) for f in frames):
        if all("canvas_width" in f and "canvas_height" in f for f in frames):
            return PoseSequence.from_pose_keypoint(frames, units=units, fps=fps)
        if canvas is None:
            raise InputError("OpenPose JSON does not say its frame size: give the canvas, the size of the video "
                             "the poses came from (canvas_width / canvas_height on Pose Sequence, --canvas WxH on "
                             "the command line)")
        return PoseSequence.from_openpose_json(frames, canvas, fps)
    given = obj
    if not isinstance(obj, (list, dict)) or isinstance(obj, list) and not all(isinstance(f, (list, dict))
                                                                                for f in obj):
        raise _not_pose_json(given)  # a number, a string, a list of numbers...
    if isinstance(obj, dict) and obj and all(isinstance(v, list) for v in obj.values()) \
            and "keypoints" not in obj:
        # {"frame_name": DisCo entry, ...} as when DisCo's per-image files are merged; sorted by name
        obj = [obj[k] for k in sorted(obj)]
    _check_disco_people(_disco_frames(obj), given)  # not pose JSON at all is said before asking for a canvas
    if canvas is None:
        raise InputError("DisCo pose JSON does not carry the frame size: give the canvas, the size of the video "
                         "the poses came from (canvas_width / canvas_height on Pose Sequence, --canvas WxH on the "
                         "command line)")
    return PoseSequence.from_disco_json(obj, canvas, fps)


def _check_disco_people(frames: list, given) -> None:
    """Every person of DisCo JSON is a {"keypoints": ...} dict or a bare list of [x, y, score] joints; anything
    else (numbers, lists of numbers, dicts of other things) means the text is not pose JSON."""
    for t, people in enumerate(frames):
        for person in people:
            bare = isinstance(person, list) and bool(person) and all(isinstance(j, list) for j in person)
            if not bare and not (isinstance(person, dict) and "keypoints" in person):
                raise _not_pose_json(given)
            _coco_array(person, t)  # a person of the wrong size is named with its frame


def _not_pose_json(given) -> InputError:
    what, text = describe_json(given), _snippet(given)
    got = what if text in what else f"{what} ({text})"
    return InputError(f"this is not pose JSON: got {got}; {POSE_JSON_HELP}")


def describe_json(obj, plural: bool = False) -> str:
    """A few words for the shape of a JSON value: 'a list of lists of numbers', 'a dict with keys a, b'."""
    if isinstance(obj, dict):
        keys = ", ".join(map(str, list(obj)[:5]))
        if not keys:
            return "empty dicts" if plural else "an empty dict"
        return f"{'dicts' if plural else 'a dict'} with keys {keys}"
    if isinstance(obj, list):
        kinds = sorted({describe_json(v, plural=True) for v in obj[:50]})
        head = "lists" if plural else "a list"
        if not kinds:
            return "empty lists" if plural else "an empty list"
        return f"{head} of {kinds[0] if len(kinds) == 1 else 'mixed values'}"
    if isinstance(obj, bool) or obj is None:
        return f"{json.dumps(obj)} values" if plural else f"the value {json.dumps(obj)}"
    if isinstance(obj, (int, float)):
        return "numbers" if plural else "a number"
    return "strings" if plural else "a string"


def _snippet(obj) -> str:
    text = json.dumps(obj)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_pose_text(text: str, canvas=None, fps=None, units: str = "normalized") -> PoseSequence:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"pose text is not valid JSON ({e}); {POSE_JSON_HELP}") from None
    return parse_pose_obj(obj, canvas, fps, units)


def load_pose_file(path, canvas=None, fps=None, units: str = "normalized") -> PoseSequence:
    """Load a pose JSON file, or a folder of per-frame JSON files (sorted by name)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.json"))
        if not files:
            raise InputError(f"no .json files in {path}")
        return parse_pose_obj([json.loads(f.read_text()) for f in files], canvas, fps, units)
    if not path.is_file():
        raise InputError(f"pose file not found: {path}")
    return parse_pose_text(path.read_text(), canvas, fps, units)
