// DisCo for ComfyUI: one colour for the pack's nodes so the DisCo part of a graph is easy to spot.
import { app } from "../../scripts/app.js";

const DISCO_NODES = new Set([
  "DisCoModelLoader", "DisCoDisentangleImage", "DisCoPoseSequence", "DisCoSampler", "DisCoTemporalSmooth",
]);
const COLOR = "#2a4858";    // title bar
const BGCOLOR = "#1d3340";  // body

app.registerExtension({
  name: "disco.nodeColors",
  nodeCreated(node) {
    const nodeId = node.comfyClass ?? node.constructor?.comfyClass ?? node.type;
    if (!DISCO_NODES.has(nodeId)) return;
    // Keep colours a user picked (saved workflows restore them after creation).
    node.color = node.color ?? COLOR;
    node.bgcolor = node.bgcolor ?? BGCOLOR;
  },
});
