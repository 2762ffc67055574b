"""A small client for ComfyUI's HTTP + websocket API: upload inputs, patch an API workflow, queue it, follow its
progress, and download what it saved. Standard library only; `websocket-client` (optional) gives live progress,
otherwise the client polls `/history`.

    client = ComfyClient("http://127.0.0.1:8188")
    prompt = load_workflow("workflows/api/dance_basic.json")
    set_input(prompt, "Reference photo", "image", client.upload("me.png"))
    prompt_id = client.queue(prompt)
    entry = client.wait(prompt_id, on_event=print)
    files = [client.download(f, "out") for f in output_files(entry)]
"""
from __future__ import annotations

import json
import mimetypes
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Callable

from ..errors import DiscoError, InputError


class ComfyServerError(DiscoError):
    """The ComfyUI server refused the prompt, failed while running it, or could not be reached."""


# ------------------------------------------------------------------------------------------ workflow patching
def load_workflow(path) -> dict:
    """An API-format workflow (`{"<id>": {"class_type", "inputs"}}`, or `{"prompt": {...}}`) from a JSON file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"Workflow file not found: {path}. Give a path or a name from workflows/api/.") from None
    except json.JSONDecodeError as e:
        raise InputError(f"Workflow {path} is not valid JSON ({e}).") from None
    if isinstance(data, dict) and isinstance(data.get("prompt"), dict):
        data = data["prompt"]
    if isinstance(data, dict) and "nodes" in data and "links" in data:
        raise InputError(f"{path} is a UI workflow (what the canvas saves). /prompt needs the API format: use the "
                         f"file from workflows/api/, or export with 'Export (API)' in ComfyUI's workflow menu.")
    if not isinstance(data, dict) or not all(isinstance(v, dict) and "class_type" in v for v in data.values()):
        raise InputError(f"{path} is not an API-format workflow (a dict of node id -> {{class_type, inputs}}).")
    return data


def find_node(prompt: dict, key: str) -> str:
    """Node id for `key`: a node id, a node title (`_meta.title`) or a class_type that occurs once."""
    if key in prompt:
        return key
    for field in ("title", "class_type"):
        hits = [nid for nid, node in prompt.items()
                if (node.get("_meta", {}).get("title") if field == "title" else node.get("class_type")) == key]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise InputError(f"{len(hits)} nodes match {field} '{key}' (ids {', '.join(hits)}); use a node id.")
    titles = sorted(f"{nid}: {n.get('_meta', {}).get('title', n['class_type'])}" for nid, n in prompt.items())
    raise InputError(f"No node '{key}' in the workflow. Nodes (id: title): {'; '.join(titles)}.")


def set_input(prompt: dict, key: str, name: str, value) -> str:
    """Set a widget value of the node `key` (see `find_node`); returns the node id."""
    node_id = find_node(prompt, key)
    inputs = prompt[node_id].setdefault("inputs", {})
    if isinstance(inputs.get(name), list) and not isinstance(value, list):
        raise InputError(f"Input '{name}' of node {node_id} is linked to another node; it cannot be set to a value.")
    inputs[name] = value
    return node_id


def parse_assignment(text: str) -> tuple[str, str, object]:
    """'NODE.input=value' (NODE = id, title or class_type; value as JSON, else as a plain string)."""
    target, sep, raw = text.partition("=")
    node, dot, name = target.rpartition(".")
    if not sep or not dot or not node or not name:
        raise InputError(f"Cannot read '{text}': write NODE.input=value, e.g. 'DisCo Sampler.steps=20'.")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return node.strip(), name.strip(), value


def output_files(history_entry: dict, types=("output",)) -> list[dict]:
    """Files the run saved: `{filename, subfolder, type, node}` from every output node's UI message. By default
    only saved results (type "output"), not previews (type "temp")."""
    files = []
    for node_id, ui in (history_entry.get("outputs") or {}).items():
        for kind in ("images", "gifs", "videos", "video", "audio"):
            for item in ui.get(kind) or []:
                if isinstance(item, dict) and "filename" in item and (types is None or item.get("type") in types):
                    files.append({**item, "node": node_id})
    return files


def format_node_errors(node_errors: dict, prompt: dict | None = None) -> str:
    lines = []
    for node_id, info in (node_errors or {}).items():
        title = (prompt or {}).get(node_id, {}).get("_meta", {}).get("title") or info.get("class_type", "?")
        for err in info.get("errors", []):
            detail = f" ({err['details']})" if err.get("details") else ""
            lines.append(f"node {node_id} '{title}': {err.get('message', err.get('type'))}{detail}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------- the client
class ComfyClient:
    def __init__(self, server: str = "http://127.0.0.1:8188", client_id: str | None = None,
                 request_timeout: float = 60.0):
        self.server = server.rstrip("/")
        if "://" not in self.server:
            self.server = "http://" + self.server
        self.client_id = client_id or uuid.uuid4().hex
        self.request_timeout = request_timeout

    # -- plain HTTP
    def _request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        req = urllib.request.Request(self.server + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=self.request_timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()
        except (urllib.error.URLError, OSError) as e:
            raise ComfyServerError(f"Cannot reach ComfyUI at {self.server} ({e}). Start it (python main.py "
                                   f"--listen 127.0.0.1 --port 8188) or pass the right --server.") from None

    def get_json(self, path: str):
        status, data = self._request("GET", path)
        if status != 200:
            raise ComfyServerError(f"GET {path} answered HTTP {status}: {data[:300]!r}")
        return json.loads(data)

    def post_json(self, path: str, obj) -> tuple[int, dict]:
        status, data = self._request("POST", path, json.dumps(obj).encode(), {"Content-Type": "application/json"})
        try:
            return status, (json.loads(data) if data else {})
        except json.JSONDecodeError:
            return status, {"error": {"message": data.decode(errors="replace")[:500]}}

    def object_info(self, node_class: str | None = None) -> dict:
        return self.get_json("/object_info" + (f"/{urllib.parse.quote(node_class)}" if node_class else ""))

    def upload(self, path, subfolder: str = "", overwrite: bool = True) -> str:
        """Upload an image or video into ComfyUI's input folder; returns the name to put in a Load* node."""
        path = Path(path)
        if not path.is_file():
            raise InputError(f"Input file not found: {path}")
        boundary = uuid.uuid4().hex
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        parts = [(f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{path.name}"\r\n'
                  f"Content-Type: {mime}\r\n\r\n").encode() + path.read_bytes() + b"\r\n"]
        for name, value in (("type", "input"), ("subfolder", subfolder), ("overwrite", str(overwrite).lower())):
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        status, data = self._request("POST", "/upload/image", body,
                                     {"Content-Type": f"multipart/form-data; boundary={boundary}"})
        if status != 200:
            raise ComfyServerError(f"Uploading {path} failed: HTTP {status} {data[:300]!r}")
        info = json.loads(data)
        return f"{info['subfolder']}/{info['name']}" if info.get("subfolder") else info["name"]

    def queue(self, prompt: dict, extra_data: dict | None = None) -> str:
        """POST /prompt; raises ComfyServerError with every node error (also when HTTP 200 carries some)."""
        status, resp = self.post_json("/prompt", {"prompt": prompt, "client_id": self.client_id,
                                                  "extra_data": extra_data or {}})
        node_errors = resp.get("node_errors") or {}
        if status == 200 and node_errors and resp.get("prompt_id"):
            # ComfyUI queued the outputs that did validate (a partial prompt); don't let half a workflow run
            self.post_json("/queue", {"delete": [resp["prompt_id"]]})
            self.interrupt(resp["prompt_id"])
        if status != 200 or node_errors:
            err = resp.get("error") or {}
            message = err.get("message") if isinstance(err, dict) else str(err)
            details = format_node_errors(node_errors, prompt)
            raise ComfyServerError(f"ComfyUI rejected the workflow (HTTP {status}): {message or 'node errors'}"
                                   + (f"\n{details}" if details else "")
                                   + ("\nIs the DisCo pack loaded? Check the server log for IMPORT FAILED."
                                      if "does not exist" in str(message) else ""))
        return resp["prompt_id"]

    def history(self, prompt_id: str) -> dict | None:
        return self.get_json(f"/history/{prompt_id}").get(prompt_id)

    def interrupt(self, prompt_id: str | None = None) -> None:
        self.post_json("/interrupt", {"prompt_id": prompt_id} if prompt_id else {})

    def download(self, file_info: dict, dest_dir) -> Path:
        query = urllib.parse.urlencode({k: file_info.get(k, "") for k in ("filename", "subfolder", "type")})
        status, data = self._request("GET", f"/view?{query}")
        if status != 200:
            raise ComfyServerError(f"Downloading {file_info.get('filename')} failed: HTTP {status}")
        dest = Path(dest_dir)
        dest.mkdir(parents=True, exist_ok=True)
        out = dest / Path(file_info["filename"]).name
        out.write_bytes(data)
        return out

    # -- waiting
    def wait(self, prompt_id: str, on_event: Callable[[str, dict], None] | None = None,
             timeout: float = 3600.0, ws=None) -> dict:
        """Follow a queued prompt until it ends; returns its /history entry. `on_event(type, data)` receives the
        websocket messages for this prompt (progress, executing, ...). Raises ComfyServerError on failure."""
        deadline = time.monotonic() + timeout
        if ws is not None:
            self._follow_ws(ws, prompt_id, on_event, deadline)
        while True:
            entry = self.history(prompt_id)
            if entry:  # ComfyUI adds a prompt to /history when it has finished, well or not
                return self._check(entry)
            if time.monotonic() > deadline:
                raise ComfyServerError(f"Prompt {prompt_id} did not finish within {timeout:.0f} s. It may still be "
                                       f"running: see {self.server}/history/{prompt_id}, or POST /interrupt.")
            time.sleep(0.5)

    def connect(self):
        """Open the websocket for this client id (None if websocket-client is not installed). Open it before
        `queue` so no message is missed."""
        try:
            import websocket
        except ImportError:
            return None
        url = self.server.replace("http", "ws", 1) + f"/ws?clientId={self.client_id}"
        try:
            return websocket.create_connection(url, timeout=self.request_timeout)
        except Exception:  # noqa: BLE001 - polling /history still works
            return None

    def _follow_ws(self, ws, prompt_id, on_event, deadline) -> None:
        while time.monotonic() < deadline:
            ws.settimeout(max(0.1, min(30.0, deadline - time.monotonic())))
            try:
                raw = ws.recv()
            except Exception as e:  # noqa: BLE001 - timeouts and closed sockets: fall back to polling
                if type(e).__name__ == "WebSocketTimeoutException":
                    if self.history(prompt_id):
                        return
                    continue
                return
            if isinstance(raw, bytes):
                continue  # binary preview frames
            msg = json.loads(raw)
            kind, data = msg.get("type"), msg.get("data") or {}
            if data.get("prompt_id") not in (None, prompt_id):
                continue
            if on_event is not None and kind not in ("status", "crystools.monitor"):
                on_event(kind, data)
            if kind in ("execution_error", "execution_interrupted", "execution_success"):
                return
            if kind == "executing" and data.get("node") is None and data.get("prompt_id") == prompt_id:
                return

    @staticmethod
    def _check(entry: dict) -> dict:
        status = entry.get("status") or {}
        if status.get("status_str") == "error":
            for kind, data in status.get("messages", []):
                if kind == "execution_error":
                    raise ComfyServerError(f"node {data.get('node_id')} ({data.get('node_type')}) failed: "
                                           f"{data.get('exception_type')}: {data.get('exception_message', '').strip()}")
                if kind == "execution_interrupted":
                    raise ComfyServerError(f"The run was interrupted at node {data.get('node_id')} "
                                           f"({data.get('node_type')}).")
            raise ComfyServerError(f"The run failed: {status.get('messages')}")
        return entry
