"""The canvas extension in a real ComfyUI frontend, in headless Chromium: it loads without errors, every shipped
workflow opens with no missing nodes, every node on screen, no overlaps and its four titled groups, and after
queueing dance_basic the Pose Sequence and DisCo Sampler previews play frames. Screenshots are saved.

    COMFYUI_DIR=/path/to/ComfyUI python -m pytest -q tests/integration/test_browser.py
    DISCO_SCREENSHOTS=docs COMFYUI_DIR=... python -m pytest -q tests/integration/test_browser.py   # refresh docs/

Needs Debian's `chromium` (or CHROMIUM=/path/to/chrome) and `pip install playwright` (no browser download:
playwright drives the system Chromium). Skips, saying which, when ComfyUI, Chromium or playwright is missing.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from comfy_server import PACK_FOLDER, ROOT, comfyui_server, skip_without_comfyui

pytestmark = pytest.mark.integration

skip_without_comfyui()
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
if not CHROMIUM:
    pytest.skip("no Chromium found: install Debian's `chromium` package (or set CHROMIUM=/path/to/chrome)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (no browser download needed)")

WORKFLOWS = ["dance_basic", "background_swap", "pose_from_keypoints"]
GROUPS = ["Photo", "Motion", "Generate", "Save"]
VIEWPORT = {"width": 1600, "height": 900}
FRAMES = 12  # driving frames for the dance_basic run: enough to play, fast on the CPU with the tiny model
FAST = {"DisCoSampler": {"steps": 2, "width": 64, "height": 96, "frames_per_batch": 6, "seed": 3},
        "DisCoPoseSequence": {"max_frames": FRAMES}, "DisCoModelLoader": {"checkpoint": "tiny.safetensors"}}
RUN_TIMEOUT_MS = 300_000
PACK_SCRIPTS = f"/extensions/{PACK_FOLDER}/"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # previews on (latent2rgb on the CPU) so the sampler's step previews reach the page
    with comfyui_server(tmp_path_factory, FRAMES, preview_method="auto") as running:
        yield running


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = os.environ.get("DISCO_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def page(server):
    """The ComfyUI page, with every console error and uncaught exception recorded in page.problems."""
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        tab = browser.new_page(viewport=VIEWPORT)
        tab.problems, tab.responses = [], {}
        tab.on("response", lambda r: tab.responses.__setitem__(r.url, r.status))
        tab.on("pageerror", lambda e: tab.problems.append(f"pageerror: {e}\n{getattr(e, 'stack', '')}"))
        tab.on("console", lambda m: tab.problems.append(f"console.error: {m.text} @ {m.location}")
               if m.type == "error" else None)
        tab.goto(server["url"])
        tab.wait_for_function("window.app?.graph && window.app?.canvas && window.app?.extensions?.length",
                              timeout=120_000)
        tab.wait_for_timeout(1500)  # extensions finish their setup()
        close_dialogs(tab)
        yield tab
        browser.close()


def close_dialogs(page) -> None:
    page.evaluate("document.querySelectorAll('.p-dialog-close-button').forEach(b => b.click())")


def pack_problems(page) -> list[str]:
    return [p for p in page.problems if PACK_SCRIPTS in p]


def load_workflow(page, name: str) -> None:
    workflow = json.loads((ROOT / "workflows" / f"{name}.json").read_text())
    page.evaluate("wf => window.app.loadGraphData(wf)", workflow)
    page.wait_for_timeout(1000)  # the frontend fits the view in the next animation frame
    close_dialogs(page)


def test_extension_loads_and_registers_without_errors(page):
    names = page.evaluate("window.app.extensions.map(e => e.name)")
    assert "disco.canvas" in names
    ours = {url.split(PACK_SCRIPTS)[1]: status for url, status in page.responses.items() if PACK_SCRIPTS in url}
    assert ours == {"js/disco.js": 200, "js/disco_player.js": 200, "js/disco_pose_inputs.js": 200}
    assert pack_problems(page) == []
    setting = page.evaluate("window.app.extensionManager.setting.get('DisCo.Canvas.NodeColors')")
    assert setting is True


GEOMETRY = """() => {
  const canvas = window.app.canvas, ds = canvas.ds;
  const width = canvas.canvas.width / window.devicePixelRatio, height = canvas.canvas.height / window.devicePixelRatio;
  const screen = ([x, y, w, h]) => [(x + ds.offset[0]) * ds.scale, (y + ds.offset[1]) * ds.scale, w * ds.scale,
                                    h * ds.scale];
  return {
    view: [width, height],
    missing: window.app.graph.nodes.filter(n => !(n.type in LiteGraph.registered_node_types)).map(n => n.type),
    nodes: window.app.graph.nodes.map(n => ({id: n.id, type: n.type, title: n.title, rect: [...n.boundingRect],
                                             screen: screen(n.boundingRect), hasErrors: !!n.has_errors})),
    groups: window.app.graph.groups.map(g => ({title: g.title, rect: [...g._bounding]})),
  };
}"""


def overlaps(a, b) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def inside(inner, outer) -> bool:
    return (outer[0] <= inner[0] and outer[1] <= inner[1] and inner[0] + inner[2] <= outer[0] + outer[2]
            and inner[1] + inner[3] <= outer[1] + outer[3])


@pytest.mark.parametrize("name", WORKFLOWS)
def test_workflow_opens_with_every_node_on_screen_no_overlaps_and_titled_groups(page, name, shots):
    load_workflow(page, name)
    geo = page.evaluate(GEOMETRY)
    page.screenshot(path=str(shots / f"{name}.png"))
    assert geo["missing"] == []
    nodes = geo["nodes"]
    assert {n["type"] for n in nodes} >= {"DisCoPoseSequence", "DisCoSampler"}
    width, height = geo["view"]
    for n in nodes:
        x, y, w, h = n["screen"]
        assert 0 <= x and 0 <= y and x + w <= width and y + h <= height, f"{n['title']} is off screen: {n['screen']}"
    for i, a in enumerate(nodes):
        for b in nodes[i + 1:]:
            assert not overlaps(a["rect"], b["rect"]), f"{a['title']} overlaps {b['title']}"
    assert [g["title"] for g in geo["groups"]] == GROUPS
    for n in nodes:
        if n["type"] in ("Note", "MarkdownNote"):
            continue
        homes = [g["title"] for g in geo["groups"] if inside(n["rect"], g["rect"])]
        assert len(homes) == 1, f"{n['title']} is in groups {homes}"
    assert pack_problems(page) == []


def test_pose_widgets_follow_the_source_and_retarget_follows_the_reference(page):
    load_workflow(page, "pose_from_keypoints")
    state = page.evaluate("""() => {
      const node = window.app.graph.nodes.find(n => n.type === 'DisCoPoseSequence');
      const hidden = () => Object.fromEntries(node.widgets.filter(w => !w.name.startsWith('disco_'))
                                                           .map(w => [w.name, !!w.hidden]));
      const retarget = () => node.widgets.find(w => w.name === 'retarget').value;
      const json = hidden();
      const link = node.inputs.find(i => i.name === 'reference').link;
      const source = window.app.graph.links[link] ?? window.app.graph.links.get?.(link);
      const from = window.app.graph.getNodeById(source.origin_id);
      node.disconnectInput(node.findInputSlot('reference'));
      const afterDisconnect = retarget();
      from.connect(source.origin_slot, node, node.findInputSlot('reference'));
      const afterConnect = retarget();
      const video = window.LiteGraph.createNode('LoadVideo');
      window.app.graph.add(video);
      video.connect(0, node, node.findInputSlot('frames')) ;
      return {json, afterDisconnect, afterConnect, video: hidden()};
    }""")
    assert state["json"]["pose_json"] is False and state["json"]["canvas_width"] is False
    assert state["afterDisconnect"] is False and state["afterConnect"] is True
    assert pack_problems(page) == []
