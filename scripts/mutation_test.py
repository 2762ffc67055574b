"""Mutation testing with mutmut, one module at a time, each with only the tests that exercise it.

    python scripts/mutation_test.py disco_core/pose/render.py     # one module (or several)
    python scripts/mutation_test.py                               # every module in MODULES, one after the other

Each module runs in a fresh copy of the repository (mutmut's `mutants/` folder never lands in the checkout), with
`[tool.mutmut]` written for that module alone and `../shared` beside it as CI has it (`--fresh-clone`: without it,
so the tests that need the real photos skip). Prints
the score and writes the surviving mutants' diffs to `out/mutation/<module>.txt`. Needs `pip install mutmut`
(3.x). See docs/developing.md, "Mutation testing".
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NODE_WIDGETS = "tests/nodes/test_every_widget.py"
NODE_CONTRACTS = ["tests/nodes/test_node_contracts.py", "tests/nodes/test_widget_reference.py",
                  f"{NODE_WIDGETS}::test_every_widget_has_a_test"]
WINDOWS = "tests/core/test_temporal_windows.py"
# module -> the tests that exercise it (pytest node ids). mutmut runs, per mutant, those that reach its function,
# stopping at the first failure; a survivor runs them all, so the list stays as short as the module allows.
MODULES = {
    "disco_core/pose/render.py": ["tests/core/test_pose_render.py"],
    "disco_core/sampling/windows.py": [f"{WINDOWS}::{t}" for t in (
        "test_window_plan_covers_the_video_with_full_windows", "test_window_plan_edges_and_messages",
        "test_fusion_weights_are_the_hand_written_linear_cross_fade",
        "test_fusion_weights_fall_towards_overlapped_edges_and_sum_to_one",
        "test_multi_window_fusion_matches_a_reference_loop")],
    "disco_core/sampling/windowed.py": [f"{WINDOWS}::{t}" for t in (
        "test_overlapping_predictions_are_fused_with_the_weights", "test_multi_window_fusion_matches_a_reference_loop",
        "test_running_several_windows_at_once_changes_nothing", "test_the_model_always_sees_full_windows",
        "test_progress_counts_window_steps_and_cancel_stops_between_them",
        "test_segments_of_windows_fuse_bit_equal_to_one_process", "test_a_background_per_frame_reaches_each_window",
        "test_one_window_with_a_stochastic_scheduler_is_the_plain_scheduler_loop",
        "test_a_bf16_model_samples_windows_in_bf16", "test_step_info_names_each_batch_and_the_last_step_previews",
        "test_guidance_one_runs_the_windows_without_the_unconditional_half",
        "test_a_segment_keeps_apart_only_the_frames_earlier_batches_cover",
        "test_the_parity_trace_records_the_first_batch_of_the_first_step_only",
        "test_stochastic_and_multistep_schedulers_are_batching_invariant_too")] + [
        "tests/core/test_temporal_model.py::test_check_parity_passes_on_the_temporal_fixture",
        "tests/core/test_fast_sampling.py::test_windowed_temporal_sampler_gives_the_official_order_frames_exactly"],
    # the temporal model (the former disco_core/temporal/ package): its layers and their parity check
    "disco_core/model/temporal_layers.py": ["tests/core/test_temporal_layers.py", "tests/core/test_temporal_model.py"],
    "disco_core/model/temporal.py": ["tests/core/test_temporal_model.py"],
    "disco_core/parity/temporal.py": ["tests/core/test_temporal_model.py", "tests/core/test_fast_sampling.py::"
                                      "test_windowed_temporal_sampler_gives_the_official_order_frames_exactly"],
    "disco_core/sampling/window_poses.py": ["tests/core/test_window_poses.py", WINDOWS],
    "disco_core/sampling/animate_temporal.py": [WINDOWS, "tests/core/test_animate_cli_temporal.py",
                                                "tests/core/test_animate_temporal_inputs.py"],
    "disco_core/smoothing/temporal_smooth.py": ["tests/core/test_temporal_smooth.py", "tests/core/test_temporal_smooth_parts.py",
                                                f"{NODE_WIDGETS}::test_temporal_smooth_widget_changes_the_frames"],
    "disco_core/sampling/steps.py": ["tests/core/test_sampling.py", "tests/core/test_parity.py::test_parity_with_official_outputs",
                                     f"{NODE_WIDGETS}::test_every_scheduler_gives_its_own_frames"],
    "nodes/temporal_smooth.py": [*NODE_CONTRACTS, "tests/nodes/test_node_temporal_smooth.py", "tests/nodes/test_frame_files.py",
                                 f"{NODE_WIDGETS}::test_temporal_smooth_widget_changes_the_frames",
                                 f"{NODE_WIDGETS}::test_temporal_smooth_progress_counts_both_passes"],
    "nodes/model_loader.py": [*NODE_CONTRACTS, "tests/nodes/test_model_loader.py", "tests/nodes/test_finetune_node.py",
                              f"{NODE_WIDGETS}::test_loader_checkpoint_picks_the_file",
                              f"{NODE_WIDGETS}::test_loader_dtype_reaches_the_weights"],
    "nodes/sampler.py": ["tests/nodes/test_widget_reference.py", "tests/nodes/test_sampler.py", "tests/nodes/test_sampler_temporal.py",
                         "tests/nodes/test_sampler_wiring.py", NODE_WIDGETS],
    "nodes/disentangle.py": ["tests/nodes/test_widget_reference.py", "tests/nodes/test_disentangle.py", "tests/nodes/test_bad_inputs.py",
                             f"{NODE_WIDGETS}::test_disentangle_invert_mask_flips_the_split"],
    "nodes/pose_sequence.py": ["tests/nodes/test_widget_reference.py", "tests/nodes/test_pose_sequence.py", "tests/nodes/test_pose_sequence_audio.py",
                               "tests/nodes/test_pose_sequence_wiring.py", "tests/nodes/test_bad_inputs.py", NODE_WIDGETS],
    "nodes/finetune.py": ["tests/nodes/test_widget_reference.py", "tests/nodes/test_finetune_node.py",
                          "tests/nodes/test_finetune_wiring.py", NODE_WIDGETS],
    "nodes/cluster.py": ["tests/nodes/test_widget_reference.py", "tests/nodes/test_cluster_node.py"],
    "nodes/previews.py": ["tests/nodes/test_previews.py", "tests/nodes/test_memory_and_previews.py"],
    "nodes/sockets.py": ["tests/nodes/test_socket_values.py"],
    "nodes/comfy_glue.py": ["tests/nodes/test_comfy_glue.py", "tests/nodes/test_error_names.py",
                            "tests/nodes/test_model_loader.py",
                            "tests/nodes/test_node_contracts.py::test_glue_runs_without_comfyui"],
}
COPY_IGNORE = shutil.ignore_patterns(".git", ".venv", "mutants", "__pycache__", "out", ".pytest_cache", "*.egg-info")


def _config(module: str, tests: list[str]) -> str:
    quoted = lambda items: "[" + ", ".join(f'"{i}"' for i in items) + "]"
    return (f"\n[tool.mutmut]\nsource_paths = [\"disco_core\", \"nodes\"]\n"
            f"also_copy = [\"__init__.py\", \"bench\", \"docs\", \"workflows\", \"web\"]\n"  # the root is the pack; tests read docs
            f"only_mutate = {quoted([module])}\n"
            # tests.mutmut_pack_names: node tests see modules under the pack's name (see that file)
            f"pytest_add_cli_args = {quoted(['-p', 'tests.mutmut_pack_names', '-q', '-p', 'no:cacheprovider'])}\n"
            f"pytest_add_cli_args_test_selection = {quoted(tests)}\n")


def run_module(module: str, mutmut: str, out_dir: Path, shared: bool = True) -> tuple[int, int, int, list[str]]:
    """-> (killed, timed out, total, the other mutants' names: survived, no tests, ...) of one module."""
    with tempfile.TemporaryDirectory(prefix="mutation-") as tmp:
        copy = Path(tmp) / "repo"
        shutil.copytree(ROOT, copy, ignore=COPY_IGNORE)
        if shared and (ROOT.parent / "shared").is_dir():  # mutmut runs the tests in copy/mutants: ../shared
            (copy / "shared").symlink_to((ROOT.parent / "shared").resolve())
        pyproject = copy / "pyproject.toml"
        pyproject.write_text(pyproject.read_text() + _config(module, MODULES[module]))
        # one OpenMP thread: mutmut forks a worker per mutant, and a fork of a process whose OpenMP pool is
        # running can hang until mutmut's timeout (which would then count as a kill)
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        subprocess.run([mutmut, "run"], cwd=copy, check=False, stdout=subprocess.DEVNULL, env=env)
        results = subprocess.run([mutmut, "results", "--all", "true"], cwd=copy, capture_output=True, text=True).stdout
        status = dict(re.findall(r"^\s*(\S+): (\w[\w ]*)$", results, re.M))
        survivors = sorted(name for name, s in status.items() if s not in ("killed", "timeout"))
        killed = sum(s == "killed" for s in status.values())
        timeouts = sum(s == "timeout" for s in status.values())
        report = [f"{module}: {killed}/{len(status)} killed, {timeouts} timed out"]
        for name in survivors:
            diff = subprocess.run([mutmut, "show", name], cwd=copy, capture_output=True, text=True).stdout
            report.append(f"--- {name} ({status[name]})\n{diff}")
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / (module.replace("/", ".") + ".txt")).write_text("\n".join(report))
    return killed, timeouts, len(status), survivors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", default=list(MODULES), help="paths as in MODULES (default: all)")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "mutation", help="folder for the survivors")
    parser.add_argument("--fresh-clone", action="store_true", help="without ../shared (real-data tests skip)")
    args = parser.parse_args()
    mutmut = shutil.which("mutmut") or str(Path(sys.executable).with_name("mutmut"))
    for module in args.modules:
        if module not in MODULES:
            parser.error(f"{module} is not in MODULES (add it with the tests that exercise it)")
        killed, timeouts, total, survivors = run_module(module, mutmut, args.out, shared=not args.fresh_clone)
        score = 100 * (killed + timeouts) / total if total else 100.0
        print(f"{module}: {killed}/{total} killed, {timeouts} timed out ({score:.0f} %), {len(survivors)} survived",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
