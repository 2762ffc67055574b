"""Built-in pose detector against OpenPose on the shared real frames: full frames and upper-body close-ups.

python bench/pose_accuracy.py [--data ../shared/data]

Close-ups are made, not chosen: every frame of ../shared/data/sequences is cropped (and its OpenPose keypoints
with it) to a 9:16 portrait window whose bottom edge sits just below the hips (hips at 88, 93 and 97 % of the
crop height), then resized to 1080x1920, the phone-video case. Nothing in the detector is fitted on these
frames or crops. PCK@a: a joint is correct when it lies within a x torso length (OpenPose neck to mid-hip,
in the scored image) of OpenPose's; a joint OpenPose found inside the image that we miss counts as wrong.
Also prints the person-mask IoU against DisCo's Grounded-SAM masks cropped the same way.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
HIP_POSITIONS = (0.88, 0.93, 0.97)  # where the OpenPose mid-hip lands, as a fraction of the crop height
CLOSEUP_SIZE = (1080, 1920)        # (width, height) the crops are resized to
L_SHO, R_SHO, L_HIP, R_HIP = 5, 6, 11, 12  # COCO-17


def load_sequence(seq_dir: Path):
    """-> frames uint8 [T,H,W,3], OpenPose COCO-17 keypoints [T,17,3] (-1 = missing), masks bool [T,H,W]."""
    from PIL import Image

    files = sorted((seq_dir / "frames").glob("*.png"))
    frames = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])
    kps = np.stack([np.asarray(json.loads((seq_dir / "openpose_json" / (f.name + ".json")).read_text())[0]
                               ["keypoints"], np.float64) for f in files])
    masks = np.stack([np.asarray(Image.open(seq_dir / "masks" / f.name).convert("L")) > 0 for f in files])
    return frames, kps, masks


def closeup_window(kp: np.ndarray, width: int, height: int, hip_at: float) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of a 9:16 window ending just below the hips, centred on the shoulders."""
    hip_y = (kp[L_HIP, 1] + kp[R_HIP, 1]) / 2
    top_y = max(0.0, min(kp[:5, 1][kp[:5, 1] >= 0].min(), kp[L_SHO, 1], kp[R_SHO, 1]) - 0.25 *
                (hip_y - (kp[L_SHO, 1] + kp[R_SHO, 1]) / 2))  # head room above the face
    crop_h = (hip_y - top_y) / hip_at
    crop_h = min(crop_h, height, width * 16 / 9)
    top = int(round(max(0.0, hip_y - hip_at * crop_h)))
    crop_h = int(round(crop_h))
    crop_w = int(round(crop_h * 9 / 16))
    cx = (kp[L_SHO, 0] + kp[R_SHO, 0]) / 2
    left = int(round(min(max(cx - crop_w / 2, 0), width - crop_w)))
    return left, top, left + crop_w, min(top + crop_h, height)


def crop(frame, kp, mask, box, size=CLOSEUP_SIZE):
    """Crop and resize a frame, its COCO-17 keypoints (joints outside the crop become missing) and its mask."""
    import cv2

    left, top, right, bottom = box
    sx, sy = size[0] / (right - left), size[1] / (bottom - top)
    img = cv2.resize(frame[top:bottom, left:right], size, interpolation=cv2.INTER_AREA)
    m = cv2.resize(mask[top:bottom, left:right].astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    out = np.full_like(kp, -1.0)
    for j, (x, y, s) in enumerate(kp):
        if x >= 0 and y >= 0 and left <= x < right and top <= y < bottom:
            out[j] = ((x - left) * sx, (y - top) * sy, s)
    return img, out, m


def joint_errors(pred17: np.ndarray, ref17: np.ndarray) -> np.ndarray:
    """Errors in torso lengths for every joint OpenPose found ([-1,-1] = not found); missed joints are inf."""
    neck = (ref17[L_SHO, :2] + ref17[R_SHO, :2]) / 2
    hips = ref17[[L_HIP, R_HIP]]
    if (hips[:, 0] >= 0).all():
        torso = np.linalg.norm(neck - hips[:, :2].mean(axis=0))
    else:  # a hip left the crop: use the full-frame torso, carried in ref17's scale by the caller
        raise ValueError("both hips must be in the scored image")
    found = (ref17[:, 0] >= 0) & (ref17[:, 1] >= 0)
    e = np.linalg.norm(pred17[:, :2] - ref17[:, :2], axis=1) / torso
    return np.where(np.isfinite(e), e, np.inf)[found]


def evaluate(data: Path = DEFAULT_DATA, hip_positions=HIP_POSITIONS) -> dict:
    """PCK on full frames and close-ups, per-joint-type hip error, and mask IoU on close-ups."""
    from disco_core.pose.detect import detect_poses
    from disco_core.pose.keypoints import OPENPOSE18_NAMES, OPENPOSE18_TO_COCO17
    from disco_core.pose.segment import segment_person

    full_err, crop_err, crop_joint, hip_dy, ious = [], [], [], [], []
    for seq_dir in sorted((data / "sequences").iterdir()):
        frames, kps, masks = load_sequence(seq_dir)
        pred = detect_poses(frames).keypoints[:, OPENPOSE18_TO_COCO17]
        full_err += [joint_errors(p, r) for p, r in zip(pred, kps)]
        h, w = frames.shape[1:3]
        for t in range(len(frames)):
            for hip_at in hip_positions:
                img, ref, mask = crop(frames[t], kps[t], masks[t], closeup_window(kps[t], w, h, hip_at))
                p = detect_poses(img).keypoints[0, OPENPOSE18_TO_COCO17]
                crop_err.append(joint_errors(p, ref))
                crop_joint.append(np.flatnonzero((ref[:, 0] >= 0) & (ref[:, 1] >= 0)))  # COCO index of each error
                torso = np.linalg.norm((ref[L_SHO, :2] + ref[R_SHO, :2]) / 2 - ref[[L_HIP, R_HIP], :2].mean(0))
                hip_dy += list((p[[L_HIP, R_HIP], 1] - ref[[L_HIP, R_HIP], 1]) / torso)
                pm = segment_person(img) > 0.5
                ious.append((pm & mask).sum() / (pm | mask).sum())
    full, crops, joint = np.concatenate(full_err), np.concatenate(crop_err), np.concatenate(crop_joint)
    pck = lambda e, a: float((e <= a).mean())  # noqa: E731
    # close-up joints outside PCK@0.1 / @0.2, by COCO joint name (where the close-up errors are)
    misses = {OPENPOSE18_NAMES[OPENPOSE18_TO_COCO17[j]]: (int((e > 0.1).sum()), int((e > 0.2).sum()))
              for j, e in ((j, crops[joint == j]) for j in range(17)) if (e > 0.1).any()}
    return {"full_pck01": pck(full, 0.1), "full_pck02": pck(full, 0.2), "full_joints": len(full),
            "crop_pck01": pck(crops, 0.1), "crop_pck02": pck(crops, 0.2), "crop_joints": len(crops),
            "crops": len(ious), "crop_misses": misses, "hip_dy_median": float(np.nanmedian(hip_dy)),
            "hip_dy_range": (float(np.nanmin(hip_dy)), float(np.nanmax(hip_dy))),
            "crop_iou_min": float(np.min(ious)), "crop_iou_mean": float(np.mean(ious))}


def main(argv=None) -> int:
    sys.path.insert(0, str(ROOT))
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = p.parse_args(argv)
    r = evaluate(args.data)
    print(f"full frames: PCK@0.1 {r['full_pck01']:.3f}  PCK@0.2 {r['full_pck02']:.3f}  ({r['full_joints']} joints)")
    print(f"close-ups:   PCK@0.1 {r['crop_pck01']:.3f}  PCK@0.2 {r['crop_pck02']:.3f}  ({r['crop_joints']} joints, "
          f"{r['crops']} crops)")
    print("close-up joints missed at 0.1 / 0.2: " + ", ".join(f"{n} {a}/{b}" for n, (a, b) in r["crop_misses"].items()))
    print(f"close-up hips vs OpenPose (torso lengths, + = lower): median {r['hip_dy_median']:+.3f}, "
          f"range {r['hip_dy_range'][0]:+.3f} .. {r['hip_dy_range'][1]:+.3f}")
    print(f"close-up person mask IoU: min {r['crop_iou_min']:.3f}  mean {r['crop_iou_mean']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
