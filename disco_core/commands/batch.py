"""python -m disco_core batch JOBS.jsonl --ray ADDRESS --out DIR [--checkpoint FILE] [--workers N] ..."""
from __future__ import annotations

from tqdm import tqdm

HELP = "render many videos (a JSON Lines file, one animate job per line) on a Ray cluster, resumable"


def add_arguments(p):
    from .animate import add_cluster_arguments
    p.add_argument("jobs", help="JSON Lines file: one job per line, e.g. {\"image\": \"photo.png\", \"poses\": "
                                "\"poses/\", \"out\": \"dance.mp4\", \"steps\": 20} (keys: the animate flags)")
    p.add_argument("--out", required=True, help="folder for the videos; finished ones are skipped on a rerun")
    p.add_argument("--checkpoint", help="default checkpoint of jobs that name none")
    p.add_argument("--configs", help="default configs.json of jobs that name none")
    add_cluster_arguments(p)
    p.add_argument("--device", default=None, help="workers' device (default: each worker's GPU, else CPU)")
    p.add_argument("--dtype", default=None, help="workers' dtype (default: fp16 on a GPU, fp32 on the CPU)")


def run(args) -> int:
    from ..cluster.jobs import argument_parser, read_jobs, run_jobs
    from ..errors import InputError
    from . import animate
    if not args.ray:
        raise InputError("batch renders on a Ray cluster: give --ray local (this machine), auto or ray://HOST:PORT")
    defaults = {k: v for k, v in (("checkpoint", args.checkpoint), ("configs", args.configs),
                                  ("device", args.device), ("dtype", args.dtype)) if v}
    jobs = read_jobs(args.jobs, args.out, defaults)
    parser = argument_parser(animate.add_arguments)
    cluster = animate.make_cluster(args)
    bar = tqdm(total=len(jobs), unit="job", desc="DisCo batch")

    def parse(argv):
        job_args = parser.parse_args(argv)
        if job_args.ray or job_args.workers != 2:
            raise InputError("a job cannot choose the cluster: give --ray/--workers to batch itself")
        return job_args

    try:
        summary = run_jobs(jobs, parse, animate.render, cluster, lambda name: bar.update(1))
    finally:
        bar.close()
        cluster.shutdown()
    print(f"{len(summary['done'])} done, {len(summary['skipped'])} already complete (skipped), "
          f"{len(summary['failed'])} failed, of {len(jobs)} jobs in {args.jobs}")
    for name, reason in summary["failed"]:
        print(f"  failed: {name}: {reason}")
    return 1 if summary["failed"] else 0
