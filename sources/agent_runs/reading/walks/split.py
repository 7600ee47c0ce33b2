"""Created-at windows walked at once: each window with its own cursor, in threads, the pages
reaching dlt as they arrive (order does not matter: the incremental cursor takes the maximum, and
each run lies in exactly one window). A worker left without a window takes half of the one with
the most runs ahead. With `--workers N` the windows are planned by probing where the runs are."""

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pyarrow as pa
import pyarrow.compute as pc

from agent_runs import settings
from agent_runs.reading.lister import Lister
from agent_runs.reading.paging import asked_page_size
from agent_runs.reading.walks.progress import Progress
from agent_runs.reading.walks.tasks import Tasks, hand_on
from agent_runs.reading.walks.window import Window

logger = logging.getLogger(settings.SOURCE_NAME)


def plan_windows(lister: Lister, start: datetime | None, end: datetime | None, workers: int) -> list[Window]:
    """One window for a single worker, a short range (an hourly load) or a list that cannot be
    asked for a time range; otherwise about WINDOWS_PER_WORKER windows a worker, of equal time over
    the span that holds runs, so a dense stretch does not hold up the rest. The first and last
    windows stay open towards the range's ends."""
    if workers <= 1 or not lister.run_list.filters_created_at:
        return [Window(start, end)]
    span = history_span(lister, start, end or datetime.now(UTC), workers)
    if span is None:  # nothing to load
        return [Window(start, end)]
    oldest, newest = span
    count = min(workers * settings.WINDOWS_PER_WORKER, int((newest - oldest) / settings.MIN_BACKFILL_WINDOW))
    if count <= 1:
        return [Window(start, end)]
    step = (newest - oldest) / count
    bounds: list[datetime | None] = [start, *(oldest + step * index for index in range(1, count)), end]
    return [Window(low, high) for low, high in pairwise(bounds)]


def history_span(
    lister: Lister, start: datetime | None, until: datetime, workers: int
) -> tuple[datetime, datetime] | None:
    """Moments around the oldest and the newest run in [start, until], within PROBE_RESOLUTION;
    None when there is none. Found by one-run pages, `workers` at a time for each end, between the
    range's ends and the run the first probe shows (in an ordered list, already one of the ends)."""
    floor = start or settings.EARLIEST_RUN_PROBE
    if start is not None and start >= until:
        return None

    def one_run(low: datetime, high: datetime) -> pa.Table:
        return lister.rows_of_page({**lister.params(low, high), lister.run_list.page_size_param: 1})

    def any_run(low: datetime, high: datetime) -> bool:
        return one_run(low, high).num_rows > 0

    first = one_run(floor, until)
    if not first.num_rows:
        return None
    seen = min(max(first["created_at"][0].as_py(), floor), until)  # the API may widen the bounds
    order = lister.run_list.row_order
    with ThreadPoolExecutor(max_workers=2 * workers + 2) as pool:  # two searches and their probes

        def turning_point(
            predicate: Callable[[datetime], bool], low: datetime, high: datetime
        ) -> tuple[datetime, datetime]:
            """Narrow [low, high] around where the monotone predicate turns from false to true."""
            while high - low > settings.PROBE_RESOLUTION:
                points = [low + (high - low) * index / (workers + 1) for index in range(1, workers + 1)]
                answers = list(pool.map(predicate, points))
                turn = answers.index(True) if True in answers else len(points)
                low, high = (points[turn - 1] if turn else low), (points[turn] if turn < len(points) else high)
            return low, high

        # Both ends at once, each with `workers` probes a round.
        oldest = None if order == "asc" else pool.submit(turning_point, lambda at: any_run(floor, at), floor, seen)
        newest = None if order == "desc" else pool.submit(turning_point, lambda at: not any_run(at, until), seen, until)
        return (oldest.result()[0] if oldest else seen), (newest.result()[1] if newest else seen)


def walk_windows(lister: Lister, windows: list[Window], workers: int) -> Iterator[pa.Table | None]:
    """Every page of every window, trimmed to it; windows walked `workers` at a time, in threads, so
    the next pages are fetched while dlt writes this one. At most a few pages a worker wait in
    memory, so memory stays flat however long the history. None while no page is ready yet. When a
    worker has no window left, the one with the most runs still ahead is cut in two (WindowProgress).

    A newest-first list is walked until a page reaches past the window's start. Runs a list shows
    again (page numbers shift when runs arrive during the walk) are passed on once."""
    run_list = lister.run_list
    batches: queue.Queue[pa.Table] = queue.Queue(maxsize=2 * workers)
    stop = threading.Event()
    # a newest-first walk stops at the first page past the start: page by page
    joined = 1 if run_list.row_order == "desc" else settings.ROWS_PER_MAPPING
    walks = WindowProgress(lister, windows)
    progress = Progress(lister.name, walks.share_walked, "created-at range")

    def walk(window: WindowWalk) -> None:
        recent = RecentIds()
        for batch in lister.rows(lister.params(*window.window), lambda: 1 if window.cut else joined):
            listed, more = walks.walked(window, batch)
            listed = recent.first_seen(listed)
            hand_on(batches, listed, stop)
            if stop.is_set() or not more:
                break
        walks.done(window)

    tasks = Tasks()
    pending: set[Future[None]] = {tasks.submit(walk, window) for window in walks.walks}
    try:
        while pending or not batches.empty():
            try:
                batch = batches.get(timeout=settings.PAGE_WAIT_S)
            except queue.Empty:
                batch = None
            yield batch
            for future in [future for future in pending if future.done()]:
                pending.discard(future)
                future.result()  # a window that failed fails the load
            if len(pending) < workers and (taken := walks.cut_largest()) is not None:
                pending.add(tasks.submit(walk, taken))
            progress.report()
    finally:
        stop.set()
        tasks.close()


class WindowWalk:
    """A window being walked: how far its walk has come, in creation time (the newest run seen of an
    oldest-first list, the oldest of a newest-first one), and how many runs it has seen. Its far
    bound (the end, or for a newest-first list the start) moves closer when part of it is cut off."""

    def __init__(self, window: Window) -> None:
        self.start, self.end = window
        self.reached: datetime | None = None
        self.runs = 0
        self.cut = False  # part of it was given to another walk: it soon ends, page by page
        self.finished = False

    @property
    def window(self) -> Window:
        return Window(self.start, self.end)


class WindowProgress:
    """The windows of a walk and how far each has come, under one lock: each page is trimmed to its
    window's bounds of the moment, and a window with many runs still ahead can be cut in two for an
    idle worker. The cut is at the middle of the time not yet walked, on a whole second, strictly
    beyond the last run seen; the walk stops at the cut, the new window starts there (so a run on
    the cut, or tied with the last one seen, is loaded once). Lists without an order are not cut:
    no page says how far their walk has come."""

    def __init__(self, lister: Lister, windows: list[Window]) -> None:
        self.order = lister.run_list.row_order
        self.page_size = asked_page_size(lister.run_list, lister.params(*windows[0]))
        self.walks = [WindowWalk(window) for window in windows]
        self.lock = threading.Lock()

    def walked(self, walk: WindowWalk, batch: pa.Table) -> tuple[pa.Table, bool]:
        """The batch (of one or more pages) trimmed to the walk's window, and whether the walk has more to read."""
        with self.lock:
            window = walk.window
            more = True
            if batch.num_rows and self.order == "asc":
                walk.reached = pc.max(batch["created_at"]).as_py()
                more = window.end is None or walk.reached < window.end
            elif batch.num_rows and self.order == "desc":
                walk.reached = pc.min(batch["created_at"]).as_py()
                more = not window.reached_start(batch)
            listed = window.trim(batch)
            walk.runs += listed.num_rows
            return listed, more

    def done(self, walk: WindowWalk) -> None:
        with self.lock:
            walk.finished = True

    def runs_ahead(self, walk: WindowWalk) -> float:
        """About how many runs the walk has still to read, from the rate at which it met them so far."""
        if walk.finished or walk.reached is None or walk.start is None or walk.end is None or not walk.runs:
            return 0.0
        walked, ahead = (walk.reached - walk.start, walk.end - walk.reached)
        if self.order == "desc":
            walked, ahead = ahead, walked
        return walk.runs * ahead / max(walked, timedelta(seconds=1))

    def cut_largest(self) -> WindowWalk | None:
        """For an idle worker: the second half of what the walk with the most runs ahead has not
        walked yet, if that is worth a walk of its own (a few pages; a cut costs about two
        requests); None otherwise."""
        if self.order is None:
            return None
        with self.lock:
            ahead, walk = max(((self.runs_ahead(walk), walk) for walk in self.walks), key=lambda pair: pair[0])
            if ahead < settings.WORTH_CUTTING_PAGES * self.page_size:
                return None
            assert walk.reached is not None and walk.start is not None and walk.end is not None
            if self.order == "asc":  # [start, cut) stays, [cut, end) is taken
                cut = (walk.reached + (walk.end - walk.reached) / 2).replace(microsecond=0)
                if not walk.reached < cut < walk.end:
                    return None
                taken = WindowWalk(Window(cut, walk.end))
                walk.end = cut
            else:  # [cut, end) stays, [start, cut) is taken
                cut = (walk.start + (walk.reached - walk.start) / 2).replace(microsecond=0)
                if not walk.start < cut < walk.reached:
                    return None
                taken = WindowWalk(Window(walk.start, cut))
                walk.start = cut
            walk.cut = True
            self.walks.append(taken)
            logger.debug("cut a window at %s: %d windows", cut, len(self.walks))
            return taken

    def share_walked(self) -> float | None:
        """The share of the windows' time walked (None if no window is bounded): for an ordered
        list up to the last run seen, for others when a window is done."""
        with self.lock:
            total = covered = 0.0
            for walk in self.walks:
                if walk.start is None or walk.end is None:
                    continue
                span = (walk.end - walk.start).total_seconds()
                total += span
                if walk.finished:
                    covered += span
                elif walk.reached is not None and self.order is not None:
                    seen = walk.reached - walk.start if self.order == "asc" else walk.end - walk.reached
                    covered += min(span, max(0.0, seen.total_seconds()))
            return covered / total if total else None


class RecentIds:
    """The run ids of the last few pages of a walk: a run shown again (a page-number list shifts by
    the runs that arrive during the walk) is dropped, without keeping every id of a long walk."""

    def __init__(self, pages: int = settings.RECENT_PAGES) -> None:
        self.pages: deque[pa.Array] = deque(maxlen=pages)

    def first_seen(self, batch: pa.Table) -> pa.Table:
        ids = batch["run_id"].combine_chunks()
        if self.pages and batch.num_rows:
            seen = pa.concat_arrays(list(self.pages))
            new = pc.invert(pc.is_in(ids, seen))
            if not pc.all(new).as_py():
                batch, ids = batch.filter(new), ids.filter(new)
        self.pages.append(ids)
        return batch
