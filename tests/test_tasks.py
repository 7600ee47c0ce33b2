"""The walks' shared pool: a walk's tasks leave nothing behind, a walk read in the background hands
its items on in order (None while waiting) and its error to the caller, and any number of walks
start no more threads than the pool's bound."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import pytest

from agent_runs import settings
from agent_runs.reading.walks.tasks import Tasks, in_background, shared_pool


def slowly(items: list[int], error: Exception | None = None) -> Iterator[int]:
    for item in items:
        time.sleep(0.01)
        yield item
    if error is not None:
        raise error


def test_a_walk_read_in_the_background_hands_on_every_item_in_order_and_none_while_waiting() -> None:
    taken = list(in_background(slowly([1, 2, 3, 4, 5])))
    assert [item for item in taken if item is not None] == [1, 2, 3, 4, 5]
    assert None in taken  # dlt was told to serve other resources while an item was on its way


def test_an_error_in_the_background_is_raised_in_the_caller() -> None:
    items = in_background(slowly([1, 2], RuntimeError("page 3 refused")))
    with pytest.raises(RuntimeError, match="page 3 refused"):
        assert [item for item in items if item is not None] == [1, 2]


def test_a_walk_closed_early_stops_its_reader_and_frees_its_thread() -> None:
    read: list[int] = []

    def endless() -> Iterator[int]:
        number = 0
        while True:
            number += 1
            read.append(number)
            yield number

    items = in_background(endless(), ahead=2)
    assert next(item for item in items if item is not None) == 1
    items.close()  # waits for the reader to stop
    stopped_at = len(read)
    time.sleep(0.2)
    assert len(read) == stopped_at <= 4  # at most `ahead` items beyond the one taken, then nothing


def test_any_number_of_walks_start_no_more_threads_than_the_pool_bound() -> None:
    shared_pool()
    before = threading.active_count()
    release = threading.Event()
    walks = [Tasks() for _ in range(3 * settings.WALK_THREADS)]
    futures = [walk.submit(release.wait, 5) for walk in walks]
    time.sleep(0.2)
    started = threading.active_count() - before
    release.set()
    for walk in walks:
        walk.close()
    assert all(future.done() for future in futures)
    assert started <= settings.WALK_THREADS


def test_a_child_forked_after_the_pool_started_walks_with_threads_of_its_own() -> None:
    """Schedulers and tests fork workers from a process that has walked before: the child inherits
    the pool but none of its threads, so it must make its own (else its tasks wait for ever)."""
    assert shared_pool().submit(lambda: 1).result() == 1  # the parent's pool has a thread now
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if a walk's task runs
        code = 1
        try:
            future = Tasks().submit(lambda: 42)
            code = 0 if future.result(timeout=5) == 42 else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
