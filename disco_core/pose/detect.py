"""Pose detection backends → PoseSequence (OpenPose-18, pixels of the input frames).

- `builtin`: mediapipe BlazePose (`model_complexity=1`, the one pose model inside the wheel, so offline),
  run on the frame and its mirror image and averaged, with the 33 landmarks mapped to OpenPose-18 and the
  hips moved to where OpenPose (which DisCo was trained on) puts them.
- `openpose`: the detector DisCo itself used (Hzzone pytorch-openpose body model, via controlnet_aux),
  needs `body_pose_model.pth` in the models folder.
- `dwpose`: DWPose via controlnet_aux (needs mmpose/mmdet and two checkpoints in the models folder).
Heavy imports happen only when a backend runs.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..errors import DependencyError, InputError
from .keypoints import L_HIP, L_SHO, NECK, R_HIP, R_SHO, PoseSequence

BACKENDS = ("builtin", "openpose", "dwpose")

# BlazePose landmark index for each OpenPose-18 joint (neck is derived from the shoulders).
# mediapipe `PoseLandmark`: 0 nose, 2/5 left/right eye, 7/8 ears, 11/12 shoulders, 13/14 elbows,
# 15/16 wrists, 23/24 hips, 25/26 knees, 27/28 ankles; "left" is the person's left in both conventions.
BLAZEPOSE_TO_OPENPOSE18 = [0, None, 12, 14, 16, 11, 13, 15, 24, 26, 28, 23, 25, 27, 5, 2, 8, 7]
# Mirror-image landmark pairs: index i of the flipped image's result is landmark BLAZEPOSE_MIRROR[i].
BLAZEPOSE_MIRROR = [0, 4, 5, 6, 1, 2, 3, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15, 18, 17, 20, 19, 22, 21, 24, 23,
                    26, 25, 28, 27, 30, 29, 32, 31]
# A landmark counts as detected when mediapipe's visibility reaches this and it lies on the canvas
# (OpenPose cannot find joints outside the frame; BlazePose extrapolates them).
MIN_VISIBILITY = 0.5
# ... or within this fraction of the canvas outside it: a joint at the frame edge (an elbow cut by the border)
# is one OpenPose still reports at the edge, so it is clamped onto the canvas instead of dropped.
EDGE_MARGIN = 0.03
# BlazePose puts the hips narrower than OpenPose's COCO-style hips: each hip moves outwards by this fraction of
# the hip width (0.05: the median on the DESIGN part of bench/pose_crops.py, 0.016-0.10 from the 10th to the 90th
# percentile).
HIP_OUT = 0.05
# ... and higher: BlazePose's torso (shoulder line to hip line) is 0.79-0.89 of OpenPose's on the DESIGN part, and
# on a body cut off at the hips it squashes the pelvis up towards the chest. So the hips go down the torso to the
# longest of BlazePose's own torso and the torsos the shoulder width and the upper arm imply in OpenPose's
# proportions (OpenPose's own keypoints on uncut frames: shoulder width / torso 0.62 and upper arm / torso 0.51
# on the DESIGN clip, 0.59 and 0.53 (medians) on the other dancer of ../shared/data/disco_demo/pose_json; the
# larger of each is used). A projected shoulder line or arm can only look shorter than it is (perspective
# aside), so each is a floor that a turned body or a foreshortened arm lowers but does not raise; taking the
# longest of the three makes a squashed pelvis the one cue that is outvoted. Only arms whose shoulder and elbow
# are kept as joints (visible, on the canvas or at its edge) count. Not the forearm: its wrist landmark sits in
# the hand and hands held towards the camera foreshorten it (0.23 torso lengths on the DESIGN part).
MIN_TORSO_PER_SHOULDER = 1 / 0.62
MIN_TORSO_PER_UPPER_ARM = 1 / 0.53
UPPER_ARMS = ((11, 13), (12, 14))  # BlazePose (shoulder, elbow), left and right

INSTALL_POSE = ('the built-in pose detector needs mediapipe: pip install "comfyui-disco[pose]" '
                '(or pip install "mediapipe>=0.10.9,<0.10.22")')

OPENPOSE_FILES = {"body_pose_model.pth": "https://huggingface.co/lllyasviel/Annotators/resolve/main/body_pose_model.pth"}
DWPOSE_FILES = {
    "dw-ll_ucoco_384.pth": "https://huggingface.co/wanghaofan/dw-ll_ucoco_384/resolve/main/dw-ll_ucoco_384.pth",
    "yolox_l_8x8_300e_coco_20211126_140236-d3bd2b23.pth": "https://download.openmmlab.com/mmdetection/v2.0/yolox/"
    "yolox_l_8x8_300e_coco/yolox_l_8x8_300e_coco_20211126_140236-d3bd2b23.pth",
}


def _frames_list(frames) -> list[np.ndarray]:
    if isinstance(frames, np.ndarray):
        frames = [frames] if frames.ndim == 3 else list(frames)
    out = []
    for i, f in enumerate(frames):
        f = np.asarray(f)
        if f.dtype != np.uint8:
            if np.issubdtype(f.dtype, np.floating) and f.size and float(np.nanmax(f)) <= 1.0:
                f = f * 255.0  # float images in 0..1, as ComfyUI's IMAGE holds them
            f = np.clip(np.nan_to_num(f), 0, 255).astype(np.uint8)
        if f.ndim != 3 or f.shape[2] not in (3, 4):
            raise InputError(f"frame {i} has shape {f.shape}; expected H×W×3 RGB")
        out.append(np.ascontiguousarray(f[..., :3]))
    if not out:
        raise InputError("no frames to detect poses in")
    if len({f.shape for f in out}) > 1:
        raise InputError("frames have different sizes; resize them to one size before pose detection")
    return out


def detect_poses(frames, backend: str = "builtin", models_dir=None, fps: float | None = None,
                 progress=None) -> PoseSequence:
    """Detect one person per frame. `frames`: uint8 [T,H,W,3] (or a list, or one H×W×3 image).

    Frames without a person get all joints missing (see `filtering.fill_missing`). `progress(i, n)` is
    called after each frame.
    """
    frames = _frames_list(frames)
    h, w = frames[0].shape[:2]
    return detect_pose_stream(frames, (w, h), backend, models_dir, fps, progress, total=len(frames))


def detect_pose_stream(frames, canvas: tuple[int, int], backend: str = "builtin", models_dir=None,
                       fps: float | None = None, progress=None, total: int | None = None) -> PoseSequence:
    """Detect one person per frame of an iterable of uint8 H×W×3 frames, one frame at a time (a video being
    decoded never has to exist in memory). The frames may be a scaled-down working copy of the video: keypoints
    are scaled to `canvas` (width, height), the size of the real frames. `progress(i, total)` after each frame."""
    detect_one, close = _backend(backend, models_dir)
    rows, size = [], None
    try:
        for t, frame in enumerate(frames):
            frame = np.ascontiguousarray(np.asarray(frame)[..., :3])
            if size is None:
                size = frame.shape[:2]
            elif frame.shape[:2] != size:
                raise InputError(f"frame {t} is {frame.shape[1]}x{frame.shape[0]} but the first frame was "
                                 f"{size[1]}x{size[0]}; resize the frames to one size before pose detection")
            rows.append(detect_one(frame))
            if progress:
                progress(t + 1, total)
    finally:
        if close:
            close()
    if not rows:
        raise InputError("no frames to detect poses in")
    kps = np.stack(rows).astype(np.float32)
    w, h = int(canvas[0]), int(canvas[1])
    if (w, h) != (size[1], size[0]):  # working copy -> pixels of the real frames
        kps[..., 0] *= w / size[1]
        kps[..., 1] *= h / size[0]
    return PoseSequence(kps, (w, h), fps)


def _backend(backend: str, models_dir):
    """(detect_one(frame) -> [18,3], close or None) for a backend name."""
    if backend == "builtin":
        return _blazepose()
    if backend == "openpose":
        return _openpose(models_dir), None
    if backend == "dwpose":
        return _dwpose(models_dir), None
    raise InputError(f"unknown pose backend {backend!r}; choose one of {', '.join(BACKENDS)}")


# ---- built-in: mediapipe BlazePose ------------------------------------------------------------------------
def import_mediapipe():
    try:
        import mediapipe as mp
        solutions = mp.solutions
    except (ImportError, AttributeError) as e:
        raise DependencyError(f"{INSTALL_POSE} ({e})") from e
    return solutions


def _blazepose():
    landmarks, close = blazepose_landmarks()

    def detect_one(image):
        return blazepose_to_openpose18(landmarks(image), image.shape[1], image.shape[0])

    return detect_one, close


def blazepose_landmarks():
    """(landmarks(image) -> [33,3] pixels x, y, visibility or None, close): BlazePose on an RGB uint8 frame and
    its mirror image, averaged (the raw input of `blazepose_to_openpose18`)."""
    solutions = import_mediapipe()

    def new_pose():  # model_complexity=1 is the only pose model shipped inside the wheel; 0 and 2 would download
        return solutions.pose.Pose(static_image_mode=True, model_complexity=1, enable_segmentation=False)

    # The frame and its mirror image go to two graphs, the mirror one on a worker thread: mediapipe releases the
    # GIL while its graph runs, so on 2 cores a frame takes ~0.6x the time of two passes in turn. Each graph is
    # in static-image mode (no state between calls), so the landmarks are the same as from one graph.
    pose, mirror_pose = new_pose(), new_pose()
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="disco-pose-mirror")

    def run(image, graph):
        h, w = image.shape[:2]
        res = graph.process(image)
        if res.pose_landmarks is None:
            return None
        return np.array([[p.x * w, p.y * h, p.visibility] for p in res.pose_landmarks.landmark], np.float64)

    def landmarks(image):
        w = image.shape[1]
        mirrored = worker.submit(run, np.ascontiguousarray(image[:, ::-1]), mirror_pose)
        a = run(image, pose)
        b = mirrored.result()
        if b is not None:  # mirrored result back into the frame: swap sides, flip x
            b = b[BLAZEPOSE_MIRROR]
            b[:, 0] = (w - 1) - b[:, 0]
        return a if b is None else b if a is None else (a + b) / 2

    def close():
        worker.shutdown(wait=True)
        pose.close()
        mirror_pose.close()

    return landmarks, close


def blazepose_to_openpose18(lm: np.ndarray | None, width: int, height: int) -> np.ndarray:
    """33 BlazePose landmarks (pixels x, y, visibility) → OpenPose-18 [18,3] with hips in OpenPose's place."""
    out = np.zeros((18, 3), np.float32)
    out[:, :2] = np.nan
    if lm is None:
        return out
    lm = np.asarray(lm, np.float64)
    mx, my = EDGE_MARGIN * width, EDGE_MARGIN * height

    def seen(p):  # a landmark we would keep: visible, and on the canvas or within the edge margin
        with np.errstate(invalid="ignore"):
            return ((p[..., 2] >= MIN_VISIBILITY) & (p[..., 0] >= -mx) & (p[..., 0] < width + mx)
                    & (p[..., 1] >= -my) & (p[..., 1] < height + my))

    xy = np.array([lm[i, :2] if i is not None else (np.nan, np.nan) for i in BLAZEPOSE_TO_OPENPOSE18])
    vis = np.array([lm[i, 2] if i is not None else 0.0 for i in BLAZEPOSE_TO_OPENPOSE18])
    # hips: computed from the raw landmarks, before any joint is dropped (OpenPose's torso length, then width)
    sho_mid, hip_mid = (xy[R_SHO] + xy[L_SHO]) / 2, (xy[R_HIP] + xy[L_HIP]) / 2
    down, across = hip_mid - sho_mid, xy[L_HIP] - xy[R_HIP]
    # upper arms whose shoulder and elbow are both seen (an extrapolated elbow off the frame is a guess)
    arms = [np.linalg.norm(lm[s, :2] - lm[e, :2]) for s, e in UPPER_ARMS if seen(lm[s]) and seen(lm[e])]
    torso = np.linalg.norm(down)
    floor = max([MIN_TORSO_PER_SHOULDER * np.linalg.norm(xy[L_SHO] - xy[R_SHO])]
                + [MIN_TORSO_PER_UPPER_ARM * a for a in arms])
    if np.isfinite(torso) and 0 < torso < floor:  # hips pulled up into the chest: lengthen the torso
        lift = down * (floor / torso - 1)
        xy[L_HIP], xy[R_HIP] = xy[L_HIP] + lift, xy[R_HIP] + lift
    xy[L_HIP] = xy[L_HIP] + HIP_OUT * across
    xy[R_HIP] = xy[R_HIP] - HIP_OUT * across
    xy[NECK] = sho_mid
    vis[NECK] = min(vis[R_SHO], vis[L_SHO])
    keep = np.isfinite(xy).all(axis=1) & seen(np.concatenate([xy, vis[:, None]], axis=1))
    xy = np.stack([np.clip(xy[:, 0], 0, width - 1), np.clip(xy[:, 1], 0, height - 1)], axis=1)
    out[keep, :2] = xy[keep]
    out[keep, 2] = vis[keep]
    return out


# ---- controlnet_aux backends --------------------------------------------------------------------------------
def _weights(models_dir, files: dict, backend: str) -> dict:
    where = "the folder given as models_dir (in ComfyUI: models/disco/annotators)"
    if models_dir is None:
        raise DependencyError(f"the {backend} backend needs its weights in a models folder; put "
                              + ", ".join(f"{n} (from {u})" for n, u in files.items())
                              + f" in {where} and pass it, or use backend='builtin'")
    found = {}
    for name, url in files.items():
        path = Path(models_dir) / name
        if not path.is_file():
            raise DependencyError(f"the {backend} backend needs {path}: download {name} from {url} into "
                                  f"{Path(models_dir)}, or use backend='builtin'")
        found[name] = path
    return found


def _openpose(models_dir):
    paths = _weights(models_dir, OPENPOSE_FILES, "openpose")
    try:
        from controlnet_aux.open_pose.body import Body
    except ImportError as e:
        raise DependencyError('the openpose backend needs controlnet-aux: pip install "comfyui-disco[annotators]" '
                              f"({e})") from e
    body = Body(str(paths["body_pose_model.pth"]))

    def detect_one(image):
        # Body expects BGR, as DisCo's annotator/openpose/run.py feeds it (cv2.imread)
        candidate, subset = body(np.ascontiguousarray(image[:, :, ::-1]))
        out = np.zeros((18, 3), np.float32)
        out[:, :2] = np.nan
        if len(subset) == 0:
            return out
        person = subset[0]  # DisCo keeps the first person
        for j in range(18):
            k = int(person[j])
            if k >= 0:
                out[j] = (candidate[k][0], candidate[k][1], candidate[k][2])
        return out

    return detect_one


def _dwpose(models_dir):
    paths = _weights(models_dir, DWPOSE_FILES, "dwpose")
    try:
        from controlnet_aux.dwpose.wholebody import Wholebody
    except ImportError as e:
        raise DependencyError('the dwpose backend needs controlnet-aux with mmpose, mmdet and mmcv: '
                              'pip install "comfyui-disco[annotators]" && mim install "mmcv>=2.0.1" '
                              f'"mmdet>=3.1.0" "mmpose>=1.1.0" ({e})') from e
    try:
        model = Wholebody(det_ckpt=str(paths["yolox_l_8x8_300e_coco_20211126_140236-d3bd2b23.pth"]),
                          pose_ckpt=str(paths["dw-ll_ucoco_384.pth"]))
    except NameError as e:  # controlnet_aux only warns when mmpose/mmdet are missing
        raise DependencyError('the dwpose backend needs mmpose, mmdet and mmcv: mim install "mmcv>=2.0.1" '
                              f'"mmdet>=3.1.0" "mmpose>=1.1.0" ({e})') from e

    def detect_one(image):
        out = np.zeros((18, 3), np.float32)
        out[:, :2] = np.nan
        candidate, subset = model(np.ascontiguousarray(image[:, :, ::-1]))
        if len(candidate) == 0:
            return out
        body, score = candidate[0, :18], subset[0, :18]  # OpenPose-18 order, pixels
        keep = score > 0.3  # controlnet_aux's own visibility threshold
        out[keep, :2] = body[keep]
        out[keep, 2] = score[keep]
        return out

    return detect_one
