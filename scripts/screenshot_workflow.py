"""Screenshot a UI workflow on a running ComfyUI canvas with headless Chromium (for the README images).

    python scripts/screenshot_workflow.py --server http://127.0.0.1:8188 \
        --workflow workflows/dance_basic.json --out docs/dance_basic.png

Needs `chromium` (Debian package) and websocket-client. Talks to Chromium over its DevTools protocol on a local
port, loads the workflow with the frontend's own `app.loadGraphData`, and saves a PNG.
"""
from __future__ import annotations

import argparse
import base64
import json
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--hide-scrollbars"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DevTools:
    def __init__(self, ws_url: str):
        import websocket

        self.ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self.next_id = 0

    def call(self, method: str, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--server", default="http://127.0.0.1:8188")
    p.add_argument("--workflow", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--size", default="1800,1000", help="window width,height in pixels")
    p.add_argument("--chromium", default="chromium")
    args = p.parse_args(argv)
    workflow = json.loads(Path(args.workflow).read_text())
    port = free_port()
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.Popen([args.chromium, *FLAGS, f"--remote-debugging-port={port}",
                                 f"--user-data-dir={profile}", f"--window-size={args.size}", "about:blank"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                try:
                    pages = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=2).read())
                    page = next(x for x in pages if x.get("type") == "page")
                    break
                except Exception:  # noqa: BLE001 - Chromium still starting
                    time.sleep(0.2)
            else:
                raise RuntimeError("Chromium did not open its DevTools port")
            tools = DevTools(page["webSocketDebuggerUrl"])
            tools.call("Page.enable")
            tools.call("Page.navigate", url=args.server)
            for _ in range(240):
                if tools.evaluate("!!(window.app && window.app.graph && window.app.canvas)"):
                    break
                time.sleep(0.5)
            else:
                raise RuntimeError("the ComfyUI frontend did not start in the page")
            time.sleep(2)
            tools.evaluate("document.querySelectorAll('.p-dialog-close-button').forEach(b => b.click())")
            tools.evaluate(f"window.app.loadGraphData({json.dumps(workflow)})")
            time.sleep(3)
            tools.evaluate("document.querySelectorAll('.p-dialog-close-button').forEach(b => b.click())")
            time.sleep(1)
            shot = tools.call("Page.captureScreenshot", format="png")
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_bytes(base64.b64decode(shot["data"]))
            print(args.out)
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
