// A frame player inside a node: plays, loops and scrubs the JPEG sprite sheets that nodes/previews.py writes
// (UI output key "disco_preview"), and shows single step previews while a node runs.
import { api } from "../../../scripts/api.js";

export const UI_KEY = "disco_preview";
const CONTROLS_HEIGHT = 54; // px: scrubber row + label row
const MIN_PICTURE_HEIGHT = 150; // px

function viewUrl(file) {
  const params = new URLSearchParams({ filename: file.filename, subfolder: file.subfolder ?? "", type: file.type });
  return api.apiURL(`/view?${params}`);
}

function loadImage(url) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error(`could not load ${url}`));
    img.src = url;
  });
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function clock(seconds) {
  const m = Math.floor(seconds / 60);
  return `${m}:${(seconds - 60 * m).toFixed(1).padStart(4, "0")}`;
}

let styleAdded = false;
function addStyle() {
  if (styleAdded) return;
  styleAdded = true;
  const style = el("style");
  style.textContent = `
  .disco-player { display: flex; flex-direction: column; gap: 4px; width: 100%; height: 100%; box-sizing: border-box;
    font: 11px sans-serif; color: var(--descrip-text, #aaa); }
  .disco-player canvas { flex: 1 1 auto; min-height: 0; width: 100%; object-fit: contain; background: #111;
    border-radius: 4px; }
  .disco-player .disco-row { display: flex; align-items: center; gap: 4px; }
  .disco-player button { background: var(--comfy-input-bg, #222); color: var(--input-text, #ddd); border: 1px solid
    var(--border-color, #444); border-radius: 4px; padding: 1px 6px; cursor: pointer; font-size: 11px; }
  .disco-player button:disabled { opacity: 0.4; cursor: default; }
  .disco-player input[type=range] { flex: 1 1 auto; min-width: 40px; accent-color: #4a9aba; }
  .disco-player .disco-label { flex: 1 1 auto; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }`;
  document.head.appendChild(style);
}

export class FramePlayer {
  /** `extraButtons`: [{text, title, onClick(player)}] shown after the label (e.g. the trim buttons). */
  constructor(node, { name = "disco_preview", emptyText = "Queue to see the frames here.", extraButtons = [] } = {}) {
    addStyle();
    this.node = node;
    this.preview = null; // the UI entry being shown
    this.sheets = [];
    this.frame = 0;
    this.playing = false;
    this.framesDrawn = 0; // for tests and for the label: how many frames were painted
    this.lastStep = null;
    this.emptyText = emptyText;

    this.root = el("div", "disco-player");
    this.canvas = el("canvas");
    this.canvas.width = 256;
    this.canvas.height = 144;
    const scrubRow = el("div", "disco-row");
    this.playButton = el("button", "", "▶");
    this.playButton.title = "Play / pause (loops)";
    this.slider = el("input");
    this.slider.type = "range";
    this.slider.min = 0;
    this.slider.max = 0;
    this.slider.value = 0;
    this.slider.title = "Scrub through the frames";
    scrubRow.append(this.playButton, this.slider);
    const labelRow = el("div", "disco-row");
    this.label = el("span", "disco-label", emptyText);
    labelRow.append(this.label);
    this.buttons = extraButtons.map((b) => {
      const button = el("button", "", b.text);
      button.title = b.title;
      button.addEventListener("click", () => b.onClick(this));
      labelRow.append(button);
      return button;
    });
    this.root.append(this.canvas, scrubRow, labelRow);

    this.playButton.addEventListener("click", () => (this.playing ? this.pause() : this.play()));
    this.slider.addEventListener("input", () => {
      this.pause();
      this.seek(Number(this.slider.value));
    });
    // keep pointer and wheel events from dragging or zooming the canvas underneath
    for (const type of ["pointerdown", "wheel"]) this.root.addEventListener(type, (e) => e.stopPropagation());

    this.widget = node.addDOMWidget(name, "disco_preview", this.root, {
      serialize: false,
      hideOnZoom: false,
      getMinHeight: () => MIN_PICTURE_HEIGHT + CONTROLS_HEIGHT,
    });
    this.widget.serialize = false; // not a value: keep widgets_values (positional) unchanged
    this.root.dataset.discoPlayer = name;
    this.updateControls();
  }

  /** Show a "disco_preview" UI entry: load its sheets, then loop from the first frame. */
  async show(preview) {
    if (!preview?.sheets?.length) return;
    this.pause();
    this.preview = preview;
    this.lastStep = null;
    this.frame = 0;
    this.canvas.width = preview.width;
    this.canvas.height = preview.height;
    this.slider.max = Math.max(0, preview.frames - 1);
    this.slider.value = 0;
    this.sheets = [];
    this.label.textContent = `loading ${preview.frames} frames…`;
    try {
      this.sheets = await Promise.all(preview.sheets.map((file) => loadImage(viewUrl(file))));
    } catch (error) {
      this.label.textContent = `Preview could not be loaded (${error.message}); queue again.`;
      return;
    }
    if (this.preview !== preview) return; // a newer preview arrived meanwhile
    this.seek(0);
    this.updateControls();
    this.play();
  }

  /** Show one still (a step preview blob) with a caption, e.g. while the sampler runs. */
  async showStill(blob, caption) {
    const url = URL.createObjectURL(blob);
    try {
      const img = await loadImage(url);
      this.pause();
      this.lastStep = caption;
      this.canvas.width = img.naturalWidth;
      this.canvas.height = img.naturalHeight;
      this.canvas.getContext("2d").drawImage(img, 0, 0);
      this.framesDrawn += 1;
      this.label.textContent = caption;
      this.root.dataset.stills = String(Number(this.root.dataset.stills ?? 0) + 1);
    } finally {
      URL.revokeObjectURL(url);
    }
  }

  seek(index) {
    const p = this.preview;
    if (!p || !this.sheets.length) return;
    this.frame = ((index % p.frames) + p.frames) % p.frames;
    const sheet = this.sheets[Math.floor(this.frame / p.per_sheet)];
    const k = this.frame % p.per_sheet;
    const x = (k % p.columns) * p.width;
    const y = Math.floor(k / p.columns) * p.height;
    if (this.canvas.width !== p.width || this.canvas.height !== p.height) {
      this.canvas.width = p.width;
      this.canvas.height = p.height;
    }
    this.canvas.getContext("2d").drawImage(sheet, x, y, p.width, p.height, 0, 0, p.width, p.height);
    this.framesDrawn += 1;
    this.slider.value = this.frame;
    this.root.dataset.frame = String(this.frame);
    this.root.dataset.frames = String(p.frames);
    this.label.textContent = this.describe();
    this.onSeek?.(this.frame);
  }

  describe() {
    const p = this.preview;
    const fps = p.fps > 0 ? p.fps : 0;
    const parts = [`frame ${this.frame + 1}/${p.frames}`];
    if (fps) parts.push(`${Number(fps.toFixed(2))} fps`, `${clock(this.frame / fps)} / ${clock(p.frames / fps)}`);
    if (this.describeExtra) parts.push(...this.describeExtra(p, this.frame));
    return parts.join(" · ");
  }

  play() {
    const p = this.preview;
    if (!p || !this.sheets.length || p.frames < 2) return;
    this.playing = true;
    this.updateControls();
    const interval = 1000 / (p.fps > 0 ? p.fps : 8);
    let last = performance.now();
    const tick = (now) => {
      if (!this.playing || this.preview !== p) return;
      if (!this.root.isConnected) return this.pause(); // node removed or workflow closed
      if (now - last >= interval) {
        const steps = Math.floor((now - last) / interval);
        last += steps * interval;
        this.seek(this.frame + steps);
      }
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  }

  pause() {
    this.playing = false;
    this.updateControls();
  }

  updateControls() {
    const ready = !!(this.preview && this.sheets.length);
    this.playButton.textContent = this.playing ? "❚❚" : "▶";
    this.playButton.disabled = !ready || this.preview.frames < 2;
    this.slider.disabled = !ready;
    for (const button of this.buttons) button.disabled = !ready;
    if (!ready && !this.lastStep && !this.preview) this.label.textContent = this.emptyText;
  }
}

/** The first "disco_preview" entry of a node's UI output, if any. */
export function previewOf(output) {
  return output?.[UI_KEY]?.[0] ?? null;
}
