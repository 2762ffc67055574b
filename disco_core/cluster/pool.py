"""A pool of DisCo workers for one model: start them with a bounded wait, hand tasks to whichever is free, and
redo the task of a worker that dies (on another worker, or on a replacement when none is left). Results are
given back in task order through a bounded reordering buffer, so the driver's memory does not grow with the
number of tasks."""
from __future__ import annotations

import re
import uuid
from typing import Callable, Iterator

from .. import errors
from ..errors import Cancelled, DiscoError
from .needs import ClusterError, require_ray
from .worker import DiscoWorker

POLL_S = 0.2             # how often a wait looks at the cancel check
CANCEL_GRACE_S = 30.0    # a cancelled worker that has not stopped by then is killed (and replaced later)


def _unwrap(error: BaseException) -> BaseException:
    """A DisCo error raised in a worker, as itself (its message is the user's next step). A worker that failed
    to start carries only the text of its traceback; its last DisCo error line is the message."""
    cause = getattr(error, "cause", None)
    if isinstance(cause, DiscoError):
        return cause
    found = re.findall(r"disco_core\.errors\.(\w+): (.*)", str(getattr(error, "error_msg", "")))
    if found:
        name, message = found[-1]
        return getattr(errors, name, DiscoError)(message.strip())
    return error


class Worker:
    def __init__(self, actor, name: str):
        self.actor, self.name, self.info = actor, name, None


class WorkerPool:
    def __init__(self, source, count: int, *, gpus: float = 0.0, threads: int = 1, load_timeout: float = 600.0):
        self.ray = require_ray()
        self.source, self.count, self.gpus, self.threads = source, count, gpus, threads
        self.load_timeout = load_timeout
        self.actor_class = self.ray.remote(DiscoWorker)
        self.workers: list[Worker] = []
        self.videos: dict[str, tuple] = {}     # open videos: id -> (inputs ref, options), reopened on replacements
        self.replaced = 0                      # workers started to replace dead ones (for tests and logs)
        self.stopped: dict[str, int] = {}      # how stopped work ended: cancelled / finished / killed
        self._start(count)
        self.info = self.workers[0].info

    # -------------------------------------------------------------------------------------------- life cycle
    def _new_actor(self):
        return self.actor_class.options(num_cpus=self.threads, num_gpus=self.gpus, max_concurrency=2,
                                        max_restarts=0).remote(self.source, self.threads)

    def _start(self, count: int) -> list[Worker]:
        ray = self.ray
        fresh = [Worker(self._new_actor(), f"worker-{uuid.uuid4().hex[:6]}") for _ in range(count)]
        refs = {w.actor.info.remote(): w for w in fresh}
        ready, _ = ray.wait(list(refs), num_returns=len(refs), timeout=self.load_timeout)
        errors, started = [], []
        for ref, worker in refs.items():
            if ref not in ready:
                ray.kill(worker.actor)
                continue
            try:
                worker.info = ray.get(ref)
                started.append(worker)
            except Exception as e:  # noqa: BLE001 - a worker that could not load the model
                errors.append(_unwrap(e))
                ray.kill(worker.actor)
        if not started:
            if errors:
                reason = errors[0]
                raise ClusterError(f"no worker could load the model {self.source.checkpoint}: {reason}") from None
            raise ClusterError(
                f"no worker started within {self.load_timeout:g} s: the cluster has "
                f"{_resources(ray)} and each worker asks for {self.threads} CPU and {self.gpus:g} GPU; lower the "
                "workers or GPUs per worker, or add nodes")
        for worker in started:
            for video_id, (inputs, options) in self.videos.items():
                ray.get(worker.actor.open_video.remote(video_id, inputs, options))
        self.workers.extend(started)
        return started

    def alive(self) -> bool:
        return bool(self.workers)

    def top_up(self) -> None:
        """Replace workers lost in earlier runs (between videos, so no run waits for a model to load)."""
        if len(self.workers) < self.count:
            self._start(self.count - len(self.workers))

    def shutdown(self) -> None:
        for worker in self.workers:
            self.ray.kill(worker.actor)
        self.workers.clear()
        self.videos.clear()

    def _lost(self, worker: Worker) -> None:
        if worker in self.workers:
            self.workers.remove(worker)
            self.ray.kill(worker.actor)
        if not self.workers:  # the last one died: start one more (a lost node's work goes elsewhere)
            self.replaced += 1
            self._start(1)

    # -------------------------------------------------------------------------------------------- videos
    def open_video(self, inputs: dict, options: dict) -> str:
        video_id = uuid.uuid4().hex
        ref = self.ray.put(inputs)
        self.videos[video_id] = (ref, options)
        refs = {w.actor.open_video.remote(video_id, ref, options): w for w in self.workers}
        for ref_, worker in refs.items():
            try:
                self.ray.get(ref_)
            except self.ray.exceptions.RayActorError:
                self._lost(worker)
            except self.ray.exceptions.RayTaskError as e:
                self.close_video(video_id)
                raise _unwrap(e) from None
        return video_id

    def close_video(self, video_id: str) -> None:
        self.videos.pop(video_id, None)
        for worker in self.workers:
            worker.actor.close_video.remote(video_id)

    # -------------------------------------------------------------------------------------------- tasks
    def run_ordered(self, tasks: list[Callable], *, video_id: str | None = None,
                    should_cancel: Callable[[], bool] | None = None, ahead: int | None = None) -> Iterator:
        """Run `tasks[j](actor) -> ObjectRef` on whichever worker is free and yield their results in order.
        At most `ahead` results (default 2 per worker) wait for an earlier one, so memory stays bounded. A
        worker that dies has its task redone elsewhere; finished results are never lost."""
        ray = self.ray
        ahead = ahead or 2 * max(1, len(self.workers))
        queue = list(range(len(tasks)))   # task indices not yet handed out (redone ones go first)
        running: dict = {}                # ref -> (task index, worker)
        done: dict[int, object] = {}
        next_out = 0
        try:
            while next_out < len(tasks):
                busy = {w for _, w in running.values()}
                for worker in [w for w in self.workers if w not in busy]:
                    if not queue or queue[0] >= next_out + ahead:
                        break
                    j = queue.pop(0)
                    running[tasks[j](worker.actor)] = (j, worker)
                if not running:
                    raise ClusterError("no worker is left to run the remaining work")
                ready, _ = ray.wait(list(running), num_returns=1, timeout=POLL_S)
                if should_cancel is not None and should_cancel():
                    raise Cancelled("sampling was cancelled")
                for ref in ready:
                    j, worker = running.pop(ref)
                    try:
                        done[j] = ray.get(ref)
                    except ray.exceptions.RayActorError:
                        self._lost(worker)
                        queue.insert(0, j)
                    except ray.exceptions.RayTaskError as e:
                        raise _unwrap(e) from None
                while next_out in done:
                    yield done.pop(next_out)
                    next_out += 1
        except BaseException:
            if running:
                self._stop(video_id, running)
            raise

    def _stop(self, video_id: str | None, running: dict) -> None:
        """Stop the work in flight (cancel or error): the workers drop it at their next step; one that does not
        within the grace period is killed so that it frees its device."""
        ray = self.ray
        workers = {w for _, w in running.values()}
        if video_id is not None:
            for worker in workers:
                worker.actor.cancel.remote(video_id)
        ended, late = ray.wait(list(running), num_returns=len(running), timeout=CANCEL_GRACE_S)
        for ref in ended:
            try:
                ray.get(ref)
                outcome = "finished"
            except ray.exceptions.RayTaskError as e:
                outcome = "cancelled" if isinstance(_unwrap(e), Cancelled) else "failed"
            except ray.exceptions.RayActorError:
                outcome = "lost"
            self.stopped[outcome] = self.stopped.get(outcome, 0) + 1
        for ref in late:
            self.stopped["killed"] = self.stopped.get("killed", 0) + 1
            _, worker = running[ref]
            if worker in self.workers:
                self.workers.remove(worker)
                ray.kill(worker.actor)


def _resources(ray) -> str:
    try:
        res = ray.cluster_resources()
    except Exception:  # noqa: BLE001 - only for the message
        return "unknown resources"
    return f"{res.get('CPU', 0):g} CPUs and {res.get('GPU', 0):g} GPUs"

