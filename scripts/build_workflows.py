"""Write the example workflows in both formats from one description per graph.

    python scripts/build_workflows.py            # rewrites workflows/*.json and workflows/api/*.json

UI format (what the canvas loads, schema 0.4) and API format (what /prompt runs) are generated from the same
nodes and links, with widget values placed by each node's input order (ours from INPUT_TYPES, core nodes from
tests/nodes/core_nodes.json), so the two never drift apart. tests/nodes/test_workflows.py checks the result.
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import workflow_layout as layout  # noqa: E402 - scripts/ is not a package

sys.path.insert(0, str(ROOT))
from tests.synthetic_inputs import dance_json  # noqa: E402 - the generated dancer the tests use too

OUT_UI, OUT_API = ROOT / "workflows", ROOT / "workflows" / "api"
CORE_NODES = ROOT / "tests" / "nodes" / "core_nodes.json"
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
CHECKPOINT = "disco_moretiktok_cfg.safetensors"
TEMPORAL_CHECKPOINT = "disco_temporal_moretiktok_cfg.safetensors"  # DisCo w/ temporal module, converted


def node_defs() -> dict:
    """/object_info-like definitions for our nodes and the core nodes the workflows use."""
    spec = importlib.util.spec_from_file_location("disco_workflow_pack", ROOT / "__init__.py",
                                                  submodule_search_locations=[str(ROOT)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    nodes = importlib.import_module(f"{spec.name}.nodes")
    defs = json.loads(CORE_NODES.read_text())["nodes"]
    for node_id, cls in nodes.NODE_CLASS_MAPPINGS.items():
        spec_in = cls.INPUT_TYPES()
        defs[node_id] = {
            "input": {k: v for k, v in spec_in.items() if k != "hidden"},
            "input_order": {k: list(v) for k, v in spec_in.items() if k != "hidden"},
            "output": list(cls.RETURN_TYPES), "output_name": list(cls.RETURN_NAMES),
            "display_name": nodes.NODE_DISPLAY_NAME_MAPPINGS[node_id],
        }
    return defs


def input_kind(entry) -> str:
    kind = entry[0]
    return "COMBO" if isinstance(kind, list) else kind


def is_widget(entry) -> bool:
    opts = entry[1] if len(entry) > 1 else {}
    return input_kind(entry) in WIDGET_TYPES and not opts.get("forceInput")


def ordered_inputs(d: dict) -> list[tuple[str, list]]:
    return [(name, d["input"][section][name]) for section in ("required", "optional")
            for name in d["input_order"].get(section, [])]


class Graph:
    """Nodes with titles, widget values by name and links by socket name; writes both formats."""

    def __init__(self, defs: dict):
        self.defs = defs
        self.nodes: list[dict] = []
        self.links: list[tuple] = []  # (from_id, output_name, to_id, input_name)
        self.notes: list[dict] = []

    def add(self, kind: str, title: str | None, col: int, row: int, **widgets) -> int:
        """A node in column `col` of its group (workflow_layout.GROUP_OF), stacked by `row`."""
        node_id = len(self.nodes) + len(self.notes) + 1
        self.nodes.append({"id": node_id, "type": kind, "title": title, "col": col, "row": row, "widgets": widgets})
        return node_id

    def note(self, text: str) -> None:
        """A note under the Save group."""
        node_id = len(self.nodes) + len(self.notes) + 1
        self.notes.append({"id": node_id, "type": "Note", "pos": None, "size": list(layout.NOTE_SIZE),
                           "flags": {}, "order": 0, "mode": 0, "inputs": [], "outputs": [],
                           "properties": {}, "widgets_values": [text], "color": "#432", "bgcolor": "#653"})

    def link(self, src: int, output: str, dst: int, name: str) -> None:
        self.links.append((src, output, dst, name))

    def _node(self, node_id: int) -> dict:
        return next(n for n in self.nodes if n["id"] == node_id)

    def _widget_value(self, node: dict, name: str, entry) -> object:
        if name in node["widgets"]:
            return node["widgets"][name]
        opts = entry[1] if len(entry) > 1 else {}
        if "default" in opts:
            return opts["default"]
        options = entry[0] if isinstance(entry[0], list) else opts.get("options", [])
        return options[0] if options else ""

    def api(self) -> dict:
        prompt = {}
        for node in self.nodes:
            d = self.defs[node["type"]]
            inputs = {}
            for name, entry in ordered_inputs(d):
                src = [(s, o) for s, o, t, n in self.links if t == node["id"] and n == name]
                if src:
                    s, o = src[0]
                    inputs[name] = [str(s), self.defs[self._node(s)["type"]]["output_name"].index(o)]
                elif is_widget(entry):
                    inputs[name] = self._widget_value(node, name, entry)
            prompt[str(node["id"])] = {"class_type": node["type"], "inputs": inputs,
                                       "_meta": {"title": node["title"] or d.get("display_name", node["type"])}}
        return prompt

    def ui(self) -> dict:
        link_rows, ui_nodes = [], []
        link_id = {}
        for i, (s, o, t, n) in enumerate(self.links, start=1):
            link_id[(s, o, t, n)] = i
        order = self._order()
        sizes = {n["id"]: layout.node_size(n["type"], self.defs[n["type"]], self._widget_names(n), n["widgets"])
                 for n in self.nodes}
        positions, groups, _ = layout.arrange(self.nodes, sizes)
        for note in self.notes:
            note["pos"] = layout.note_position(groups)
        for node in self.nodes:
            d = self.defs[node["type"]]
            inputs, values = [], []
            for name, entry in ordered_inputs(d):
                lid = next((link_id[k] for k in link_id if k[2] == node["id"] and k[3] == name), None)
                slot = {"name": name, "type": input_kind(entry), "link": lid}
                if is_widget(entry):
                    slot["widget"] = {"name": name}
                    values.append(self._widget_value(node, name, entry))
                    opts = entry[1] if len(entry) > 1 else {}
                    if opts.get("control_after_generate"):
                        values.append("fixed")
                    if opts.get("image_upload") or opts.get("video_upload"):
                        values.append("image")
                inputs.append(slot)
            outputs = [{"name": oname, "type": otype, "slot_index": i,
                        "links": [link_id[k] for k in link_id if k[0] == node["id"] and k[1] == oname]}
                       for i, (oname, otype) in enumerate(zip(d["output_name"], d["output"]))]
            entry = {"id": node["id"], "type": node["type"], "pos": positions[node["id"]],
                     "size": sizes[node["id"]], "flags": {}, "order": order[node["id"]],
                     "mode": 0, "inputs": inputs, "outputs": outputs,
                     "properties": {"Node name for S&R": node["type"]}, "widgets_values": values}
            if node["title"]:
                entry["title"] = node["title"]
            if node["type"].startswith("DisCo"):
                entry["properties"]["cnr_id"] = "comfyui-disco"  # colours come from the extension (a setting)
            ui_nodes.append(entry)
        for (s, o, t, n), lid in link_id.items():
            src, dst = self._node(s), self._node(t)
            from_slot = self.defs[src["type"]]["output_name"].index(o)
            to_slot = [name for name, _ in ordered_inputs(self.defs[dst["type"]])].index(n)
            kind = self.defs[src["type"]]["output"][from_slot]
            link_rows.append([lid, s, from_slot, t, to_slot, kind])
        all_nodes = ui_nodes + self.notes
        return {"last_node_id": max(n["id"] for n in all_nodes), "last_link_id": len(link_rows),
                "nodes": all_nodes, "links": link_rows, "groups": groups, "config": {},
                "extra": {}, "version": 0.4}  # no saved view: the frontend fits every node on screen

    def _widget_names(self, node: dict) -> list[str]:
        """Inputs shown as widgets (the 1.27 frontend keeps a row for a linked one too)."""
        return [name for name, entry in ordered_inputs(self.defs[node["type"]]) if is_widget(entry)]

    def _order(self) -> dict:
        done, order = set(), {}
        while len(done) < len(self.nodes):
            for node in self.nodes:
                deps = {s for s, _, t, _ in self.links if t == node["id"]}
                if node["id"] not in done and deps <= done:
                    order[node["id"]] = len(done)
                    done.add(node["id"])
        return order


def reference_and_model(g: Graph, checkpoint: str = CHECKPOINT) -> tuple[int, int]:
    loader = g.add("DisCoModelLoader", None, 0, 0, checkpoint=checkpoint)
    photo = g.add("LoadImage", "Reference photo", 0, 0, image="disco_reference.png")
    split = g.add("DisCoDisentangleImage", None, 1, 0)
    g.link(photo, "IMAGE", split, "image")
    return loader, split


def sampler_to_video(g: Graph, loader: int, split: int, poses: int, name: str, background: int | None = None,
                     smooth: bool = True, **sampler_widgets):
    sampler = g.add("DisCoSampler", None, 0, 1, seed=42, steps=30, cfg=1.5, **sampler_widgets)
    g.link(loader, "model", sampler, "model")
    g.link(split, "reference", sampler, "reference")
    g.link(poses, "poses", sampler, "poses")
    if background is not None:
        g.link(background, "IMAGE", sampler, "background")
    frames = sampler
    if smooth:
        frames = g.add("DisCoTemporalSmooth", None, 0, 2, strength=0.5)
        g.link(sampler, "frames", frames, "frames")
    video = g.add("CreateVideo", None, 0, 0)
    g.link(frames, "frames", video, "images")
    g.link(sampler, "fps", video, "fps")
    g.link(poses, "audio", video, "audio")  # the driving video's song, cut to the generated frames
    save = g.add("SaveVideo", None, 0, 1, filename_prefix=f"disco/{name}")
    g.link(video, "VIDEO", save, "video")


def video_poses(g: Graph, split: int) -> int:
    # Pose Sequence reads the VIDEO frame by frame (a full-size IMAGE batch of a song-length clip would not fit
    # in memory) and takes its frame rate and sound from it. Load Video's preview grows the node downwards.
    video = g.add("LoadVideo", "Driving video", 0, 0, file="disco_driving.mp4")
    poses = g.add("DisCoPoseSequence", None, 1, 0, smoothing=0.3, retarget=True)
    g.link(video, "VIDEO", poses, "video")
    g.link(split, "reference", poses, "reference")
    return poses


def dance_basic(defs) -> Graph:
    g = Graph(defs)
    loader, split = reference_and_model(g)
    sampler_to_video(g, loader, split, video_poses(g, split), "dance_basic")
    g.note("DisCo: photo + driving video -> dance video.\nPut a checkpoint in ComfyUI/models/disco "
           "(see the README), pick a photo of one person and a dance video, then Queue.\nRight-click Pose Sequence → "
           "Queue Selected Output Nodes to check the motion on the photo first.")
    return g


def dance_temporal(defs) -> Graph:
    g = Graph(defs)
    loader, split = reference_and_model(g, TEMPORAL_CHECKPOINT)
    sampler_to_video(g, loader, split, video_poses(g, split), "dance_temporal", smooth=False, window=16,
                     overlap=4, frames_per_batch=16)
    g.note("DisCo temporal model: photo + driving video of any length -> dance video. Put a temporal checkpoint "
           "(DisCo w/ temporal module, converted) in ComfyUI/models/disco. It draws 16 frames at a time; longer "
           "videos run as overlapping windows (window / overlap on the sampler) blended at every step, so no "
           "Temporal Smooth is needed.")
    return g


def dance_cluster(defs) -> Graph:
    """dance_temporal rendered on a Ray cluster: DisCo Cluster into the sampler's `cluster` input."""
    g = Graph(defs)
    loader, split = reference_and_model(g, TEMPORAL_CHECKPOINT)
    cluster = g.add("DisCoCluster", None, 0, 2, address="local", workers=2, gpus_per_worker=-1.0)
    sampler_to_video(g, loader, split, video_poses(g, split), "dance_cluster", smooth=False, window=16,
                     overlap=4, frames_per_batch=16)
    sampler = next(n["id"] for n in g.nodes if n["type"] == "DisCoSampler")
    g.link(cluster, "cluster", sampler, "cluster")
    g.note("DisCo on a Ray cluster: the same video, split across workers (GPUs or machines). address: local "
           "(a private Ray here), auto (the cluster this machine joined) or ray://HOST:10001. Every worker loads "
           "the checkpoint from the same path. Needs `pip install ray`; see docs/cluster.md.")
    return g


def background_swap(defs) -> Graph:
    g = Graph(defs)
    loader, split = reference_and_model(g)
    background = g.add("LoadImage", "Background", 1, 1, image="disco_background.png")
    sampler_to_video(g, loader, split, video_poses(g, split), "background_swap", background)
    g.note("Background swap: the person from the photo dances in front of the 'Background' image "
           "(one image, or a batch with one image per frame).")
    return g


def pose_keypoint_json() -> str:
    """A generated dancer (tests/synthetic_inputs.py: a figure waving its arms, 12 frames, 604x1080) as
    POSE_KEYPOINT JSON, normalised coordinates. Generated, not taken from ../shared/data: the workflow is shipped."""
    parse_pose_text = importlib.import_module("disco_workflow_pack.disco_core.pose").parse_pose_text
    canvas = (604, 1080)
    seq = parse_pose_text(dance_json(12, canvas), canvas=canvas)
    frames = seq.to_pose_keypoint()
    for frame in frames:  # keep the text short: body only, 4 decimals
        for person in frame["people"]:
            person["pose_keypoints_2d"] = [round(v, 4) for v in person["pose_keypoints_2d"]]
            for key in [k for k in person if k != "pose_keypoints_2d"]:
                del person[key]
    return json.dumps(frames, separators=(",", ":"))


def pose_from_keypoints(defs) -> Graph:
    g = Graph(defs)
    loader, split = reference_and_model(g)
    poses = g.add("DisCoPoseSequence", None, 0, 0, fps=10.0, retarget=True, pose_json=pose_keypoint_json())
    g.link(split, "reference", poses, "reference")
    sampler_to_video(g, loader, split, poses, "pose_from_keypoints")
    g.note("Poses from keypoints: paste OpenPose / DisCo / POSE_KEYPOINT JSON into pose_json, or connect "
           "DWPose Estimator's POSE_KEYPOINT output (comfyui_controlnet_aux) to pose_keypoint - it wins over the "
           "text.")
    return g


def personalise_and_dance(defs) -> Graph:
    """Fine-tune on a short clip of the person first (DisCo Fine-Tune), then animate them with that model."""
    g = Graph(defs)
    loader, split = reference_and_model(g)
    clip = g.add("LoadVideo", "Person clip", 2, 1, file="disco_person.mp4")
    parts = g.add("GetVideoComponents", None, 2, 0)
    g.link(clip, "VIDEO", parts, "video")
    tune = g.add("DisCoFineTune", None, 1, 0, steps=500, batch_size=8, save_name="my_person")
    g.link(loader, "model", tune, "model")
    g.link(parts, "images", tune, "frames")
    curve = g.add("PreviewImage", "Loss curve", 1, 1)
    g.link(tune, "loss_curve", curve, "images")
    sampler_to_video(g, tune, split, video_poses(g, split), "personalise_and_dance")
    g.note("Personalise, then dance: DisCo Fine-Tune learns the person from 'Person clip' (a few seconds of "
           "them moving, whole body; masks and poses are detected), saves models/disco/personal/my_person."
           "safetensors, and the sampler animates the photo with the personalised model. Next time, pick "
           "my_person in Load DisCo Model's personalisation input and drop the Fine-Tune node.")
    return g


WORKFLOWS = {"dance_basic": dance_basic, "background_swap": background_swap,
             "pose_from_keypoints": pose_from_keypoints, "dance_temporal": dance_temporal,
             "personalise_and_dance": personalise_and_dance, "dance_cluster": dance_cluster}


def main() -> int:
    defs = node_defs()
    OUT_API.mkdir(parents=True, exist_ok=True)
    for name, build in WORKFLOWS.items():
        g = build(defs)
        (OUT_UI / f"{name}.json").write_text(json.dumps(g.ui(), indent=1) + "\n")
        (OUT_API / f"{name}.json").write_text(json.dumps(g.api(), indent=1) + "\n")
        print(f"wrote workflows/{name}.json and workflows/api/{name}.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
