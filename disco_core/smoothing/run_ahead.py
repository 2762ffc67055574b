"""Run an iterator on a second thread, a bounded number of items ahead of its consumer.

Temporal Smooth computes each frame pair's optical flow this way while the previous frame is being blended:
OpenCV and torch release the GIL, so the two stages use two cores without intra-op thread pools, whose threads
spin-wait for each other and stall on a busy CPU (see SMOOTH_THREADS). The items come in the same order with the
same values as without the thread, so the result does not change."""
from __future__ import annotations

import queue
import threading
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")
_END = object()


class _Raised:
    def __init__(self, error: BaseException):
        self.error = error


def run_ahead(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Yield `items`' values, produced on a daemon thread at most `depth` ahead (so memory stays bounded). An
    error in the producer is raised here; when the consumer stops early (error, cancel, close) the producer
    stops at its next item."""
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    box: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(value) -> bool:
        while not stop.is_set():
            try:
                box.put(value, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            put(_Raised(e))
            return
        put(_END)

    thread = threading.Thread(target=produce, name="run_ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = box.get()
            if item is _END:
                return
            if isinstance(item, _Raised):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join()
