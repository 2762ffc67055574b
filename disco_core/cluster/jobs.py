"""Many videos on one cluster: a JSON Lines file, one job (one `animate`) per line, rendered one after another,
each spread over all the workers. A failing job is reported and the rest go on; a finished job's video is
renamed into place only when complete, so a rerun skips exactly the finished jobs."""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path

from ..errors import DiscoError, InputError

PATH_KEYS = ("image", "mask", "poses", "driving", "checkpoint", "configs", "personal", "frames_dir")


@dataclasses.dataclass
class Job:
    line: int
    name: str
    argv: list[str]
    out: Path


def read_jobs(path: str | Path, out_dir: str | Path, defaults: dict) -> list[Job]:
    """Each line: {"image": ..., "poses" or "driving": ..., "out": "name.mp4", other animate flags by name}.
    Relative paths are taken from the jobs file's folder; `out` goes under `out_dir` (default jobNNN.mp4)."""
    path, out_dir = Path(path), Path(out_dir)
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        raise InputError(f"cannot read the jobs file {path}: {e}") from None
    jobs = []
    for number, text in enumerate(lines, 1):
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        try:
            spec = json.loads(text)
            if not isinstance(spec, dict):
                raise ValueError("a line must be one JSON object")
        except ValueError as e:
            raise InputError(f"{path}:{number}: not a JSON object ({e}); write one job per line, like "
                             '{"image": "photo.png", "poses": "poses/", "out": "dance.mp4"}') from None
        spec = {**defaults, **{k.replace("-", "_"): v for k, v in spec.items()}}
        out = out_dir / spec.pop("out", f"job{number:03d}.mp4")
        argv = ["--out", str(out)]
        for key, value in spec.items():
            if key in PATH_KEYS and value is not None and not Path(str(value)).is_absolute():
                value = path.parent / str(value)
            flag = "--" + key.replace("_", "-")
            if value is True:
                argv.append(flag)
            elif isinstance(value, (list, tuple)):
                argv += [flag, *map(str, value)]
            elif value is not None and value is not False:
                argv += [flag, str(value)]
        jobs.append(Job(number, out.name, argv, out))
    return jobs


def partial_path(out: Path) -> Path:
    return out.with_name(f"{out.stem}.partial{out.suffix}")


def run_jobs(jobs: list[Job], parse, render, cluster, progress) -> dict:
    """Render every job not finished before; -> {"done": [...], "skipped": [...], "failed": [(name, reason)]}."""
    summary = {"done": [], "skipped": [], "failed": []}
    for job in jobs:
        if job.out.exists():
            summary["skipped"].append(job.name)
        else:
            try:
                args = parse(job.argv)
                job.out.parent.mkdir(parents=True, exist_ok=True)
                args.out = str(partial_path(job.out))
                render(args, cluster, progress=False)
                os.replace(args.out, job.out)
                summary["done"].append(job.name)
            except (DiscoError, OSError, ValueError) as e:
                summary["failed"].append((f"line {job.line} ({job.name})", _reason(e)))
        progress(job.name)
    return summary


def _reason(e: BaseException) -> str:
    return str(e).splitlines()[0] if str(e) else type(e).__name__


class _JobParser(argparse.ArgumentParser):
    def error(self, message):  # a job's bad settings fail that job, not the whole batch
        raise InputError(f"bad settings: {message}")


def argument_parser(add_arguments) -> argparse.ArgumentParser:
    parser = _JobParser(prog="job", add_help=False)
    add_arguments(parser)
    return parser
