"""Built-in pose detector and person mask against OpenPose / DisCo's masks on held-out crops of the shared frames.

python bench/pose_accuracy.py [--data ../shared/data] [--every N]

The evaluation set is bench/pose_crops.py's: the frames of ../shared/data/sequences cut at many hip heights and
scales (person 75-100 % of the height, cut off below the hips), mirrored and slightly rotated, split by source clip
into a DESIGN part (looked at while designing the detector's hip rule) and a SCORED part (scored only at the end).
PCK@a: a joint is correct when it lies within a x torso length (OpenPose neck to mid-hip) of OpenPose's; a joint
OpenPose found inside the image that we miss counts as wrong. Exits 1 when the SCORED part misses the goal
(PCK@0.1 >= 0.85 and PCK@0.2 >= 0.95) or either part falls more than 0.01 below the figures the docs report.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
L_SHO, R_SHO, L_HIP, R_HIP = 5, 6, 11, 12  # COCO-17
GOAL = {"pck01": 0.85, "pck02": 0.95}       # issue 16, on the SCORED part
# What docs/accuracy.md reports (full set, mediapipe 0.10.21 CPU); the bench fails 0.01 below any of them.
FIGURES = {"design": {"pck01": 0.950, "pck02": 0.998, "iou_min": 0.933, "iou_mean": 0.965},
           "scored": {"pck01": 0.933, "pck02": 0.997, "iou_min": 0.903, "iou_mean": 0.972}}
TOLERANCE = 0.01


def joint_errors(pred17: np.ndarray, ref17: np.ndarray, torso: float) -> tuple[np.ndarray, np.ndarray]:
    """(errors in torso lengths, COCO index) for every joint OpenPose found ([-1,-1] = not found); missed = inf."""
    found = (ref17[:, 0] >= 0) & (ref17[:, 1] >= 0)
    e = np.linalg.norm(pred17[:, :2] - ref17[:, :2], axis=1) / torso
    return np.where(np.isfinite(e), e, np.inf)[found], np.flatnonzero(found)


def evaluate(data: Path = DEFAULT_DATA, parts=("design", "scored"), every: int = 1, masks: bool = True) -> dict:
    """Per part: PCK@0.1/0.2 (all crops and the uncut frames alone), per joint type, hip offsets, mask IoU."""
    from bench.pose_crops import make_crops
    from disco_core.pose.detect import blazepose_landmarks, blazepose_to_openpose18
    from disco_core.pose.keypoints import OPENPOSE18_NAMES, OPENPOSE18_TO_COCO17
    from disco_core.pose.segment import segment_person

    landmarks, close = blazepose_landmarks()
    out = {}
    try:
        for part in parts:
            errs, joints, whole, hip_dy, ious, n = [], [], [], [], [], 0
            for c in make_crops(data, part, every):
                h, w = c.image.shape[:2]
                p = blazepose_to_openpose18(landmarks(c.image), w, h)[OPENPOSE18_TO_COCO17]
                e, j = joint_errors(p, c.ref, c.torso)
                errs.append(e)
                joints.append(j)
                whole.append(np.full(len(e), c.label == "whole frame"))
                hip_dy += [(p[k, 1] - c.ref[k, 1]) / c.torso for k in (L_HIP, R_HIP) if c.ref[k, 0] >= 0]
                if masks:
                    pm = segment_person(c.image) > 0.5
                    ious.append((pm & c.mask).sum() / (pm | c.mask).sum())
                n += 1
            e, j, whole = np.concatenate(errs), np.concatenate(joints), np.concatenate(whole)
            pck = lambda x, a: float((x <= a).mean())  # noqa: E731
            per_joint = {OPENPOSE18_NAMES[OPENPOSE18_TO_COCO17[k]]: (pck(e[j == k], 0.1), pck(e[j == k], 0.2),
                                                                     int((j == k).sum()))
                         for k in range(17) if (j == k).any()}
            out[part] = {"crops": n, "joints": len(e), "pck01": pck(e, 0.1), "pck02": pck(e, 0.2),
                         "whole_pck01": pck(e[whole], 0.1), "whole_pck02": pck(e[whole], 0.2),
                         "whole_joints": int(whole.sum()), "per_joint": per_joint,
                         "hip_dy_median": float(np.nanmedian(hip_dy)),
                         "hip_dy_range": (float(np.nanmin(hip_dy)), float(np.nanmax(hip_dy)))}
            if masks:
                out[part].update(iou_min=float(np.min(ious)), iou_mean=float(np.mean(ious)))
    finally:
        close()
    return out


def failures(result: dict, figures: bool = True) -> list[str]:
    """What misses the goal (SCORED part) or, for the full set, the reported figures (either part)."""
    bad = []
    scored = result.get("scored")
    if scored:
        bad += [f"scored {k} {scored[k]:.3f} < goal {v}" for k, v in GOAL.items() if scored[k] < v]
    for part, reported in FIGURES.items() if figures else ():
        for k, v in reported.items():
            if part in result and k in result[part] and result[part][k] < v - TOLERANCE:
                bad.append(f"{part} {k} {result[part][k]:.3f} < reported {v:.3f} - {TOLERANCE}")
    return bad


def report(result: dict) -> str:
    lines = []
    for part, r in result.items():
        lines.append(f"{part.upper()}: {r['crops']} images, {r['joints']} joints: PCK@0.1 {r['pck01']:.3f}  "
                     f"PCK@0.2 {r['pck02']:.3f}   (uncut frames alone, {r['whole_joints']} joints: "
                     f"{r['whole_pck01']:.3f} / {r['whole_pck02']:.3f})")
        lines.append("  per joint (PCK@0.1 / PCK@0.2, joints): " + ", ".join(
            f"{name} {a:.2f}/{b:.2f} ({n})" for name, (a, b, n) in r["per_joint"].items()))
        lines.append(f"  hips vs OpenPose (torso lengths, + = lower): median {r['hip_dy_median']:+.3f}, "
                     f"range {r['hip_dy_range'][0]:+.3f} .. {r['hip_dy_range'][1]:+.3f}")
        if "iou_min" in r:
            lines.append(f"  person mask IoU vs DisCo's: min {r['iou_min']:.3f}, mean {r['iou_mean']:.3f}")
    return "\n".join(lines)


def main(argv=None) -> int:
    sys.path.insert(0, str(ROOT))
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--every", type=int, default=1, help="keep every n-th crop (the full set is 1)")
    p.add_argument("--parts", default="design,scored")
    p.add_argument("--no-masks", action="store_true", help="skip the person-mask IoU")
    args = p.parse_args(argv)
    result = evaluate(args.data, tuple(args.parts.split(",")), args.every, not args.no_masks)
    print(report(result))
    bad = failures(result, figures=args.every == 1)
    for line in bad:
        print("FAIL:", line)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
