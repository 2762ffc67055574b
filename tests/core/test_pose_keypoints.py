"""PoseSequence and its converters: DisCo/COCO-17, POSE_KEYPOINT, OpenPose JSON, autodetection."""
import json
from pathlib import Path

import numpy as np
import pytest

from disco_core.errors import InputError
from disco_core.pose import PoseSequence, load_pose_file, parse_pose_text
from disco_core.pose.keypoints import L_SHO, NECK, OPENPOSE18_TO_COCO17, R_SHO

from tests.paths import SHARED


def _coco(seed=0):
    rng = np.random.default_rng(seed)
    kp = np.column_stack([rng.integers(0, 600, 17), rng.integers(0, 1000, 17), rng.uniform(0.2, 1, 17)])
    kp[[13, 16]] = -1  # a knee and an ankle missing
    return kp.tolist()


def test_disco_json_round_trip_and_neck():
    coco = _coco()
    seq = PoseSequence.from_disco_json([[{"keypoints": coco}], []], (604, 1080))
    assert len(seq) == 2 and seq.keypoints.shape == (2, 18, 3) and seq.keypoints.dtype == np.float32
    assert seq.empty_frames.tolist() == [False, True]
    assert np.allclose(seq.keypoints[0, NECK, :2], (seq.keypoints[0, R_SHO, :2] + seq.keypoints[0, L_SHO, :2]) / 2)
    # COCO joint i lands on OpenPose joint OPENPOSE18_TO_COCO17[i]
    for i, j in enumerate(OPENPOSE18_TO_COCO17):
        if coco[i][0] >= 0:
            assert seq.keypoints[0, j, :2].tolist() == coco[i][:2]
        else:
            assert seq.keypoints[0, j, 2] == 0 and np.isnan(seq.keypoints[0, j, 0])
    back = seq.to_disco_json()
    assert back[1] == [] and [k[:2] for k in back[0][0]["keypoints"]] == [k[:2] for k in coco]


def test_single_frame_and_single_person_forms():
    coco = _coco(1)
    a = PoseSequence.from_disco_json([{"keypoints": coco}], (10, 10))
    b = PoseSequence.from_disco_json({"keypoints": coco}, (10, 10))
    assert len(a) == len(b) == 1 and np.array_equal(a.keypoints, b.keypoints, equal_nan=True)
    assert PoseSequence.from_disco_json([], (10, 10)).empty_frames.tolist() == [True]
    with pytest.raises(InputError, match="17"):
        PoseSequence.from_disco_json([{"keypoints": [[1, 2, 3]] * 5}], (10, 10))


def test_pose_keypoint_is_normalised_by_its_canvas():
    seq = PoseSequence.from_disco_json([{"keypoints": _coco(2)}], (604, 1080))
    pk = seq.to_pose_keypoint()
    assert pk[0]["canvas_width"] == 604 and pk[0]["canvas_height"] == 1080
    flat = np.array(pk[0]["people"][0]["pose_keypoints_2d"]).reshape(18, 3)
    present = seq.keypoints[0, :, 2] > 0
    assert np.allclose(flat[present, 0] * 604, seq.keypoints[0, present, 0], atol=1e-3)
    assert (flat[~present] == 0).all()
    back = PoseSequence.from_pose_keypoint(pk)
    assert back.canvas == (604, 1080)
    assert np.allclose(back.keypoints, seq.keypoints, atol=1e-3, equal_nan=True)
    # a pixel-unit payload (some DWPose versions) read with units="pixels"
    pix = [{"people": [{"pose_keypoints_2d": (flat * [604, 1080, 1]).ravel().tolist()}],
            "canvas_width": 604, "canvas_height": 1080}]
    assert np.allclose(PoseSequence.from_pose_keypoint(pix, units="pixels").keypoints, seq.keypoints,
                       atol=1e-3, equal_nan=True)


def test_pose_keypoint_hands_face_and_no_people():
    hand = np.tile([0.5, 0.5, 1.0], 21).tolist()
    frames = [{"people": [{"pose_keypoints_2d": [0.5, 0.5, 1.0] * 18, "hand_left_keypoints_2d": hand,
                           "hand_right_keypoints_2d": None, "face_keypoints_2d": None}],
               "canvas_width": 100, "canvas_height": 200},
              {"people": [], "canvas_width": 100, "canvas_height": 200}]
    seq = PoseSequence.from_pose_keypoint(frames)
    assert seq.hands is not None and np.allclose(seq.hands[0, 0, :, :2], (50, 100))
    assert (seq.hands[0, 1, :, 2] == 0).all() and seq.face is None and seq.empty_frames.tolist() == [False, True]
    assert seq.to_pose_keypoint()[1]["people"] == []


def test_openpose_json_pixels_and_body25():
    body18 = np.arange(54, dtype=float).reshape(18, 3)
    body18[:, 2] = 1
    seq = PoseSequence.from_openpose_json({"people": [{"pose_keypoints_2d": body18.ravel().tolist()}]}, (640, 480))
    assert np.allclose(seq.keypoints[0], body18)
    body25 = np.zeros((25, 3))
    body25[:, 2] = 1
    body25[:, 0] = np.arange(25)
    seq25 = PoseSequence.from_openpose_json({"people": [{"pose_keypoints_2d": body25.ravel().tolist()}]}, (640, 480))
    assert seq25.keypoints[0, 8, 0] == 9  # BODY_25 RHip is index 9 (8 is MidHip)
    assert PoseSequence.from_openpose_json(seq.to_openpose_json(), (640, 480)).keypoints.tolist() == seq.keypoints.tolist()


def test_autodetect_flavours(tmp_path):
    seq = PoseSequence.from_disco_json([[{"keypoints": _coco(3)}], [{"keypoints": _coco(4)}]], (604, 1080))
    for text, canvas in [(json.dumps(seq.to_disco_json()), (604, 1080)),
                         (json.dumps(seq.to_pose_keypoint()), None),
                         (json.dumps(seq.to_openpose_json()), (604, 1080))]:
        got = parse_pose_text(text, canvas=canvas)
        assert len(got) == 2 and got.canvas == (604, 1080)
        assert np.allclose(got.keypoints, seq.keypoints, atol=1e-3, equal_nan=True)
    with pytest.raises(InputError, match="canvas"):
        parse_pose_text(json.dumps(seq.to_disco_json()))
    with pytest.raises(InputError, match="JSON"):
        parse_pose_text("{nope")
    # a folder of DisCo per-frame files, sorted by name
    for t, entry in enumerate(seq.to_disco_json()):
        (tmp_path / f"{t:03d}.png.json").write_text(json.dumps(entry))
    assert np.allclose(load_pose_file(tmp_path, canvas=(604, 1080)).keypoints, seq.keypoints, atol=1e-3,
                       equal_nan=True)
    with pytest.raises(InputError, match="not found"):
        load_pose_file(tmp_path / "missing.json", canvas=(1, 1))


NOT_POSE_JSON = {  # text -> the words that must name what it got
    "[[1, 2, 3]]": "a list of lists of numbers", "[1, 2, 3]": "a list of numbers",
    "[[[1, 2], [3, 4]]]": "a list of lists of lists of numbers", '[[1, "x"]]': "a list of lists of mixed values",
    '{"foo": 1}': "keys foo", '{"a": [1, 2]}': "a dict with keys a", "[{}]": "a list of empty dicts",
    '[{"score": 1}]': "a list of dicts with keys score", '"hello"': "a string", "123": "a number",
    "null": "the value null", "[[null]]": "a list of lists of null values"}


@pytest.mark.parametrize("canvas", [None, (640, 480)], ids=["no-canvas", "canvas"])
@pytest.mark.parametrize("text", list(NOT_POSE_JSON))
def test_text_that_is_not_pose_json_is_refused_as_such(text, canvas):
    """Issue 16: `[[1,2,3]]` was told to give a canvas. Each bad shape is refused as not pose JSON, naming what it
    got and the flavours that are read, with or without a canvas, and never blames the canvas. Mutations that
    must fail: dropping the `_check_disco_people` call in `_parse_pose_obj` (the canvas is blamed), or the
    top-level check before it (a list of numbers "mixes frames and people")."""
    with pytest.raises(InputError) as info:
        parse_pose_text(text, canvas=canvas)
    msg = str(info.value)
    assert "not pose JSON" in msg and NOT_POSE_JSON[text] in msg, msg
    assert 'DisCo JSON ([{"keypoints"' in msg and "OpenPose JSON" in msg and "POSE_KEYPOINT" in msg
    assert "canvas" not in msg and "mixes frames" not in msg


def test_pose_json_that_only_lacks_a_canvas_still_asks_for_it():
    """Real pose JSON without a frame size (and an empty frame list) still gets the canvas message, and a person
    of the wrong size is named with its frame, not called 'not pose JSON'."""
    for text in [json.dumps([[{"keypoints": _coco()}]]), "[]", "[[]]", json.dumps([[_coco()]])]:
        with pytest.raises(InputError, match="does not carry the frame size: give the canvas"):
            parse_pose_text(text)
    with pytest.raises(InputError, match=r"frame 0: a person must be 17 keypoints") as info:
        parse_pose_text('[{"keypoints": [[1, 2, 3]]}]')
    assert "not pose JSON" not in str(info.value)


def test_parsing_lives_in_json_format_and_the_old_imports_work():
    from disco_core.pose import json_format, keypoints, load_pose_file as lp, parse_pose_obj

    assert parse_pose_text is json_format.parse_pose_text and lp is json_format.load_pose_file
    assert parse_pose_obj is json_format.parse_pose_obj
    for module in (json_format, keypoints):
        assert len(Path(module.__file__).read_text().splitlines()) <= 400


def test_nan_inf_become_missing_and_bad_shapes_are_input_errors():
    kp = np.ones((2, 18, 3), np.float32)
    kp[0, 3] = (np.nan, 1, 1)
    kp[1, 4] = (1, np.inf, 1)
    seq = PoseSequence(kp, (10, 10))
    assert seq.keypoints[0, 3, 2] == 0 and seq.keypoints[1, 4, 2] == 0 and np.isnan(seq.keypoints[1, 4, 0])
    assert len(seq[[1]]) == 1 and len(seq[0]) == 1
    with pytest.raises(InputError):
        PoseSequence(np.ones((2, 17, 3)), (10, 10))
    with pytest.raises(InputError):
        PoseSequence(kp, (0, 10))


@pytest.mark.shared_data
def test_real_disco_json_folder_loads():
    seq = load_pose_file(SHARED / "data" / "sequences" / "001" / "openpose_json", canvas=(1080, 1920))
    assert len(seq) == 9 and not seq.empty_frames.any()
