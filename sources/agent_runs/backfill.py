"""Walking a long history with several workers: the created-at range is cut into windows, each
window is walked with its own cursor, and pages reach dlt as they arrive (order does not matter:
the incremental cursor takes the maximum, and each run lies in exactly one window).

Windows are half-open, [start, end): the APIs' own bounds differ (TinyFish exclusive and widened,
Browserbase inclusive), so every page is trimmed to its window and a run on a boundary is loaded
once. For a first load the oldest run is found by probing (`limit=1` requests, several at once),
so the windows cover the history rather than years of nothing.
"""

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from itertools import pairwise
from typing import NamedTuple

import orjson
import pyarrow.compute as pc
from dlt.sources.helpers.rest_client import RESTClient

from .helpers import Provider, RunsPage, http_failure, paginate_runs
from .settings import EARLIEST_RUN_PROBE, MIN_BACKFILL_WINDOW, PROBE_RESOLUTION, WINDOWS_PER_WORKER

NewClient = Callable[[], RESTClient]


class Window(NamedTuple):
    start: datetime | None  # inclusive; None: from the beginning
    end: datetime | None  # exclusive; None: up to now

    def trim(self, page: RunsPage) -> RunsPage:
        """The page without runs outside the window (the APIs' bounds overlap at the edges)."""
        created = page.table["created_at"]
        inside = None
        if self.start is not None:
            inside = pc.greater_equal(created, self.start)
        if self.end is not None:
            before_end = pc.less(created, self.end)
            inside = before_end if inside is None else pc.and_(inside, before_end)
        return page if inside is None or pc.all(inside).as_py() else page.where(inside)


def plan_windows(
    provider: Provider, new_client: NewClient, start: datetime | None, end: datetime | None, workers: int
) -> list[Window]:
    """One window for a single worker or a short range (an hourly load); otherwise about
    WINDOWS_PER_WORKER windows a worker, of equal time, so a dense stretch does not hold up the rest."""
    if workers <= 1:
        return [Window(start, end)]
    until = end or datetime.now(UTC)
    floor = start or find_oldest(provider, new_client, until, workers)
    if floor is None:  # nothing to load
        return [Window(start, end)]
    count = min(workers * WINDOWS_PER_WORKER, int((until - floor) / MIN_BACKFILL_WINDOW))
    if count <= 1:
        return [Window(start, end)]
    step = (until - floor) / count
    bounds: list[datetime | None] = [start, *(floor + step * index for index in range(1, count)), end]
    return [Window(low, high) for low, high in pairwise(bounds)]


def find_oldest(provider: Provider, new_client: NewClient, until: datetime, workers: int) -> datetime | None:
    """A moment no later than the oldest run, within PROBE_RESOLUTION of it; None when there are no
    runs. Each round asks `workers` prefixes of the range at once whether they hold any run."""
    low, high = EARLIEST_RUN_PROBE, until
    clients = threading.local()

    def any_run(before: datetime) -> bool:
        if not hasattr(clients, "client"):
            clients.client = new_client()
        params = {**provider.window_params(EARLIEST_RUN_PROBE, before), "limit": 1}
        response = clients.client.get(provider.runs_path, params=params)
        if not response.ok:
            raise http_failure(provider.display_name, provider.runs_path, response)
        return bool(orjson.loads(response.content).get("data"))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        if not any_run(until):
            return None
        while high - low > PROBE_RESOLUTION:
            points = [low + (high - low) * index / (workers + 1) for index in range(1, workers + 1)]
            found = list(pool.map(any_run, points))
            first = found.index(True) if True in found else len(points)
            low, high = (points[first - 1] if first else low), (points[first] if first < len(points) else high)
    return low


def walk_windows(provider: Provider, new_client: NewClient, windows: list[Window], workers: int) -> Iterator[RunsPage]:
    """Every page of every window, trimmed to it; windows walked `workers` at a time. At most a few
    pages a worker wait in memory, so memory stays flat however long the history."""
    if len(windows) == 1:
        yield from (
            windows[0].trim(page) for page in paginate_runs(provider, new_client(), params_of(provider, windows[0]))
        )
        return
    pages: queue.Queue[RunsPage] = queue.Queue(maxsize=2 * workers)
    stop = threading.Event()

    def walk(window: Window) -> None:
        client = new_client()
        for page in paginate_runs(provider, client, params_of(provider, window)):
            trimmed = window.trim(page)
            while not stop.is_set():
                try:
                    pages.put(trimmed, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if stop.is_set():
                return

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"{provider.name}-backfill")
    pending: set[Future[None]] = {pool.submit(walk, window) for window in windows}
    try:
        while pending or not pages.empty():
            with contextlib.suppress(queue.Empty):
                yield pages.get(timeout=0.05)
            for future in [future for future in pending if future.done()]:
                pending.discard(future)
                future.result()  # a window that failed fails the load
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)


def params_of(provider: Provider, window: Window) -> dict[str, object]:
    return provider.window_params(window.start, window.end)
