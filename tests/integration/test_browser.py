"""The canvas extension in a real ComfyUI frontend, in headless Chromium: it loads without errors, every shipped
workflow opens with no missing nodes, every node on screen, no overlaps and its four titled groups, and after
queueing dance_basic the Pose Sequence and DisCo Sampler previews play frames and still nothing overlaps; a bad
input queued from the canvas opens ComfyUI's error dialog, which names the error `InputError`.
Screenshots are saved with what shows ../shared/data (the photo, the clip, the skeletons over the photo)
pixelated: see screenshot_redaction.py.

    COMFYUI_DIR=/path/to/ComfyUI python -m pytest -q tests/integration/test_browser.py
    DISCO_SCREENSHOTS=docs COMFYUI_DIR=... python -m pytest -q tests/integration/test_browser.py   # refresh docs/

Needs Debian's `chromium` (or CHROMIUM=/path/to/chrome) and `pip install playwright` (no browser download:
playwright drives the system Chromium). Skips, saying which, when ComfyUI, Chromium or playwright is missing.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from comfy_server import PACK_FOLDER, ROOT, SHARED, comfyui_server, skip_or_fail, skip_without_comfyui
from screenshot_redaction import pixel_box, redact

pytestmark = pytest.mark.integration

skip_without_comfyui()
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
if not CHROMIUM:
    skip_or_fail("no Chromium found: install Debian's `chromium` package (or set CHROMIUM=/path/to/chrome)")
try:
    from playwright import sync_api
except ImportError:
    skip_or_fail("pip install playwright (no browser download needed)")

WORKFLOWS = ["dance_basic", "background_swap", "pose_from_keypoints", "dance_temporal"]
GROUPS = ["Photo", "Motion", "Generate", "Save"]
VIEWPORT = {"width": 1600, "height": 900}
FRAMES = 12  # driving frames for the dance_basic run: enough to play, fast on the CPU with the tiny model
# 72×128: the phone's 9:16, the tallest video preview Save Video has to make room for
FAST = {"DisCoSampler": {"steps": 2, "width": 72, "height": 128, "frames_per_batch": 6, "seed": 3},
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
    """Where the README's screenshots go: DISCO_SCREENSHOTS (e.g. docs) or a temporary folder."""
    folder = os.environ.get("DISCO_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield launched
        launched.close()


@contextlib.contextmanager
def open_page(browser, server):
    """A ComfyUI page in a fresh browser context, with every console error and uncaught exception recorded in
    page.problems; ready once the frontend has set itself up (window.app is set after every extension's setup())
    and opened its first workflow."""
    tab = browser.new_page(viewport=VIEWPORT)
    tab.problems, tab.responses = [], {}
    tab.on("response", lambda r: tab.responses.__setitem__(r.url, r.status))
    tab.on("pageerror", lambda e: tab.problems.append(f"pageerror: {e}\n{getattr(e, 'stack', '')}"))
    tab.on("console", lambda m: tab.problems.append(f"console.error: {m.text} @ {m.location}")
           if m.type == "error" else None)
    try:
        tab.goto(server["url"], timeout=120_000)
        tab.wait_for_function("window.app?.graph && window.app?.canvas && window.app?.extensions?.length "
                              "&& window.app.extensionManager?.workflow?.activeWorkflow", timeout=120_000)
        tab.wait_for_timeout(1500)  # as before: a dialog the first workflow opens late is closed below
        close_dialogs(tab)
        yield tab
    finally:
        tab.close()


@pytest.fixture(scope="module")
def page(browser, server):
    """The ComfyUI page the tests share (open workflows and settings carry over from one test to the next)."""
    with open_page(browser, server) as tab:
        yield tab


@pytest.fixture
def own_page(browser, server):
    """A ComfyUI page of its own: no workflow, dialog or playing preview left by the tests before."""
    with open_page(browser, server) as tab:
        yield tab


def close_dialogs(page) -> None:
    page.evaluate("document.querySelectorAll('.p-dialog-close-button').forEach(b => b.click())")


def pack_problems(page) -> list[str]:
    return [p for p in page.problems if PACK_SCRIPTS in p]


def load_workflow(page, name: str) -> None:
    workflow = json.loads((ROOT / "workflows" / f"{name}.json").read_text())
    page.evaluate("([wf, name]) => window.app.loadGraphData(wf, true, true, name)", [workflow, f"{name}.json"])
    page.wait_for_timeout(1000)  # the frontend fits the view in the next animation frame
    close_dialogs(page)


OPEN_TABS = "() => window.app.extensionManager.workflow.openWorkflows.map(w => w.filename)"


def only_tab(page, name: str) -> None:
    """Close every open workflow (earlier tests opened several, 'dance_basic (3)' and so on), then open `name`:
    the screenshots show one tab with the workflow's own name."""
    page.evaluate("""async () => {
      const store = window.app.extensionManager.workflow;
      for (const w of [...store.openWorkflows]) await store.closeWorkflow(w);
    }""")
    load_workflow(page, name)
    assert page.evaluate(OPEN_TABS) == [name]


def set_widgets(page, values: dict) -> None:
    """{node title or type: {widget: value}}, each set as if picked by hand (Load Image / Load Video show the
    file)."""
    page.evaluate("""values => {
      const g = window.app.graph;
      for (const [key, widgets] of Object.entries(values)) {
        const node = g.nodes.find(n => n.title === key) ?? g.nodes.find(n => n.type === key);
        for (const [name, value] of Object.entries(widgets)) {
          const w = node.widgets.find(w => w.name === name);
          w.value = value;
          w.callback?.(value);
        }
      }
    }""", values)


PORTRAIT = (180, 320)  # a phone's 9:16 driving clip


def portrait_clip(folder: Path) -> Path:
    """The shared dance clip's middle cut to 9:16 and scaled to PORTRAIT, with the test song."""
    from disco_core.media.files import read_frames
    from tests.media import write_clip

    clip, _ = read_frames(SHARED / "data" / "clips" / "dance_fullbody_350.webp")
    h, w = clip.shape[1:3]
    cut = round(h * PORTRAIT[0] / PORTRAIT[1])
    x0 = (w - cut) // 2
    frames = [np.asarray(Image.fromarray(f[:, x0:x0 + cut]).resize(PORTRAIT, Image.BILINEAR)) for f in clip]
    return write_clip(folder / "portrait.mp4", (FRAMES + 2) / 12, 12, size=PORTRAIT, frames=lambda i: frames[i])


def test_extension_loads_and_registers_without_errors(page):
    """Seen failing with the old import path `../../scripts/app.js` (it resolves to /extensions/scripts/app.js, a
    404, and the extension never registers)."""
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
  const screen = ([x, y, w, h]) => {
    const [left, top] = ds.convertOffsetToCanvas([x, y]), [right, bottom] = ds.convertOffsetToCanvas([x + w, y + h]);
    return [left, top, right - left, bottom - top];
  };
  window.app.graph.nodes.forEach(n => n.updateArea());  // boundingRect is refreshed only when a node is drawn
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
def test_workflow_opens_with_every_node_on_screen_no_overlaps_and_titled_groups(page, name, tmp_path):
    load_workflow(page, name)
    geo = page.evaluate(GEOMETRY)
    page.screenshot(path=str(tmp_path / f"workflow_{name}.png"))
    assert geo["missing"] == []
    assert {n["type"] for n in geo["nodes"]} >= {"DisCoPoseSequence", "DisCoSampler"}
    width, height = geo["view"]
    for n in geo["nodes"]:
        x, y, w, h = n["screen"]
        assert 0 <= x and 0 <= y and x + w <= width and y + h <= height, f"{n['title']} is off screen: {n['screen']}"
    assert_tidy(geo)
    assert pack_problems(page) == []


def assert_no_overlaps(geo) -> None:
    nodes = geo["nodes"]
    for i, a in enumerate(nodes):
        for b in nodes[i + 1:]:
            assert not overlaps(a["rect"], b["rect"]), f"{a['title']} overlaps {b['title']}"


def assert_tidy(geo) -> None:
    """No two nodes overlap; the four groups, each node in exactly one."""
    assert_no_overlaps(geo)
    nodes = geo["nodes"]
    assert [g["title"] for g in geo["groups"]] == GROUPS
    for n in nodes:
        if n["type"] in ("Note", "MarkdownNote"):
            continue
        homes = [g["title"] for g in geo["groups"] if inside(n["rect"], g["rect"])]
        assert len(homes) == 1, f"{n['title']} is in groups {homes}"


def test_pose_widgets_follow_the_source_and_retarget_follows_the_reference(page):
    """pose_from_keypoints (JSON source): the JSON widgets show; disconnecting the reference turns retarget off,
    reconnecting turns it on; a driving video instead of the JSON hides the JSON widgets and shows the detector."""
    load_workflow(page, "pose_from_keypoints")
    state = page.evaluate("""() => {
      const g = window.app.graph, node = g.nodes.find(n => n.type === 'DisCoPoseSequence');
      const shown = () => Object.fromEntries(node.widgets.filter(w => !w.name.startsWith('disco_'))
                                                         .map(w => [w.name, !w.hidden]));
      const value = name => node.widgets.find(w => w.name === name).value;
      const json = shown(), slot = node.findInputSlot('reference');
      const link = g.links instanceof Map ? g.links.get(node.inputs[slot].link) : g.links[node.inputs[slot].link];
      const split = g.getNodeById(link.origin_id);
      node.disconnectInput(slot);
      const afterDisconnect = value('retarget');
      split.connect(link.origin_slot, node, slot);
      const afterConnect = value('retarget');
      const text = node.widgets.find(w => w.name === 'pose_json');
      text.value = ''; text.callback?.('');
      const hasVideoInput = node.findInputSlot('video') >= 0;
      const source = window.LiteGraph.createNode(hasVideoInput ? 'LoadVideo' : 'LoadImage');
      g.add(source);
      source.connect(0, node, node.findInputSlot(hasVideoInput ? 'video' : 'frames'));
      return {json, afterDisconnect, afterConnect, video: shown(), height: node.size[1],
              minHeight: node.computeSize()[1]};
    }""")
    assert state["json"]["pose_json"] and state["json"]["canvas_width"] and state["json"]["canvas_height"]
    assert state["afterDisconnect"] is False and state["afterConnect"] is True
    video = state["video"]
    assert video["detector"] and video["smoothing"] and video["retarget"]
    assert not video["pose_json"] and not video["canvas_width"] and not video["canvas_height"]
    assert state["height"] >= state["minHeight"]
    assert pack_problems(page) == []


def test_node_colours_are_a_setting(page):
    load_workflow(page, "dance_basic")
    colours = """() => window.app.graph.nodes.filter(n => n.type.startsWith('DisCo')).map(n => n.color ?? null)"""
    assert set(page.evaluate(colours)) == {"#2a4858"}
    page.evaluate("window.app.extensionManager.setting.set('DisCo.Canvas.NodeColors', false)")
    assert set(page.evaluate(colours)) == {None}
    page.evaluate("window.app.extensionManager.setting.set('DisCo.Canvas.NodeColors', true)")
    assert set(page.evaluate(colours)) == {"#2a4858"}
    assert pack_problems(page) == []

# Page rectangles [x, y, w, h] (CSS px) of what shows ../shared/data: the Reference photo's preview (drawn on the
# canvas under the node's widgets), the Driving video's <video> and the Pose Sequence player (skeletons over the
# photo; keep_vivid keeps the skeleton's colours).
SHARED_DATA_ON_SCREEN = """() => {
  const canvas = window.app.canvas, ds = canvas.ds, at = canvas.canvas.getBoundingClientRect();
  const onPage = ([x, y, w, h]) => {
    const [left, top] = ds.convertOffsetToCanvas([x, y]), [right, bottom] = ds.convertOffsetToCanvas([x + w, y + h]);
    return [at.x + left, at.y + top, right - left, bottom - top];
  };
  const box = el => { const r = el.getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; };
  const regions = [];
  for (const n of window.app.graph.nodes) {
    if (n.type === 'LoadImage' && n.imgs?.length) {
      const top = n.widgets.find(w => w.name === '$$canvas-image-preview')?.y ?? 0;
      regions.push({node: n.title, shows: 'photo', keep_vivid: false,
                    rect: onPage([n.pos[0], n.pos[1] + top, n.size[0], n.size[1] - top])});
    }
    const video = n.type === 'LoadVideo' && n.videoContainer?.querySelector('video');
    if (video) regions.push({node: n.title, shows: 'clip', keep_vivid: false, rect: box(video)});
    if (n.type === 'DisCoPoseSequence' && n.discoPlayer?.preview?.over_photo)
      regions.push({node: n.title, shows: 'skeletons over the photo', keep_vivid: true, rect: box(n.discoPlayer.canvas)});
  }
  return regions;
}"""


def save_screenshot(page, path: Path, clip: list[float] | None = None) -> list[dict]:
    """A screenshot of the page (cropped to `clip` [x, y, w, h]) with the rectangles that show ../shared/data
    pixelated. Returns those rectangles."""
    regions = page.evaluate(SHARED_DATA_ON_SCREEN)
    shot = np.asarray(Image.open(io.BytesIO(page.screenshot())).convert("RGB"))
    assert shot.shape[:2] == (VIEWPORT["height"], VIEWPORT["width"])  # one image pixel per CSS pixel
    shot = redact(shot, regions)
    if clip is not None:
        x0, y0, x1, y1 = pixel_box(clip, shot.shape)
        shot = shot[y0:y1, x0:x1]
    Image.fromarray(shot).save(path)
    return regions


def assert_redacted(regions: list[dict], shows: set[str]) -> None:
    """The rectangles found are the expected ones, each with some area on screen."""
    assert {r["shows"] for r in regions} == shows and len(regions) == len(shows)
    for r in regions:
        x0, y0, x1, y1 = pixel_box(r["rect"], (VIEWPORT["height"], VIEWPORT["width"]))
        assert x1 - x0 > 20 and y1 - y0 > 20, r


PLAYERS = """() => Object.fromEntries(window.app.graph.nodes.filter(n => n.discoPlayer).map(n => {
  const p = n.discoPlayer, ctx = p.canvas.getContext('2d');
  const px = ctx.getImageData(0, 0, p.canvas.width, p.canvas.height).data;
  let sum = 0, sq = 0, vivid = 0;
  for (let i = 0; i < px.length; i += 4) {
    const v = (px[i] + px[i + 1] + px[i + 2]) / 3;
    sum += v; sq += v * v;
    if (Math.max(px[i], px[i + 1], px[i + 2]) - Math.min(px[i], px[i + 1], px[i + 2]) > 150) vivid += 1;
  }
  const n_px = px.length / 4, mean = sum / n_px;
  return [n.type, {preview: p.preview && {...p.preview, sheets: p.preview.sheets.length}, loaded: p.sheets.length,
                   frame: p.frame, drawn: p.framesDrawn, playing: p.playing, stills: Number(p.root.dataset.stills ?? 0),
                   label: p.label.textContent, std: Math.sqrt(sq / n_px - mean * mean), vivid: vivid / n_px,
                   size: [p.canvas.width, p.canvas.height]}];
}))"""


def test_queueing_dance_basic_plays_frames_in_pose_sequence_and_sampler(page, server, shots, tmp_path):
    """The real workflow, queued from the page (the frontend builds the prompt): Pose Sequence shows the
    retargeted skeletons over the photo and the Sampler its frames, both looping; the sampler showed step previews
    while it ran; scrubbing and the trim button drive the frame and the widgets."""
    client, inputs = server["client"], server["inputs"]
    photo, video = client.upload(inputs["photo"]), client.upload(portrait_clip(tmp_path))
    only_tab(page, "dance_basic")
    set_widgets(page, {"Reference photo": {"image": photo}, "Driving video": {"file": video}, **FAST})
    page.evaluate("window.app.queuePrompt(0, 1)")
    page.wait_for_function("""() => ['DisCoPoseSequence', 'DisCoSampler'].every(t => {
      const p = window.app.graph.nodes.find(n => n.type === t).discoPlayer;
      return p.preview && p.sheets.length === p.preview.sheets.length && p.framesDrawn > 2; })""",
                           timeout=RUN_TIMEOUT_MS)
    first = page.evaluate(PLAYERS)
    page.wait_for_timeout(700)
    later = page.evaluate(PLAYERS)
    poses, frames = later["DisCoPoseSequence"], later["DisCoSampler"]
    assert poses["preview"]["frames"] == frames["preview"]["frames"] == FRAMES
    assert poses["preview"]["fps"] == frames["preview"]["fps"] == 12.0
    assert poses["preview"]["over_photo"] and poses["preview"]["retargeted"]
    assert poses["size"][1] > poses["size"][0]  # the portrait photo's shape, not the square driving clip's
    for player in (poses, frames):
        assert player["playing"] and player["drawn"] > first[next(k for k, v in later.items() if v is player)]["drawn"]
        assert player["std"] > 10  # a picture, not an empty canvas
        assert f"/{FRAMES}" in player["label"] and "12 fps" in player["label"]
    assert poses["vivid"] > 0.002  # coloured limbs drawn over the dimmed photo
    assert frames["stills"] >= 1  # step previews arrived through ComfyUI's preview channel while it sampled
    # Save Video shows the 9:16 result: the frontend grows the node to the video's shape
    saved = page.wait_for_function("""() => {
      const video = window.app.graph.nodes.find(n => n.type === 'SaveVideo').videoContainer?.querySelector('video');
      return video?.readyState >= 2 && [video.videoWidth, video.videoHeight]; }""", timeout=60_000).json_value()
    assert saved == [72, 128]
    loaded = page.evaluate("""() => {
      const video = window.app.graph.nodes.find(n => n.type === 'LoadVideo').videoContainer?.querySelector('video');
      return video?.readyState >= 2 && [video.videoWidth, video.videoHeight]; }""")
    assert loaded == list(PORTRAIT)
    # Load Video (the 9:16 driving clip) and Save Video (the 9:16 result) grow by their videos' shapes: the saved
    # layout already had room for both previews
    rooms = {n["type"]: n["size"][1] for n in json.loads((ROOT / "workflows" / "dance_basic.json").read_text())["nodes"]}
    grown = page.evaluate("""() => Object.fromEntries(['LoadVideo', 'SaveVideo'].map(
      t => [t, window.app.graph.nodes.find(n => n.type === t).size[1]]))""")
    for kind, height in grown.items():
        assert height <= rooms[kind], f"{kind} grew to {height} px, past its {rooms[kind]} px of layout room"
    assert page.evaluate(OPEN_TABS) == ["dance_basic"]  # the screenshot shows one tab, named as the workflow
    page.evaluate("window.app.canvas.setDirty(true, true)")
    page.wait_for_timeout(500)
    regions = save_screenshot(page, shots / "dance_basic.png")
    assert_redacted(regions, {"photo", "clip", "skeletons over the photo"})
    # the photo, the video and all previews showing: still no overlaps, each node in its group (Load Video and
    # Save Video grow to their videos' shapes)
    assert_tidy(page.evaluate(GEOMETRY))
    zoom_to_players = """() => {
      const nodes = window.app.graph.nodes.filter(n => n.discoPlayer), r = nodes.map(n => n.boundingRect);
      const x = Math.min(...r.map(b => b[0])) - 20, y = Math.min(...r.map(b => b[1])) - 50;
      const w = Math.max(...r.map(b => b[0] + b[2])) - x + 20, h = Math.max(...r.map(b => b[1] + b[3])) - y + 20;
      return [x, y, w, h];
    }"""
    bounds = page.evaluate(zoom_to_players)
    page.evaluate("b => { window.app.canvas.ds.fitToBounds(b, {zoom: 0.95}); window.app.canvas.setDirty(true, true); }",
                  bounds)
    page.wait_for_timeout(500)
    box = page.evaluate("""([x, y, w, h]) => {
      const ds = window.app.canvas.ds, [left, top] = ds.convertOffsetToCanvas([x, y]);
      const [right, bottom] = ds.convertOffsetToCanvas([x + w, y + h]);
      const at = window.app.canvas.canvas.getBoundingClientRect();  // the canvas sits right of / under the menus
      return [at.x + left, at.y + top, right - left, bottom - top];
    }""", bounds)
    regions = save_screenshot(page, shots / "previews.png", clip=box)
    assert "skeletons over the photo" in {r["shows"] for r in regions}
    state = page.evaluate("""() => {
      const node = window.app.graph.nodes.find(n => n.type === 'DisCoPoseSequence'), p = node.discoPlayer;
      p.slider.value = 4; p.slider.dispatchEvent(new Event('input'));
      const scrubbed = {frame: p.frame, playing: p.playing};
      [...p.root.querySelectorAll('button')].find(b => b.textContent === '⟧').click();
      return {scrubbed, max_frames: node.widgets.find(w => w.name === 'max_frames').value, label: p.label.textContent};
    }""")
    assert state["scrubbed"] == {"frame": 4, "playing": False}
    assert state["max_frames"] == 5 and "trim 0–4 (queue to apply)" in state["label"]
    assert pack_problems(page) == []



NOT_POSE_JSON = '{"foo": 1}'
# what Pose Sequence says about it: the input, what is wrong, what to give instead
NOT_POSE_JSON_SAYS = ['pose_json: this JSON object (keys foo) is not pose JSON; give DisCo JSON',
                      'OpenPose JSON ({"people": [{"pose_keypoints_2d": [...]}]} per frame) or POSE_KEYPOINT JSON']


def test_a_node_error_shows_its_bare_name_in_the_error_dialog(own_page, server, shots):
    """Text that is not pose JSON, queued from the canvas, stops Pose Sequence with the pack's InputError.
    ComfyUI's execution-error dialog shows the message that says what to do, and its report names the error
    `InputError`: not `comfyui-disco.disco_core.errors.InputError`, the pack folder's module path, as it did
    before comfy_glue.short_error_names (seen failing with that call removed). A page of its own, so that no
    workflow, dialog or preview of the tests before is left over. The photo is the real one: ComfyUI runs Disentangle
    Image before Pose Sequence, and a photo without a person would stop the run there, with another error. The
    screenshot is of the dialog alone, so it shows no photo."""
    page = own_page
    photo = server["client"].upload(server["inputs"]["photo"])
    only_tab(page, "pose_from_keypoints")
    set_widgets(page, {"Reference photo": {"image": photo}, "DisCoModelLoader": FAST["DisCoModelLoader"],
                       "DisCoPoseSequence": {"pose_json": NOT_POSE_JSON}})
    # the websocket's execution_error as the frontend gets it, and a page with no dialog open before queueing
    page.evaluate("""() => { window.discoErrors = [];
      window.app.api.addEventListener('execution_error', e => window.discoErrors.push(e.detail)); }""")
    close_dialogs(page)
    page.wait_for_function("window.app.api.socket?.readyState === WebSocket.OPEN "
                           "&& !document.querySelector('.p-dialog')", timeout=60_000)
    page.evaluate("window.app.queuePrompt(0, 1)")
    # the run's error, or a dialog (a refused prompt opens one too: its text is then in the assertion message)
    page.wait_for_function("window.discoErrors.length || document.querySelector('.p-dialog')",
                           timeout=RUN_TIMEOUT_MS)
    errors = page.evaluate("window.discoErrors")  # filled before the frontend's dialog is on the page
    assert [e["node_type"] for e in errors] == ["DisCoPoseSequence"], \
        (errors, page.locator(".p-dialog").all_inner_texts())
    dialog = page.locator(".p-dialog").filter(has_text=NOT_POSE_JSON_SAYS[0])  # ComfyUI's ErrorDialogContent
    sync_api.expect(dialog).to_have_count(1, timeout=60_000)
    for words in NOT_POSE_JSON_SAYS:
        sync_api.expect(dialog).to_contain_text(words)
    dialog.get_by_role("button", name="Show Report").click()
    # the report fills in once the frontend has fetched the system stats and the server's log
    sync_api.expect(dialog.locator("pre")).to_contain_text(re.compile(r"\*\*Exception Type:\*\* InputError\n"),
                                                             timeout=120_000)
    text = dialog.inner_text()
    for words in NOT_POSE_JSON_SAYS:
        assert words in text
    # without short_error_names: `/…/custom_nodes/comfyui-disco.disco_core.errors.InputError`
    assert "disco_core.errors" not in text and f"{PACK_FOLDER}.disco_core" not in text, text
    assert errors[0]["exception_type"] == "InputError"  # as the server sent it
    dialog.screenshot(path=str(shots / "error_dialog.png"), animations="disabled")
    close_dialogs(page)
    assert pack_problems(page) == []
