"""One keypoint representation for the whole pack, and converters to and from the JSON flavours in use.

`PoseSequence` holds one person per frame in **OpenPose-18 body order** (the order DisCo draws in),
`keypoints[t, j] = (x, y, confidence)` in **pixels of the canvas** (width, height). A missing joint has
x = y = NaN and confidence 0; nothing else is ever stored for a missing joint.

Flavours and their coordinate rule (decided by the payload's structure, never by the values):
- DisCo / COCO-17 JSON (`[{"keypoints": [[x, y, s] × 17]}, ...]` per frame, `[-1, -1, -1]` missing):
  pixels; the canvas must be given by the caller (the JSON does not carry it). Neck = mid-shoulders.
- comfyui_controlnet_aux `POSE_KEYPOINT` (list of `{"people": [...], "canvas_width", "canvas_height"}`):
  the frame carries its canvas, and coordinates are **normalised to it** ([0,1] × canvas), the convention
  of controlnet_aux's renderers; pass `units="pixels"` for payloads from an emitter that writes pixels.
- OpenPose JSON (`{"people": [{"pose_keypoints_2d": [...]}]}` without a canvas, as CMU OpenPose writes
  it): pixels of the frame; the canvas comes from the caller.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..errors import InputError

# OpenPose-18 (COCO-18) body order, as DisCo's `draw_bodypose` indexes it.
OPENPOSE18_NAMES = ["nose", "neck", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow", "l_wrist",
                    "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "r_eye", "l_eye", "r_ear",
                    "l_ear"]
NOSE, NECK, R_SHO, R_ELB, R_WRI, L_SHO, L_ELB, L_WRI, R_HIP, R_KNEE, R_ANK, L_HIP, L_KNEE, L_ANK, \
    R_EYE, L_EYE, R_EAR, L_EAR = range(18)

# DisCo `annotator/openpose/run.py`: `openpose2coco_order`; coco17[i] = openpose18[OPENPOSE18_TO_COCO17[i]].
OPENPOSE18_TO_COCO17 = [0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10]

N_HAND, N_FACE = 21, 70


def _missing_to_nan(kp: np.ndarray) -> np.ndarray:
    """Canonical missing joints: any non-finite value or confidence ≤ 0 → (NaN, NaN, 0)."""
    kp = np.array(kp, dtype=np.float32, copy=True)
    bad = ~np.isfinite(kp).all(axis=-1) | ~(kp[..., 2] > 0)
    kp[bad] = (np.nan, np.nan, 0.0)
    return kp


@dataclass
class PoseSequence:
    """One person's OpenPose-18 pose per frame. See the module docstring for units and missing joints.

    keypoints: float32 [T,18,3]; hands: optional float32 [T,2,21,3] (left, right); face: optional [T,70,3];
    canvas: (width, height) in pixels; fps: frames per second when known.
    """
    keypoints: np.ndarray
    canvas: tuple[int, int]
    fps: float | None = None
    hands: np.ndarray | None = None
    face: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        kp = np.asarray(self.keypoints, dtype=np.float32)
        if kp.ndim == 2:
            kp = kp[None]
        if kp.ndim != 3 or kp.shape[1:] != (18, 3):
            raise InputError(f"pose keypoints must have shape [T,18,3] (OpenPose-18 x,y,conf), got "
                             f"{tuple(kp.shape)}; convert other layouts with the PoseSequence.from_* helpers")
        self.keypoints = _missing_to_nan(kp)
        try:
            w, h = (int(v) for v in self.canvas)
        except (TypeError, ValueError):
            raise InputError(f"canvas must be (width, height) in pixels, got {self.canvas!r}") from None
        if w <= 0 or h <= 0:
            raise InputError(f"canvas must be positive (width, height), got {(w, h)}")
        self.canvas = (w, h)
        for name, shape in (("hands", (2, N_HAND, 3)), ("face", (N_FACE, 3))):
            arr = getattr(self, name)
            if arr is not None:
                arr = np.asarray(arr, np.float32)
                if arr.shape != (len(kp), *shape):
                    raise InputError(f"{name} must have shape {(len(kp), *shape)}, got {arr.shape}")
                setattr(self, name, _missing_to_nan(arr))

    def __len__(self) -> int:
        return int(self.keypoints.shape[0])

    def __getitem__(self, index) -> "PoseSequence":
        """Frames by index, slice or index array; always returns a PoseSequence."""
        idx = np.arange(len(self))[index]
        idx = np.atleast_1d(idx)
        return replace(self, keypoints=self.keypoints[idx],
                       hands=None if self.hands is None else self.hands[idx],
                       face=None if self.face is None else self.face[idx], meta=dict(self.meta))

    def copy(self, **changes) -> "PoseSequence":
        base = dict(keypoints=self.keypoints.copy(), hands=None if self.hands is None else self.hands.copy(),
                    face=None if self.face is None else self.face.copy(), meta=dict(self.meta))
        base.update(changes)
        return replace(self, **base)

    @property
    def present(self) -> np.ndarray:
        """bool [T,18]: joint detected."""
        return self.keypoints[..., 2] > 0

    @property
    def empty_frames(self) -> np.ndarray:
        """bool [T]: frames without any detected joint (no person)."""
        return ~self.present.any(axis=1)

    @staticmethod
    def concat(seqs: list["PoseSequence"]) -> "PoseSequence":
        if not seqs:
            raise InputError("no poses to join: give at least one frame")
        canvas = seqs[0].canvas
        if any(s.canvas != canvas for s in seqs):
            raise InputError(f"cannot join poses of different canvas sizes {[s.canvas for s in seqs]}; "
                             "resize the frames to one size first")
        cat = lambda name: (None if any(getattr(s, name) is None for s in seqs)
                            else np.concatenate([getattr(s, name) for s in seqs]))
        return PoseSequence(np.concatenate([s.keypoints for s in seqs]), canvas, seqs[0].fps,
                            hands=cat("hands"), face=cat("face"))

    # ---- DisCo / COCO-17 -------------------------------------------------------------------------------
    @classmethod
    def from_disco_json(cls, obj, canvas, fps=None, person: int = 0) -> "PoseSequence":
        """DisCo JSON: one frame (list of people) or a list of frames. Person `person` of each frame."""
        frames = _disco_frames(obj)
        kps = np.full((len(frames), 18, 3), np.nan, np.float32)
        kps[..., 2] = 0
        for t, people in enumerate(frames):
            if len(people) > person:
                kps[t] = coco17_to_openpose18(_coco_array(people[person], t))
        return cls(kps, canvas, fps)

    def to_disco_json(self, integer: bool = True) -> list:
        """A list with one DisCo entry per frame: `[]` for no person, else `[{"keypoints": [...×17]}]`.
        Coordinates are rounded to integers by default, as DisCo's own files are."""
        out = []
        for t in range(len(self)):
            if self.empty_frames[t]:
                out.append([])
                continue
            joints = []
            for j in OPENPOSE18_TO_COCO17:
                x, y, c = (float(v) for v in self.keypoints[t, j])
                if c > 0:
                    joints.append([int(round(x)), int(round(y)), round(c, 4)] if integer else [x, y, c])
                else:
                    joints.append([-1, -1, -1])
            out.append([{"keypoints": joints}])
        return out

    # ---- comfyui_controlnet_aux POSE_KEYPOINT ---------------------------------------------------------
    @classmethod
    def from_pose_keypoint(cls, frames, units: str = "normalized", fps=None, person: int = 0,
                           canvas=None) -> "PoseSequence":
        """controlnet_aux `POSE_KEYPOINT`: coordinates relative to each frame's canvas_width × canvas_height
        (`units="normalized"`, controlnet_aux's convention) or already in its pixels (`units="pixels"`)."""
        if isinstance(frames, dict):
            frames = [frames]
        if units not in ("normalized", "pixels"):
            raise InputError(f"units must be 'normalized' or 'pixels', got {units!r}")
        if not isinstance(frames, (list, tuple)) or not frames:
            raise InputError("POSE_KEYPOINT is empty or not a list: it needs one dict per frame")
        _check_pose_keypoint(frames)
        sizes = {(int(f.get("canvas_width", 0) or 0), int(f.get("canvas_height", 0) or 0)) for f in frames}
        if len(sizes) != 1 or 0 in next(iter(sizes)):
            if canvas is None:
                raise InputError(f"POSE_KEYPOINT frames must all carry one canvas_width/canvas_height, "
                                 f"got {sorted(sizes)}; pass canvas=(w, h)")
            sizes = {tuple(int(v) for v in canvas)}
        size = next(iter(sizes))
        scale = np.array(size if units == "normalized" else (1, 1), np.float32)
        return cls._from_people(frames, size, scale, fps, person)

    def to_pose_keypoint(self) -> list:
        """controlnet_aux `POSE_KEYPOINT`, normalised to the canvas; missing joints are [0, 0, 0]."""
        w, h = self.canvas
        scale = np.array([w, h], np.float32)
        out = []
        for t in range(len(self)):
            people = []
            if not self.empty_frames[t]:
                person = {"pose_keypoints_2d": _flat(self.keypoints[t], scale),
                          "face_keypoints_2d": None if self.face is None else _flat(self.face[t], scale),
                          "hand_left_keypoints_2d": None if self.hands is None else _flat(self.hands[t, 0], scale),
                          "hand_right_keypoints_2d": None if self.hands is None else _flat(self.hands[t, 1], scale)}
                people.append(person)
            out.append({"people": people, "canvas_width": w, "canvas_height": h})
        return out

    # ---- OpenPose JSON (CMU) ----------------------------------------------------------------------------
    @classmethod
    def from_openpose_json(cls, frames, canvas, fps=None, person: int = 0) -> "PoseSequence":
        """CMU OpenPose JSON (one dict or a list of per-frame dicts), pixel coordinates. BODY_25 is
        reduced to its first 18 points only when they follow COCO-18; BODY_25's own order differs, so it
        is remapped."""
        if isinstance(frames, dict):
            frames = [frames]
        return cls._from_people(frames, tuple(int(v) for v in canvas), np.ones(2, np.float32), fps, person)

    def to_openpose_json(self) -> list:
        """CMU-style OpenPose JSON per frame, pixels, COCO-18 body."""
        one = np.ones(2, np.float32)
        return [{"version": 1.3, "people": [] if self.empty_frames[t] else
                 [{"pose_keypoints_2d": _flat(self.keypoints[t], one)}]} for t in range(len(self))]

    @classmethod
    def _from_people(cls, frames, canvas, scale, fps, person) -> "PoseSequence":
        t_n = len(frames)
        kps = np.full((t_n, 18, 3), np.nan, np.float32)
        kps[..., 2] = 0
        hands = np.full((t_n, 2, N_HAND, 3), np.nan, np.float32)
        face = np.full((t_n, N_FACE, 3), np.nan, np.float32)
        any_hands = any_face = False
        for t, frame in enumerate(frames):
            if not isinstance(frame, dict):
                raise InputError(f"pose frame {t} is a {type(frame).__name__}, expected a dict with 'people'")
            people = frame.get("people") or []
            if len(people) <= person:
                continue
            p = people[person]
            kps[t] = _body18(_triplets(p.get("pose_keypoints_2d"), t), t) * _scale3(scale)
            for k, key in enumerate(("hand_left_keypoints_2d", "hand_right_keypoints_2d")):
                arr = _triplets(p.get(key), t)
                if arr is not None and len(arr) == N_HAND:
                    hands[t, k] = arr * _scale3(scale)
                    any_hands = True
            arr = _triplets(p.get("face_keypoints_2d"), t)
            if arr is not None and len(arr) == N_FACE:
                face[t] = arr * _scale3(scale)
                any_face = True
        return cls(kps, canvas, fps, hands=hands if any_hands else None, face=face if any_face else None)


POSE_KEYPOINT_HELP = ("POSE_KEYPOINT is a list with one dict per frame: {'people': [{'pose_keypoints_2d': "
                      "[x, y, c, ...]}], 'canvas_width': W, 'canvas_height': H}, as DWPose / OpenPose Estimator "
                      "(comfyui_controlnet_aux) output it")


def _check_pose_keypoint(frames) -> None:
    """Structure of controlnet_aux POSE_KEYPOINT, checked before use so a malformed value is named."""
    for t, f in enumerate(frames):
        if not isinstance(f, dict):
            raise InputError(f"POSE_KEYPOINT frame {t} is a {type(f).__name__} ({str(f)[:40]}), not a dict. "
                             f"{POSE_KEYPOINT_HELP}.")
        people = f.get("people") or []
        if not isinstance(people, list) or not all(isinstance(p, dict) for p in people):
            raise InputError(f"POSE_KEYPOINT frame {t}: 'people' must be a list of dicts. {POSE_KEYPOINT_HELP}.")
        for key in ("canvas_width", "canvas_height"):
            value = f.get(key, 0)
            if value is not None and not isinstance(value, (int, float)):
                raise InputError(f"POSE_KEYPOINT frame {t}: {key} must be a number of pixels, got {value!r}.")


# BODY_25 → OpenPose-18: BODY_25 puts MidHip at 8 and shifts the legs (CMU output doc).
_BODY25_TO_18 = [0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18]


def _scale3(scale2):
    return np.array([scale2[0], scale2[1], 1.0], np.float32)


def _triplets(flat, t):
    if flat is None:
        return None
    try:
        arr = np.asarray(flat, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"frame {t}: keypoints must be numbers (x, y, c triplets), got {str(flat)[:60]}") from None
    if arr.ndim == 2 and arr.shape[1] == 3:  # nested [[x,y,c],...], as some tools write
        return arr
    if arr.ndim != 1 or arr.size % 3:
        raise InputError(f"frame {t}: keypoints must be flat x,y,c triplets, got shape {arr.shape}")
    return arr.reshape(-1, 3)


def _body18(arr, t):
    if arr is None:
        out = np.zeros((18, 3))
        out[:, :2] = np.nan
        return out
    if len(arr) == 18:
        return arr
    if len(arr) == 25:
        return arr[_BODY25_TO_18]
    raise InputError(f"frame {t}: body has {len(arr)} keypoints; expected 18 (OpenPose-18/COCO-18) or 25 "
                     "(BODY_25)")


def _flat(kp, scale2) -> list:
    """[N,3] → flat [x,y,c,...]; missing → 0,0,0 (controlnet_aux's encoding)."""
    out = []
    for x, y, c in kp:
        if c > 0:
            out += [float(x) / float(scale2[0]), float(y) / float(scale2[1]), float(c)]
        else:
            out += [0.0, 0.0, 0.0]
    return out


def _disco_frames(obj) -> list:
    """Normalise DisCo JSON input to a list of frames, each a list of person dicts."""
    if isinstance(obj, dict):
        if "keypoints" in obj:
            return [[obj]]
        raise InputError(f"this JSON object (keys {', '.join(map(str, list(obj)[:5])) or 'none'}) is not pose "
                         f"JSON; {POSE_JSON_HELP}")
    if not isinstance(obj, list):
        raise InputError(f"pose JSON must be a list of frames, got a {type(obj).__name__} ({str(obj)[:40]}); "
                         f"{POSE_JSON_HELP}")
    if not obj or all(isinstance(p, dict) for p in obj):
        return [obj]  # one frame (possibly with no person)
    if all(isinstance(f, list) for f in obj):
        return obj
    raise InputError("DisCo pose JSON mixes frames and people: give one frame (a list of person dicts) "
                     f"or a list of such frames; {POSE_JSON_HELP}")


def _coco_array(person, t) -> np.ndarray:
    try:
        kp = np.asarray(person.get("keypoints") if isinstance(person, dict) else person, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"frame {t}: DisCo keypoints must be 17 × [x, y, score] numbers (COCO-17), got "
                         f"{str(person)[:60]}; {POSE_JSON_HELP}") from None
    if kp.shape != (17, 3):
        raise InputError(f"frame {t}: a person must be 17 keypoints × [x, y, score] (COCO-17), got "
                         f"{str(person)[:60]} (shape {kp.shape}); {POSE_JSON_HELP}")
    return kp


def coco17_to_openpose18(coco: np.ndarray) -> np.ndarray:
    """COCO-17 [17,3] with negative coordinates for missing → OpenPose-18 [18,3] with NaN/0 for missing.

    DisCo ignores the score, so a joint counts as present when x ≥ 0 and y ≥ 0 (its drawing rule); its
    confidence is kept but floored at 1e-3 so it stays present. Neck = mid-shoulders when both exist.
    """
    coco = np.asarray(coco, np.float64)
    out = np.zeros((18, 3), np.float32)
    out[:, :2] = np.nan
    for i, j in enumerate(OPENPOSE18_TO_COCO17):
        x, y, s = coco[i]
        if np.isfinite([x, y]).all() and x >= 0 and y >= 0:
            out[j] = (x, y, max(float(s) if np.isfinite(s) else 1.0, 1e-3))
    if out[R_SHO, 2] > 0 and out[L_SHO, 2] > 0:
        out[NECK] = ((out[R_SHO, 0] + out[L_SHO, 0]) / 2, (out[R_SHO, 1] + out[L_SHO, 1]) / 2,
                     min(out[R_SHO, 2], out[L_SHO, 2]))
    return out


def coco17_to_disco18(coco: np.ndarray) -> np.ndarray:
    """DisCo's own re-ordering for drawing (`create_custom_dataset_tsvs.py:104-123`): [18,2] with the raw
    (possibly -1) coordinates and the neck = mean of the shoulders even when one is missing."""
    coco = np.asarray(coco, np.float64)
    pts = np.full((18, 2), -1.0)
    for i, j in enumerate(OPENPOSE18_TO_COCO17):
        pts[j] = coco[i, :2]
    pts[NECK] = (coco[5, :2] + coco[6, :2]) / 2
    return pts


# ---- what pose JSON looks like, for every message (json_format.py reads it) -------------------------------
POSE_JSON_HELP = ("give DisCo JSON ([{\"keypoints\": [[x, y, score] x 17]}] per frame), OpenPose JSON "
                  "({\"people\": [{\"pose_keypoints_2d\": [...]}]} per frame) or POSE_KEYPOINT JSON")
