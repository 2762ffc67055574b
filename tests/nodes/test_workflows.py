"""Every shipped workflow (UI and API format) only uses nodes that exist, links matching socket types and widget
values our inputs accept. Core nodes are checked against tests/nodes/core_nodes.json (ComfyUI a125cd84)."""
import json
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[2]
CORE = json.loads((Path(__file__).parent / "core_nodes.json").read_text())["nodes"]
FRONTEND_ONLY = {"Note", "MarkdownNote"}  # canvas annotations, never sent to /prompt
FILE_COMBOS = {("DisCoModelLoader", "checkpoint"), ("LoadImage", "image"), ("LoadVideo", "file")}
NAMES = ["dance_basic", "background_swap", "pose_from_keypoints", "dance_temporal", "personalise_and_dance"]
WIDGETS = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}


@pytest.fixture(scope="module")
def defs(pack):
    out = dict(CORE)
    for node_id, cls in pack.NODE_CLASS_MAPPINGS.items():
        spec = cls.INPUT_TYPES()
        out[node_id] = {"input": {k: v for k, v in spec.items() if k != "hidden"},
                        "input_order": {k: list(v) for k, v in spec.items() if k != "hidden"},
                        "output": list(cls.RETURN_TYPES), "output_name": list(cls.RETURN_NAMES)}
    return out


def inputs_of(d):
    return [(n, d["input"][s][n]) for s in ("required", "optional") for n in d["input_order"].get(s, [])]


def kind(entry):
    return "COMBO" if isinstance(entry[0], list) else entry[0]


def check_value(node_type, name, entry, value):
    opts = entry[1] if len(entry) > 1 else {}
    k = kind(entry)
    where = f"{node_type}.{name}={value!r}"
    if k == "COMBO":
        options = entry[0] if isinstance(entry[0], list) else opts.get("options", [])
        assert isinstance(value, str), where
        assert (node_type, name) in FILE_COMBOS or value in options, f"{where} not in {options}"
    elif k == "INT":
        assert isinstance(value, int) and not isinstance(value, bool), where
        assert opts.get("min", value) <= value <= opts.get("max", value), where
    elif k == "FLOAT":
        assert isinstance(value, (int, float)) and not isinstance(value, bool), where
        assert opts.get("min", value) <= value <= opts.get("max", value), where
    elif k == "BOOLEAN":
        assert isinstance(value, bool), where
    elif k == "STRING":
        assert isinstance(value, str), where


@pytest.mark.parametrize("name", NAMES)
def test_ui_workflow_nodes_links_and_widgets(name, defs):
    wf = json.loads((ROOT / "workflows" / f"{name}.json").read_text())
    assert wf["version"] == 0.4 and {"nodes", "links", "last_node_id", "last_link_id"} <= set(wf)
    nodes = {n["id"]: n for n in wf["nodes"]}
    for node in nodes.values():
        assert node["type"] in defs or node["type"] in FRONTEND_ONLY, f"unknown node type {node['type']}"
    for link_id, src, src_slot, dst, dst_slot, link_type in wf["links"]:
        s, t = nodes[src], nodes[dst]
        assert defs[s["type"]]["output"][src_slot] == link_type
        assert link_id in s["outputs"][src_slot]["links"]
        slot = t["inputs"][dst_slot]
        assert slot["link"] == link_id
        entry = dict(inputs_of(defs[t["type"]]))[slot["name"]]
        assert kind(entry) == link_type, f"{name}: {s['type']} -> {t['type']}.{slot['name']}"
    for node in nodes.values():
        if node["type"] in FRONTEND_ONLY:
            continue
        d = defs[node["type"]]
        values = list(node["widgets_values"])
        for input_name, entry in inputs_of(d):
            opts = entry[1] if len(entry) > 1 else {}
            if kind(entry) not in WIDGETS or opts.get("forceInput"):
                continue
            check_value(node["type"], input_name, entry, values.pop(0))
            if opts.get("control_after_generate"):
                assert values.pop(0) in ("fixed", "increment", "decrement", "randomize")
            if opts.get("image_upload") or opts.get("video_upload"):
                values.pop(0)
        assert values == [], f"{name}: {node['type']} has {len(values)} extra widget values"


@pytest.mark.parametrize("name", NAMES)
def test_api_workflow_matches_sockets_and_the_ui_version(name, defs):
    prompt = json.loads((ROOT / "workflows" / "api" / f"{name}.json").read_text())
    ui = json.loads((ROOT / "workflows" / f"{name}.json").read_text())
    ui_types = {str(n["id"]): n["type"] for n in ui["nodes"] if n["type"] not in FRONTEND_ONLY}
    assert {k: v["class_type"] for k, v in prompt.items()} == ui_types
    for node_id, node in prompt.items():
        d = defs[node["class_type"]]
        spec = dict(inputs_of(d))
        assert set(d["input"].get("required", {})) <= set(node["inputs"]), f"{name}: {node_id} misses inputs"
        for input_name, value in node["inputs"].items():
            entry = spec[input_name]
            if isinstance(value, list):
                src = prompt[value[0]]
                assert defs[src["class_type"]]["output"][value[1]] == kind(entry)
            else:
                check_value(node["class_type"], input_name, entry, value)
    assert any(n["class_type"] == "SaveVideo" for n in prompt.values())
    assert {n["_meta"]["title"] for n in prompt.values()} >= {"Reference photo", "Load DisCo Model", "DisCo Sampler"}


def test_workflows_are_what_the_generator_writes(tmp_path, monkeypatch):
    """workflows/*.json are generated by scripts/build_workflows.py; edit that script, not the JSON."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_workflows", ROOT / "scripts" / "build_workflows.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    monkeypatch.setattr(build, "OUT_UI", tmp_path)
    monkeypatch.setattr(build, "OUT_API", tmp_path / "api")
    build.main()
    for name in NAMES:
        assert (tmp_path / f"{name}.json").read_text() == (ROOT / "workflows" / f"{name}.json").read_text()
        assert (tmp_path / "api" / f"{name}.json").read_text() == \
            (ROOT / "workflows" / "api" / f"{name}.json").read_text()


@pytest.mark.parametrize("name", NAMES)
def test_ui_workflow_layout_groups_nodes_without_overlaps(name):
    """Saved sizes already leave room for what the canvas draws (tests/integration/test_browser.py measures the
    real frontend); here: four titled groups, each node in exactly one, no two nodes (title bars included)
    overlapping, and no saved view so the frontend fits every node on screen."""
    wf = json.loads((ROOT / "workflows" / f"{name}.json").read_text())
    title_bar = 30

    def rect(n):
        return (n["pos"][0], n["pos"][1] - title_bar, n["size"][0], n["size"][1] + title_bar)

    def overlaps(a, b):
        return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]

    def inside(a, g):
        return g[0] <= a[0] and g[1] <= a[1] and a[0] + a[2] <= g[0] + g[2] and a[1] + a[3] <= g[1] + g[3]

    assert "ds" not in wf.get("extra", {})
    assert [g["title"] for g in wf["groups"]] == ["Photo", "Motion", "Generate", "Save"]
    nodes = wf["nodes"]
    for i, a in enumerate(nodes):
        for b in nodes[i + 1:]:
            assert not overlaps(rect(a), rect(b)), f"{name}: {a['type']} overlaps {b['type']}"
    for n in nodes:
        homes = [g["title"] for g in wf["groups"] if inside(rect(n), g["bounding"])]
        assert len(homes) == (0 if n["type"] in FRONTEND_ONLY else 1), f"{name}: {n['type']} in groups {homes}"
    for a, b in [(g, h) for i, g in enumerate(wf["groups"]) for h in wf["groups"][i + 1:]]:
        assert not overlaps(a["bounding"], b["bounding"])
