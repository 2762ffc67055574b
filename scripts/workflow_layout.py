"""Canvas layout of the example workflows: four titled groups (Photo, Motion, Generate, Save), nodes stacked in
columns inside them, sizes that leave room for what the frontend draws, so that nothing overlaps.

Node sizes follow the 1.27 frontend's own arithmetic (NODE_SLOT_HEIGHT 20 per socket row, 24 per widget,
NODE_TITLE_HEIGHT 30 above the body) plus room for the pictures it shows (image/video previews, the pack's
players). The view is left to the frontend, which fits every node on screen when a workflow has no saved view.
tests/integration/test_browser.py checks the result in a real frontend.
"""
from __future__ import annotations

import math

GROUPS = ("Photo", "Motion", "Generate", "Save")
GROUP_OF = {
    "LoadImage": "Photo", "DisCoDisentangleImage": "Photo",
    "LoadVideo": "Motion", "GetVideoComponents": "Motion", "DisCoPoseSequence": "Motion",
    "DisCoModelLoader": "Generate", "DisCoSampler": "Generate", "DisCoTemporalSmooth": "Generate",
    "DisCoFineTune": "Generate", "PreviewImage": "Generate", "DisCoCluster": "Generate",
    "CreateVideo": "Save", "SaveVideo": "Save",
}
GROUP_COLOR = {"Photo": "#3f789e", "Motion": "#8A8", "Generate": "#a1309b", "Save": "#b06634"}
TITLE, SLOT, WIDGET, BODY_PAD = 30, 20, 24, 14  # frontend metrics, canvas pixels
WIDTH = 320
# After a run the frontend grows Save Video by its video preview: the node's width over the video's aspect ratio.
# Room for a 9:16 portrait (the phone video the pack is made for, the tallest output to expect) and the preview's
# own margin, so the node stays inside its group and clear of the note under it; narrower than the others, so
# that room does not make the Save column the tallest (a taller workflow is fitted on screen at a zoom where the
# frontend stops drawing text).
# Load Video grows the same way once a clip is picked: narrow enough that a 9:16 driving clip fits beside Pose
# Sequence without making the Motion group taller.
SAVE_VIDEO_WIDTH, LOAD_VIDEO_WIDTH, PORTRAIT, VIDEO_MARGIN = 240, 220, 16 / 9, 24  # margin: 22 px in the 1.27 frontend
WIDTH_OF = {"DisCoPoseSequence": 380, "DisCoSampler": 380, "SaveVideo": SAVE_VIDEO_WIDTH, "LoadVideo": LOAD_VIDEO_WIDTH}
PICTURE = {"LoadImage": 230, "DisCoPoseSequence": 210, "DisCoSampler": 210,  # previews
           "LoadVideo": math.ceil(LOAD_VIDEO_WIDTH * PORTRAIT) + VIDEO_MARGIN,
           "SaveVideo": math.ceil(SAVE_VIDEO_WIDTH * PORTRAIT) + VIDEO_MARGIN}
MULTILINE = 40  # extra height of a multiline text box over a one-line widget
GAP_X, GAP_Y = 40, 30  # between columns / between stacked nodes
PAD, PAD_TOP = 20, 50  # inside a group (PAD_TOP leaves room for its title)
GROUP_GAP = 50  # between groups
NOTE_SIZE = (340, 160)


def node_size(kind: str, d: dict, widget_names: list[str], values: dict) -> list[int]:
    """[width, height] of the node body (the title bar sits above it). `widget_names`: the inputs shown as
    widgets (not linked); `values`: the widget values the workflow sets."""
    inputs = [(n, e) for s in ("required", "optional") for n, e in d["input"].get(s, {}).items()]
    sockets = sum(1 for n, _ in inputs if n not in widget_names)
    if kind == "DisCoPoseSequence" and not values.get("pose_json"):
        # web/js/disco_pose_inputs.js hides the JSON widgets when another source is linked
        widget_names = [n for n in widget_names if n not in ("pose_json", "canvas_width", "canvas_height")]
    height = max(sockets, len(d["output"])) * SLOT + BODY_PAD + PICTURE.get(kind, 0)
    for name, entry in inputs:
        if name not in widget_names:
            continue
        opts = entry[1] if len(entry) > 1 else {}
        height += WIDGET * (1 + bool(opts.get("control_after_generate"))
                            + bool(opts.get("image_upload") or opts.get("video_upload")))
        height += MULTILINE if opts.get("multiline") else 0
    return [WIDTH_OF.get(kind, WIDTH), height]


def arrange(nodes: list[dict], sizes: dict[int, list[int]]) -> tuple[dict, list[dict], tuple[int, int, int, int]]:
    """Positions {node id: [x, y]} and the groups for `nodes` ({id, type, col, row}); also the bounding box of
    all groups. Inside its group a node sits in column `col`, stacked by `row`."""
    boxes, positions = {}, {}
    for group in GROUPS:
        members = [n for n in nodes if group_of(n) == group]
        columns = sorted({n["col"] for n in members})
        x, width, height = 0, 0, 0
        placed = {}
        for col in columns:
            stack = sorted((n for n in members if n["col"] == col), key=lambda n: n["row"])
            y, col_width = 0, 0
            for n in stack:
                placed[n["id"]] = (x, y + TITLE)
                y += TITLE + sizes[n["id"]][1] + GAP_Y
                col_width = max(col_width, sizes[n["id"]][0])
            x += col_width + GAP_X
            width, height = x - GAP_X, max(height, y - GAP_Y)
        boxes[group] = (placed, width, height)
    origin = {}
    photo_w, photo_h = _outer(boxes["Photo"])
    motion_w, _ = _outer(boxes["Motion"])
    origin["Photo"] = (0, 0)
    origin["Motion"] = (0, photo_h + GROUP_GAP)
    origin["Generate"] = (max(photo_w, motion_w) + GROUP_GAP, 0)
    origin["Save"] = (origin["Generate"][0] + _outer(boxes["Generate"])[0] + GROUP_GAP, 0)
    groups, right, bottom = [], 0, 0
    for i, group in enumerate(GROUPS, start=1):
        placed, width, height = boxes[group]
        gx, gy = origin[group]
        for node_id, (x, y) in placed.items():
            positions[node_id] = [gx + PAD + x, gy + PAD_TOP + y]
        w, h = _outer(boxes[group])
        groups.append({"id": i, "title": group, "bounding": [gx, gy, w, h], "color": GROUP_COLOR[group],
                       "font_size": 24, "flags": {}})
        right, bottom = max(right, gx + w), max(bottom, gy + h)
    return positions, groups, (0, 0, right, bottom)


def group_of(node: dict) -> str:
    try:
        return GROUP_OF[node["type"]]
    except KeyError:
        raise KeyError(f"scripts/workflow_layout.py: put node type {node['type']} into one of the groups "
                       f"{GROUPS} (GROUP_OF)") from None


def note_position(groups: list[dict]) -> list[int]:
    """Under the Save group."""
    x, y, _, h = next(g["bounding"] for g in groups if g["title"] == "Save")
    return [x, y + h + GROUP_GAP + TITLE]


def _outer(box) -> tuple[int, int]:
    _, width, height = box
    return width + 2 * PAD, height + PAD_TOP + PAD
