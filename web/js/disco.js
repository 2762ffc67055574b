// DisCo for ComfyUI, canvas extension: previews you can play and scrub inside Pose Sequence (the skeletons over
// the reference photo) and DisCo Sampler (its frames, and the step preview while it runs), the trim, widgets that
// follow the pose source, and the pack's node colours (a setting).
// Served from /extensions/<pack folder>/js/, so the frontend's scripts are three folders up.
import { app } from "../../../scripts/app.js";
import { api } from "../../../scripts/api.js";
import { FramePlayer, previewOf } from "./disco_player.js";
import { describeTrim, setupPoseInputs, trimButtons } from "./disco_pose_inputs.js";

export const EXTENSION_NAME = "disco.canvas";
const DISCO_NODES = new Set([
  "DisCoModelLoader", "DisCoDisentangleImage", "DisCoPoseSequence", "DisCoSampler", "DisCoTemporalSmooth",
]);
const COLOR = "#2a4858"; // title bar
const BGCOLOR = "#1d3340"; // body
const COLOR_SETTING = "DisCo.Canvas.NodeColors";

function colorsOn() {
  return app.extensionManager?.setting?.get(COLOR_SETTING) ?? true;
}

function isDisco(node) {
  return DISCO_NODES.has(node.comfyClass ?? node.constructor?.comfyClass ?? node.type);
}

/** Colour a DisCo node, or take our colour off it; a colour the user picked is never touched. */
function paint(node, on) {
  if (!isDisco(node)) return;
  if (on) {
    node.color ??= COLOR;
    node.bgcolor ??= BGCOLOR;
  } else {
    if (node.color === COLOR) node.color = undefined;
    if (node.bgcolor === BGCOLOR) node.bgcolor = undefined;
  }
}

function findNode(executionId) {
  if (executionId == null) return null;
  const id = String(executionId);
  return app.graph?.getNodeById(id.includes(":") ? id.split(":").pop() : id) ?? null;
}

const lastProgress = new Map(); // node id -> {value, max} of the running sampler

function addSamplerPreview(node) {
  node.discoPlayer = new FramePlayer(node, {
    name: "disco_frames",
    emptyText: "Queue to see the frames here (step previews while it samples).",
  });
}

function addPosePreview(node) {
  setupPoseInputs(node);
  const player = new FramePlayer(node, {
    name: "disco_poses",
    emptyText: "Queue to see the motion over the reference photo (right-click → Queue Selected Output Nodes).",
    extraButtons: trimButtons(node),
  });
  player.describeExtra = describeTrim(node);
  node.discoPlayer = player;
}

app.registerExtension({
  name: EXTENSION_NAME,
  settings: [
    {
      id: COLOR_SETTING,
      category: ["DisCo", "Canvas", "Node colours"],
      name: "Colour the DisCo nodes",
      tooltip: "Give the pack's nodes their blue-grey colour (a colour you picked yourself is kept).",
      type: "boolean",
      defaultValue: true,
      onChange(value) {
        for (const node of app.graph?.nodes ?? []) paint(node, value);
        app.graph?.setDirtyCanvas(true, true);
      },
    },
  ],

  beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData.name === "DisCoSampler") {
      // The step previews are drawn in our player; ComfyUI's own image preview would add a second picture.
      nodeType.prototype.onDrawBackground = function () {};
    }
  },

  nodeCreated(node) {
    // loaded workflows set their saved colours after this, so a colour saved in a workflow wins
    paint(node, colorsOn());
    if (node.comfyClass === "DisCoPoseSequence") addPosePreview(node);
    if (node.comfyClass === "DisCoSampler") addSamplerPreview(node);
    if (node.discoPlayer) {
      const onExecuted = node.onExecuted;
      node.onExecuted = function (output) {
        const result = onExecuted?.apply(this, arguments);
        const preview = previewOf(output);
        if (preview) this.discoPlayer.show(preview);
        return result;
      };
    }
  },

  setup() {
    api.addEventListener("progress", ({ detail }) => {
      lastProgress.set(String(detail.node), detail);
    });
    // ComfyUI's standard step-preview channel (binary WS previews with the node id)
    api.addEventListener("b_preview_with_metadata", ({ detail }) => {
      const node = findNode(detail.displayNodeId ?? detail.nodeId);
      if (node?.comfyClass !== "DisCoSampler" || !node.discoPlayer) return;
      const step = lastProgress.get(String(detail.displayNodeId ?? detail.nodeId));
      node.discoPlayer.showStill(detail.blob, step ? `sampling: step ${step.value}/${step.max}` : "sampling…");
    });
  },
});
