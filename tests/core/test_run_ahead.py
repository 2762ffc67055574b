"""run_ahead: a producer thread a bounded number of items ahead, in order, errors and early stops handed over;
and Temporal Smooth computing its flows on that thread with the same result as inline."""
from __future__ import annotations

import threading
import time

import pytest
import torch

from disco_core.smoothing import temporal_smooth as ts
from disco_core.smoothing.run_ahead import run_ahead


def test_items_come_in_order_from_another_thread():
    threads = []

    def items():
        for i in range(50):
            threads.append(threading.get_ident())
            yield i * i

    assert list(run_ahead(items(), depth=3)) == [i * i for i in range(50)]
    assert set(threads) == {threads[0]} and threads[0] != threading.get_ident()


def test_the_producer_stays_at_most_depth_items_ahead():
    produced = []

    def items():
        for i in range(20):
            produced.append(i)
            yield i

    it = run_ahead(items(), depth=2)
    assert next(it) == 0
    time.sleep(0.3)  # ample time for a producer that did not wait to run to the end
    # taken: 0; queued: 1, 2; the producer holds 3 while it waits for room
    assert len(produced) <= 4
    it.close()


def test_an_error_in_the_producer_is_raised_to_the_consumer_after_the_items_before_it():
    def items():
        yield 1
        yield 2
        raise KeyError("frame 3 is missing")

    got = []
    with pytest.raises(KeyError, match="frame 3"):
        for item in run_ahead(items()):
            got.append(item)
    assert got == [1, 2]


def test_a_consumer_that_stops_early_stops_the_producer():
    produced = []

    def items():
        for i in range(10_000):
            produced.append(i)
            yield i

    before = threading.active_count()
    for item in run_ahead(items(), depth=1):
        if item == 5:
            break
    assert threading.active_count() == before  # joined, not left running
    assert len(produced) < 10


def test_depth_below_one_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        next(run_ahead(iter([1]), depth=0))


def test_temporal_smooth_computes_flows_on_a_second_thread_with_the_inline_result(monkeypatch):
    frames = torch.rand(6, 40, 48, 3, generator=torch.Generator().manual_seed(4))
    flow_threads = set()
    original = ts._Flow.__call__

    def recording(self, src, dst):
        flow_threads.add(threading.get_ident())
        return original(self, src, dst)

    monkeypatch.setattr(ts._Flow, "__call__", recording)
    ahead = ts.temporal_smooth(frames, 0.8)
    assert flow_threads and threading.get_ident() not in flow_threads
    monkeypatch.setattr(ts, "run_ahead", lambda items, depth: iter(items))
    inline = ts.temporal_smooth(frames, 0.8)
    assert torch.equal(ahead, inline)
