"""The HTTP client's workflow patching and result handling (no server needed), and the client command."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from disco_core.client import http as hc  # noqa: E402
from disco_core.errors import InputError  # noqa: E402

API = ROOT / "workflows" / "api" / "dance_basic.json"


def test_patch_by_title_class_or_id():
    prompt = hc.load_workflow(API)
    sampler = hc.set_input(prompt, "DisCo Sampler", "steps", 12)
    assert prompt[sampler]["inputs"]["steps"] == 12
    assert hc.find_node(prompt, "DisCoSampler") == sampler == hc.find_node(prompt, sampler)
    with pytest.raises(InputError, match="linked"):
        hc.set_input(prompt, "DisCo Sampler", "model", "x")
    with pytest.raises(InputError, match="Reference photo"):  # lists what exists
        hc.find_node(prompt, "No such node")


def test_assignments_parse_json_or_text():
    assert hc.parse_assignment("DisCo Sampler.cfg=2.5") == ("DisCo Sampler", "cfg", 2.5)
    assert hc.parse_assignment("8.scheduler=ddim") == ("8", "scheduler", "ddim")
    with pytest.raises(InputError, match="NODE.input=value"):
        hc.parse_assignment("steps=3")


def test_ui_workflow_is_refused_with_a_pointer_to_the_api_file(tmp_path):
    with pytest.raises(InputError, match="Export \\(API\\)"):
        hc.load_workflow(ROOT / "workflows" / "dance_basic.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(InputError, match="not valid JSON"):
        hc.load_workflow(tmp_path / "bad.json")


def test_node_errors_and_outputs_are_read_from_comfy_payloads():
    prompt = hc.load_workflow(API)
    errors = {"1": {"class_type": "DisCoModelLoader", "errors": [
        {"type": "custom_validation_failed", "message": "Custom validation failed for node", "details": "no file"}]}}
    assert hc.format_node_errors(errors, prompt) == \
        "node 1 'Load DisCo Model': Custom validation failed for node (no file)"
    entry = {"outputs": {"10": {"images": [{"filename": "a.mp4", "subfolder": "disco", "type": "output"}],
                                "animated": [True]},
                         "7": {"images": [{"filename": "p.png", "subfolder": "", "type": "temp"}]}}}
    assert [f["filename"] for f in hc.output_files(entry)] == ["a.mp4"]
    assert len(hc.output_files(entry, types=None)) == 2
    with pytest.raises(hc.ComfyServerError, match="node 8 .*InputError: bad"):
        hc.ComfyClient._check({"status": {"status_str": "error", "messages": [
            ["execution_error", {"node_id": "8", "node_type": "DisCoSampler", "exception_type": "InputError",
                                 "exception_message": "bad"}]]}})


def test_unreachable_server_says_how_to_start_it():
    client = hc.ComfyClient("127.0.0.1:9", request_timeout=2)
    with pytest.raises(hc.ComfyServerError, match="Start it"):
        client.object_info()


def test_client_command_dry_run_patches_the_shipped_workflow(tmp_path):
    pose = tmp_path / "poses.json"
    pose.write_text("[]")
    done = subprocess.run([sys.executable, "-m", "disco_core", "client", "--workflow", "pose_from_keypoints",
                           "--photo", "me.png", "--pose-json", str(pose), "--steps", "7",
                           "--set", "DisCo Sampler.cfg=2.0", "--dry-run"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    prompt = json.loads(done.stdout)
    sampler = hc.find_node(prompt, "DisCo Sampler")
    assert prompt[sampler]["inputs"]["steps"] == 7 and prompt[sampler]["inputs"]["cfg"] == 2.0
    assert prompt[hc.find_node(prompt, "Reference photo")]["inputs"]["image"] == "me.png"
    assert prompt[hc.find_node(prompt, "Pose Sequence")]["inputs"]["pose_json"] == "[]"
