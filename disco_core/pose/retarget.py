"""Retarget driving poses onto the reference photo's body.

Every bone of the driving pose keeps its direction (so joint angles are the driver's) and gets the length
of the same bone in the reference, via a per-bone ratio ref_length / driver_length. The driver's length is
a high quantile over all frames (2-D bones only look shorter when foreshortened), not frame 0 alone.
Bones the reference does not show keep the driver's proportions, scaled by the torso ratio. The figure is
anchored at the neck: on the driver's first frame it sits where the reference's neck is, and it moves as
the driver's neck moves, scaled by the torso ratio, on the reference's canvas.
"""
from __future__ import annotations

import numpy as np

from ..errors import InputError
from .keypoints import (L_ANK, L_EAR, L_ELB, L_EYE, L_HIP, L_KNEE, L_SHO, L_WRI, NECK, NOSE, R_ANK, R_EAR,
                        R_ELB, R_EYE, R_HIP, R_KNEE, R_SHO, R_WRI, PoseSequence)

# (parent, child) in breadth-first order from the neck: every joint is placed after its parent.
BONES = [(NECK, R_SHO), (NECK, L_SHO), (NECK, R_HIP), (NECK, L_HIP), (NECK, NOSE),
         (R_SHO, R_ELB), (L_SHO, L_ELB), (R_HIP, R_KNEE), (L_HIP, L_KNEE), (NOSE, R_EYE), (NOSE, L_EYE),
         (R_ELB, R_WRI), (L_ELB, L_WRI), (R_KNEE, R_ANK), (L_KNEE, L_ANK), (R_EYE, R_EAR), (L_EYE, L_EAR)]
# Quantile of the driver's per-frame bone lengths taken as its true length (robust to a few bad frames).
LENGTH_QUANTILE = 0.9


def _bone_lengths(kp: np.ndarray, quantile: float) -> np.ndarray:
    """[T,18,3] → per-bone robust length [len(BONES)], NaN where the bone is never seen."""
    out = np.full(len(BONES), np.nan)
    for b, (p, c) in enumerate(BONES):
        ok = (kp[:, p, 2] > 0) & (kp[:, c, 2] > 0)
        if ok.any():
            out[b] = np.quantile(np.linalg.norm(kp[ok, c, :2] - kp[ok, p, :2], axis=1), quantile)
    return out


def _torso_lengths(kp: np.ndarray, quantile: float) -> list[float]:
    """Candidate body scales, most reliable first: neck–mid-hip, shoulder width, neck–nose (NaN if unseen)."""
    def length(a, b_pair):
        ok = (kp[:, a, 2] > 0) & np.all([kp[:, j, 2] > 0 for j in b_pair], axis=0)
        if not ok.any():
            return np.nan
        mid = kp[ok][:, list(b_pair), :2].mean(axis=1)
        return float(np.quantile(np.linalg.norm(mid - kp[ok, a, :2], axis=1), quantile))

    shoulder = np.nan
    ok = (kp[:, R_SHO, 2] > 0) & (kp[:, L_SHO, 2] > 0)
    if ok.any():
        shoulder = float(np.quantile(np.linalg.norm(kp[ok, R_SHO, :2] - kp[ok, L_SHO, :2], axis=1), quantile))
    return [length(NECK, (R_HIP, L_HIP)), shoulder, length(NECK, (NOSE,))]


def body_scale(reference: PoseSequence, driving: PoseSequence) -> float:
    """Reference size / driver size from the first body measure both show."""
    ref = _torso_lengths(reference.keypoints, 0.5)
    drv = _torso_lengths(driving.keypoints, LENGTH_QUANTILE)
    for r, d in zip(ref, drv):
        if np.isfinite(r) and np.isfinite(d) and d > 1e-6 and r > 1e-6:
            return r / d
    raise InputError("cannot compare body sizes: the reference and the driving poses share no torso, "
                     "shoulders or head; check that both show a person (and the same side of the body)")


def retarget_poses(driving: PoseSequence, reference: PoseSequence, strength: float = 1.0) -> PoseSequence:
    """Driving poses with the reference body's bone lengths, placed on the reference's canvas.

    `reference`: the photo's pose (its first frame is used). `strength` blends each bone ratio
    towards the plain torso scale (0 = only move/scale the whole figure, 1 = full per-bone retarget).
    Frame count, missing joints and empty frames are preserved.
    """
    if len(reference) < 1 or reference.empty_frames[0]:
        raise InputError("the reference pose has no person: detect the pose of the reference photo first")
    if not 0.0 <= float(strength) <= 1.0:
        raise InputError(f"retarget strength must be in 0..1, got {strength}")
    ref = reference[0]
    rkp, dkp = ref.keypoints, driving.keypoints
    s = body_scale(ref, driving)
    ref_len = _bone_lengths(rkp, 0.5)
    drv_len = _bone_lengths(dkp, LENGTH_QUANTILE)
    ratio = np.where(np.isfinite(ref_len) & np.isfinite(drv_len) & (drv_len > 1e-6),
                     ref_len / np.where(drv_len > 1e-6, drv_len, 1.0), s)
    ratio = s + float(strength) * (ratio - s)

    # anchor: the driver's first visible neck (or any joint) goes to the same joint of the reference
    anchor_j = next((j for j in (NECK, NOSE, R_SHO, L_SHO, R_HIP, L_HIP)
                     if rkp[0, j, 2] > 0 and (dkp[:, j, 2] > 0).any()), None)
    if anchor_j is None:
        raise InputError("the reference and driving poses share no joint to anchor on (neck, nose, shoulders "
                         "or hips); check both poses")
    t0 = int(np.flatnonzero(dkp[:, anchor_j, 2] > 0)[0])
    ref_anchor, drv_anchor = rkp[0, anchor_j, :2].astype(np.float64), dkp[t0, anchor_j, :2].astype(np.float64)

    def place(p):  # whole-figure map: used for the root and any joint whose parent is missing
        return ref_anchor + s * (p - drv_anchor)

    out = np.zeros_like(dkp)
    out[..., :2] = np.nan
    for t in range(len(dkp)):
        d, o = dkp[t].astype(np.float64), out[t]
        seen = d[:, 2] > 0
        if seen[NECK]:
            o[NECK] = (*place(d[NECK, :2]), d[NECK, 2])
        for b, (p, c) in enumerate(BONES):
            if not seen[c]:
                continue
            if seen[p] and o[p, 2] > 0:
                o[c, :2] = o[p, :2] + ratio[b] * (d[c, :2] - d[p, :2])
            else:
                o[c, :2] = place(d[c, :2])
            o[c, 2] = d[c, 2]
    hands = face = None
    if driving.hands is not None:  # hands follow their wrist, scaled like the forearm
        hands = driving.hands.copy()
        for k, (wri, b) in enumerate(((L_WRI, BONES.index((L_ELB, L_WRI))), (R_WRI, BONES.index((R_ELB, R_WRI))))):
            hands[:, k, :, :2] = out[:, None, wri, :2] + ratio[b] * (driving.hands[:, k, :, :2] - dkp[:, None, wri, :2])
    if driving.face is not None:  # the face follows the nose, scaled like the head
        b = BONES.index((NECK, NOSE))
        face = driving.face.copy()
        face[..., :2] = out[:, None, NOSE, :2] + ratio[b] * (driving.face[..., :2] - dkp[:, None, NOSE, :2])
    return PoseSequence(out, ref.canvas, driving.fps, hands=hands, face=face, meta=dict(driving.meta))
