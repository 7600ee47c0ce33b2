"""The threads every walk of every account shares: one pool, started once and bounded in all
(settings.WALK_THREADS), so a load of hundreds of accounts starts no thread per account and
holds no more threads than one of a few.

Only tasks that submit nothing themselves run here (a page read, a window walked): a task that
waited for another in the same pool could wait for ever once every thread waits alike. The walk
that submits them only polls, with a timeout, from dlt's thread."""

import os
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

from agent_runs import settings

T = TypeVar("T")

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _forget_pool_in_child() -> None:
    """A forked child has none of its parent's threads: a pool it inherited would queue tasks that
    no thread runs. It makes its own on first use."""
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_pool_in_child)


def shared_pool() -> ThreadPoolExecutor:
    """The walks' pool, made on first use (a process that never walks starts no thread)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=settings.WALK_THREADS, thread_name_prefix="agent-runs-walk")
        return _pool


class Tasks:
    """One walk's tasks in the shared pool. Closing cancels those not started and waits for those
    running (each running task is told to stop by its walk), so a walk that ends early, fails or is
    closed by dlt leaves nothing behind. Done tasks are forgotten at once: their results (pages)
    are not kept alive."""

    def __init__(self) -> None:
        self.pending: set[Future[Any]] = set()
        self.lock = threading.Lock()

    def submit(self, task: Callable[..., T], *args: Any) -> "Future[T]":
        future = shared_pool().submit(task, *args)
        with self.lock:
            self.pending.add(future)
        future.add_done_callback(self.forget)
        return future

    def forget(self, future: Future[Any]) -> None:
        with self.lock:
            self.pending.discard(future)

    def close(self) -> None:
        with self.lock:
            pending = list(self.pending)
        for future in pending:
            future.cancel()
        wait(pending)

    def __enter__(self) -> "Tasks":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def hand_on(ready: "queue.Queue[Any]", item: Any, stop: threading.Event) -> bool:
    """Put an item in a walk's bounded queue, waiting for room, unless the walk has stopped taking
    them meanwhile; whether it was put."""
    while not stop.is_set():
        try:
            ready.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def in_background(items: Iterator[T], ahead: int = 2) -> Iterator[T | None]:
    """`items`, read in the shared pool up to `ahead` items before the caller takes them; None while
    the next is not ready (dlt's signal to serve other resources meanwhile), so that a walk read
    page by page keeps no other account waiting. An error in reading is raised here."""
    ready: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=ahead)
    stop = threading.Event()

    def read() -> None:
        try:
            for item in items:
                if not hand_on(ready, (True, item), stop):
                    return
            hand_on(ready, (False, None), stop)
        except BaseException as error:  # handed to the caller, raised in its thread
            hand_on(ready, (False, error), stop)

    with Tasks() as tasks:
        tasks.submit(read)
        try:
            while True:
                try:
                    more, item = ready.get(timeout=settings.PAGE_WAIT_S)
                except queue.Empty:
                    yield None
                    continue
                if more:
                    yield item
                elif item is None:
                    return
                else:
                    raise item
        finally:
            stop.set()
