// Pose Sequence on the canvas: show only the widgets the connected pose source uses, switch retarget on when a
// reference is connected, and the trim buttons that set start_frame / max_frames from the preview.
import { app } from "../../../scripts/app.js";

// The server's order (nodes/pose_sequence.py): rendered images, then POSE_KEYPOINT, then pose JSON text, then video.
const VIDEO_INPUTS = ["video", "frames"];

function widget(node, name) {
  return node.widgets?.find((w) => w.name === name);
}

function linked(node, name) {
  return node.inputs?.some((input) => input.name === name && input.link != null) ?? false;
}

export function poseSource(node) {
  if (linked(node, "pose_images")) return "images";
  if (linked(node, "pose_keypoint")) return "keypoints";
  if ((widget(node, "pose_json")?.value ?? "").trim()) return "json";
  if (VIDEO_INPUTS.some((name) => linked(node, name))) return "video";
  return "json";
}

/** Which widgets the chosen source uses; the others are hidden (their values are kept and still sent). */
function visibleWidgets(node) {
  const source = poseSource(node);
  const keypoints = source !== "images";
  const retarget = keypoints && !!widget(node, "retarget")?.value;
  return {
    detector: source === "video" || retarget,
    smoothing: keypoints,
    retarget: keypoints,
    pose_json: source === "json",
    canvas_width: source === "json",
    canvas_height: source === "json",
  };
}

export function updatePoseWidgets(node) {
  let changed = false;
  for (const [name, visible] of Object.entries(visibleWidgets(node))) {
    const w = widget(node, name);
    if (w && !!w.hidden === visible) {
      setHidden(w, !visible);
      changed = true;
    }
  }
  // a loading workflow keeps its saved size (the frontend grows it afterwards if needed)
  if (changed && !app.configuringGraph) fitHeight(node);
  node.graph?.setDirtyCanvas(true, true);
}

// `hidden` skips drawing and computeSize; the 1.27 frontend's widget arrangement still reserves each widget's
// height unless its computeSize says 0, so both are set (and undone when the widget comes back).
function setHidden(w, hidden) {
  w.hidden = hidden;
  if (hidden) {
    if (Object.hasOwn(w, "computeSize")) w.discoComputeSize = w.computeSize;
    w.computeSize = () => [0, -4];
  } else if (w.discoComputeSize) {
    w.computeSize = w.discoComputeSize;
  } else {
    delete w.computeSize;
  }
}

function fitHeight(node) {
  const min = node.computeSize();
  node.setSize([Math.max(node.size[0], min[0]), Math.max(node.size[1], min[1])]);
}

export function setWidget(node, name, value) {
  const w = widget(node, name);
  if (!w || w.value === value) return false;
  w.value = value;
  w.callback?.(value);
  return true;
}

/** Hook the node's connections and widgets so visibility follows the source and retarget follows the reference. */
export function setupPoseInputs(node) {
  const onConnectionsChange = node.onConnectionsChange;
  node.onConnectionsChange = function (type, index, connected, link, slot) {
    const result = onConnectionsChange?.apply(this, arguments);
    // while a saved workflow loads, keep its values; only a user's new connection changes retarget
    if (!app.configuringGraph && slot?.name === "reference" && poseSource(this) !== "images") {
      setWidget(this, "retarget", !!connected);
    }
    if (!app.configuringGraph && slot?.name === "pose_images" && connected) setWidget(this, "retarget", false);
    updatePoseWidgets(this);
    return result;
  };
  for (const name of ["pose_json", "retarget"]) {
    const w = widget(node, name);
    if (!w) continue;
    const callback = w.callback;
    w.callback = function () {
      const result = callback?.apply(this, arguments);
      updatePoseWidgets(node);
      return result;
    };
  }
  const onConfigure = node.onConfigure;
  node.onConfigure = function () {
    const result = onConfigure?.apply(this, arguments);
    updatePoseWidgets(this);
    return result;
  };
  updatePoseWidgets(node);
}

/** Trim buttons for the Pose Sequence player: frame i of the preview is frame start_frame + i of the motion. */
export function trimButtons(node) {
  const firstShown = (player) => Number(player.preview?.start_frame ?? 0);
  const start = () => Number(widget(node, "start_frame")?.value ?? 0);
  const count = () => Number(widget(node, "max_frames")?.value ?? 0);
  // start_frame counts source frames; with target_fps the preview's frames are resampled, so only trim 1:1
  const resampled = () => Number(widget(node, "target_fps")?.value ?? 0) > 0;
  const apply = (player) => {
    player.label.textContent = player.describe();
    node.graph?.setDirtyCanvas(true, true);
  };
  const buttons = [
    {
      text: "⟦",
      needs: ["start_frame"],
      title: "Start the video at this frame (sets start_frame; queue again to apply)",
      onClick(player) {
        if (resampled()) {
          player.label.textContent = "Set target_fps to 0 to trim by frame (start_frame counts source frames).";
          return;
        }
        const first = firstShown(player) + player.frame;
        const end = count() > 0 ? start() + count() - 1 : null;
        setWidget(node, "start_frame", first);
        if (end !== null) setWidget(node, "max_frames", Math.max(1, end - first + 1));
        apply(player);
      },
    },
    {
      text: "⟧",
      needs: ["max_frames"],
      title: "End the video at this frame (sets max_frames; queue again to apply)",
      onClick(player) {
        const last = firstShown(player) + player.frame;
        if (last < start()) setWidget(node, "start_frame", last);
        setWidget(node, "max_frames", last - start() + 1);
        apply(player);
      },
    },
    {
      text: "↺",
      needs: ["max_frames"],
      title: "Use the whole video again (start_frame 0, max_frames 0)",
      onClick(player) {
        setWidget(node, "start_frame", 0);
        setWidget(node, "max_frames", 0);
        apply(player);
      },
    },
  ];
  return buttons.filter((b) => b.needs.every((name) => widget(node, name)));
}

/** Label parts for the Pose Sequence player: where the shown frames sit in the video, and a pending trim. */
export function describeTrim(node) {
  return (preview) => {
    const parts = [];
    if (preview.retargeted) parts.push("retargeted");
    const first = Number(preview.start_frame ?? 0);
    const start = Number(widget(node, "start_frame")?.value ?? 0);
    const count = Number(widget(node, "max_frames")?.value ?? 0);
    const shownCount = preview.frames;
    if (start !== first || (count > 0 && count !== shownCount)) {
      parts.push(`trim ${start}–${count > 0 ? start + count - 1 : "end"} (queue to apply)`);
    } else if (first > 0 || count > 0) {
      parts.push(`frames ${first}–${first + shownCount - 1} of the video`);
    }
    return parts;
  };
}
