"""Walking a long history with several workers: the created-at range is cut into windows, each
window is walked with its own cursor, and pages reach dlt as they arrive (order does not matter:
the incremental cursor takes the maximum, and each run lies in exactly one window).

Windows are half-open, [start, end): the APIs' own bounds differ (exclusive and widened by an
overlap, or inclusive), so every page is trimmed to its window and a run on a boundary is loaded
once. By default (walk_ahead) an oldest-first list is cut into windows once its first page shows
a long range that keeps us waiting; with `--workers N` the oldest run is found by probing (one-run
pages, several at once), so the windows cover the history rather than years of nothing. A worker
left without a window takes half of the one with the most runs ahead.

A list that promises no order is cut, by default, into windows back in time from a first page that
looks newest first (walk_back). A list of numbered pages over a frozen window, whose first page says
how many runs it holds, has its other pages asked for at once instead (walk_pages).
"""

import logging
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime, timedelta
from itertools import islice, pairwise
from typing import Any, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc
from dlt.sources.helpers.rest_client import RESTClient

from .client import fetch_page, paginate_runs
from .providers import PageNumberPaging, RunList
from .providers.base import Params
from .settings import (
    EARLIEST_RUN_PROBE,
    MIN_BACKFILL_WINDOW,
    PROBE_RESOLUTION,
    ROWS_PER_MAPPING,
    SOURCE_NAME,
    WINDOWS_PER_WORKER,
)

logger = logging.getLogger(SOURCE_NAME)
NewClient = Callable[[], RESTClient]
PAGE_WAIT_S = 0.01  # how long to wait for a page before saying none is ready
RECENT_PAGES = 4  # pages of run ids a walk remembers to drop repeats (runs arriving push rows down)
PROGRESS_EVERY_S = 10.0  # how often a walk of several windows says how far it is
# Concurrent windows cost CPU (threads taking turns at decoding pages): 2 x 100k runs at no latency
# took 25 % more client CPU in 8 windows than in one walk, for no less wall time. A page of 100
# runs costs ≈ 5 ms to map; one that keeps us waiting 8 times that makes windows worth it (and a
# machine's hiccup on loopback does not).
WINDOWS_WORTH_WAIT_S = 0.04
WORTH_CUTTING_PAGES = 4  # runs a window has still ahead, in pages, for an idle worker to take half


class Window(NamedTuple):
    start: datetime | None  # inclusive; None: from the beginning
    end: datetime | None  # exclusive; None: up to now

    def trim(self, page: pa.Table) -> pa.Table:
        """The page without runs outside the window (the APIs' bounds overlap at the edges)."""
        created = page["created_at"]
        inside = None
        if self.start is not None:
            inside = pc.greater_equal(created, self.start)
        if self.end is not None:
            before_end = pc.less(created, self.end)
            inside = before_end if inside is None else pc.and_(inside, before_end)
        return page if inside is None or pc.all(inside).as_py() else page.filter(inside)

    def reached_start(self, page: pa.Table) -> bool:
        """Whether a newest-first page holds a run created before the window (so no later page is in it)."""
        if self.start is None or not page.num_rows:
            return False
        return bool(
            pc.less(pc.min(page["created_at"]), pa.scalar(self.start, page.schema.field("created_at").type)).as_py()
        )


def plan_windows(
    run_list: RunList, new_client: NewClient, start: datetime | None, end: datetime | None, workers: int
) -> list[Window]:
    """One window for a single worker, a short range (an hourly load) or a list that cannot be
    asked for a time range; otherwise about WINDOWS_PER_WORKER windows a worker, of equal time over
    the span that holds runs, so a dense stretch does not hold up the rest. The first and last
    windows stay open towards the range's ends."""
    if workers <= 1 or not run_list.filters_created_at:
        return [Window(start, end)]
    span = history_span(run_list, new_client, start, end or datetime.now(UTC), workers)
    if span is None:  # nothing to load
        return [Window(start, end)]
    oldest, newest = span
    count = min(workers * WINDOWS_PER_WORKER, int((newest - oldest) / MIN_BACKFILL_WINDOW))
    if count <= 1:
        return [Window(start, end)]
    step = (newest - oldest) / count
    bounds: list[datetime | None] = [start, *(oldest + step * index for index in range(1, count)), end]
    return [Window(low, high) for low, high in pairwise(bounds)]


def history_span(
    run_list: RunList, new_client: NewClient, start: datetime | None, until: datetime, workers: int
) -> tuple[datetime, datetime] | None:
    """Moments around the oldest and the newest run in [start, until], within PROBE_RESOLUTION;
    None when there is none. Found by one-run pages, `workers` at a time for each end."""
    floor = start or EARLIEST_RUN_PROBE
    client = per_thread(new_client)

    def any_run(low: datetime, high: datetime) -> bool:
        params = {**run_list.window_params(low, high), run_list.page_size_param: 1}
        return fetch_page(run_list, client(), params).num_rows > 0

    with ThreadPoolExecutor(max_workers=2 * workers + 2) as pool:  # two searches and their probes

        def turning_point(predicate: Callable[[datetime], bool]) -> tuple[datetime, datetime]:
            """Narrow [floor, until] around where the monotone predicate turns from false to true."""
            low, high = floor, until
            while high - low > PROBE_RESOLUTION:
                points = [low + (high - low) * index / (workers + 1) for index in range(1, workers + 1)]
                answers = list(pool.map(predicate, points))
                turn = answers.index(True) if True in answers else len(points)
                low, high = (points[turn - 1] if turn else low), (points[turn] if turn < len(points) else high)
            return low, high

        if (start is not None and start >= until) or not any_run(floor, until):
            return None
        # Both ends at once, each with `workers` probes a round.
        oldest_search = pool.submit(turning_point, lambda moment: any_run(floor, moment))
        newest_search = pool.submit(turning_point, lambda moment: not any_run(moment, until))
        oldest, newest = oldest_search.result()[0], newest_search.result()[1]
    return oldest, newest


def per_thread(new_client: NewClient) -> NewClient:
    """A client for each thread that asks (a requests session is not shared between threads)."""
    clients = threading.local()

    def client() -> RESTClient:
        if not hasattr(clients, "client"):
            clients.client = new_client()
        return clients.client

    return client


def walk_windows(
    run_list: RunList, new_client: NewClient, windows: list[Window], workers: int, account: str
) -> Iterator[pa.Table | None]:
    """Every page of every window, trimmed to it; windows walked `workers` at a time, in threads, so
    the next pages are fetched while dlt writes this one. At most a few pages a worker wait in
    memory, so memory stays flat however long the history. None while no page is ready yet. When a
    worker has no window left, the one with the most runs still ahead is cut in two (WindowWalks).

    A newest-first list is walked until a page reaches past the window's start. Runs a list shows
    again (page numbers shift when runs arrive during the walk) are passed on once."""
    pages: queue.Queue[pa.Table] = queue.Queue(maxsize=2 * workers)
    stop = threading.Event()
    joined = 1 if run_list.row_order == "desc" else ROWS_PER_MAPPING  # stop at the first page past the start
    walks = WindowWalks(run_list, windows)
    progress = Progress(run_list, walks.share_walked, "created-at range")

    def walk(window: WindowWalk) -> None:
        client = new_client()
        recent = RecentIds()
        params = params_of(run_list, window.window)
        min_runs = lambda: 1 if window.cut else joined  # noqa: E731  # once cut, it soon ends: page by page
        for page in paginate_runs(run_list, client, params, account, min_runs):
            listed, more = walks.walked(window, page)
            listed = recent.first_seen(listed)
            while not stop.is_set():
                try:
                    pages.put(listed, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if stop.is_set() or not more:
                break
        walks.done(window)

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"{run_list.provider.name}-backfill")
    pending: set[Future[None]] = {pool.submit(walk, window) for window in walks.walks}
    try:
        while pending or not pages.empty():
            try:
                page = pages.get(timeout=PAGE_WAIT_S)
            except queue.Empty:
                page = None
            yield page
            for future in [future for future in pending if future.done()]:
                pending.discard(future)
                future.result()  # a window that failed fails the load
            if len(pending) < workers and (taken := walks.cut_largest()) is not None:
                pending.add(pool.submit(walk, taken))
            progress.report()
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)


class WindowWalk:
    """A window being walked: how far its walk has come, in creation time (the newest run seen of an
    oldest-first list, the oldest of a newest-first one), and how many runs it has seen. Its far
    bound (the end, or for a newest-first list the start) moves closer when part of it is cut off."""

    def __init__(self, window: Window) -> None:
        self.start, self.end = window
        self.reached: datetime | None = None
        self.runs = 0
        self.cut = False  # part of it was given to another walk
        self.finished = False

    @property
    def window(self) -> Window:
        return Window(self.start, self.end)


class WindowWalks:
    """The windows of a walk and how far each has come, under one lock: each page is trimmed to its
    window's bounds of the moment, and a window with many runs still ahead can be cut in two for an
    idle worker. The cut is at the middle of the time not yet walked, on a whole second, strictly
    beyond the last run seen; the walk stops at the cut, the new window starts there (so a run on
    the cut, or tied with the last one seen, is loaded once). Lists without an order are not cut:
    no page says how far their walk has come."""

    def __init__(self, run_list: RunList, windows: list[Window]) -> None:
        self.order = run_list.row_order
        self.page_size = int(params_of(run_list, windows[0]).get(run_list.page_size_param, run_list.page_size))
        self.walks = [WindowWalk(window) for window in windows]
        self.lock = threading.Lock()

    def walked(self, walk: WindowWalk, page: pa.Table) -> tuple[pa.Table, bool]:
        """The page trimmed to the walk's window, and whether the walk has more to read."""
        with self.lock:
            window = walk.window
            more = True
            if page.num_rows and self.order == "asc":
                walk.reached = pc.max(page["created_at"]).as_py()
                more = window.end is None or walk.reached < window.end
            elif page.num_rows and self.order == "desc":
                walk.reached = pc.min(page["created_at"]).as_py()
                more = not window.reached_start(page)
            listed = window.trim(page)
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
            if ahead < WORTH_CUTTING_PAGES * self.page_size:
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


class FirstPage(NamedTuple):
    """A walk's first page, read alone: what it says decides how the rest is walked."""

    runs: pa.Table
    rest: Iterator[pa.Table]  # the walk's next pages, joined as a walk joins them
    full: bool  # as many runs as asked for: there may be more
    waited: float  # seconds it kept us waiting
    now: datetime  # the API's clock (its Date header)
    total: Any  # how many runs the listing holds, where the page says (`PageNumberPaging.total_path`)


def first_page(run_list: RunList, new_client: NewClient, params: Params, account: str) -> FirstPage:
    """The first page of a walk with these parameters, alone; then the walk's next pages joined as
    usual (mapping runs costs per call)."""
    answer: dict[str, Any] = {}
    batch = [1]
    pages = paginate_runs(run_list, new_client(), params, account, lambda: batch[0], answer)
    runs = next(pages)
    batch[0] = ROWS_PER_MAPPING
    return FirstPage(
        runs,
        pages,
        runs.num_rows >= int(params.get(run_list.page_size_param, run_list.page_size)),
        answer.get("waited", timedelta(0)).total_seconds(),
        answer.get("now", datetime.now(UTC)),
        answer.get("total"),
    )


def walk_ahead(
    run_list: RunList, new_client: NewClient, start: datetime | None, workers: int, account: str
) -> Iterator[pa.Table | None]:
    """The default for an oldest-first list: one walk from `start`. If its first page is full and
    the range ahead is long (a first load, a long gap), the rest is cut into windows walked
    `workers` at a time, their requests paced by the key's shared rate limit; else the walk goes on
    alone. No probes: the first page says where the runs begin, and its `Date` header where they end
    (the API's clock). Windows pay only while pages keep us waiting: a page that came faster than
    WINDOWS_WORTH_WAIT_S is read faster than it can be mapped, so the walk goes on alone."""
    first_window = Window(start, None)
    first = first_page(run_list, new_client, params_of(run_list, first_window), account)
    ahead_from = pc.max(first.runs["created_at"]).as_py() if first.runs.num_rows else None
    until = first.now
    if not first.full or ahead_from is None or not long_ahead(ahead_from, until) or not worth_it(first):
        yield first_window.trim(first.runs)
        yield from first.rest
        return
    first.rest.close()
    # The first page's runs before its last creation time are done; that time's ties, and all after
    # it, are the windows' (so a run on the boundary is loaded once).
    yield Window(start, ahead_from).trim(first.runs)
    count = min(workers * WINDOWS_PER_WORKER, int((until - ahead_from) / MIN_BACKFILL_WINDOW))
    step = (until - ahead_from) / count
    bounds: list[datetime | None] = [ahead_from + step * index for index in range(count)] + [until, None]
    windows = [Window(low, high) for low, high in pairwise(bounds)]
    logger.info(
        "%s: %s: %d created-at windows ahead, %d at a time",
        run_list.provider.display_name,
        run_list.runs_path,
        len(windows),
        workers,
    )
    yield from walk_windows(run_list, new_client, windows, workers, account)


def walk_back(
    run_list: RunList, new_client: NewClient, start: datetime | None, workers: int, account: str
) -> Iterator[pa.Table | None]:
    """The default for a list that promises no order but filters by creation time: one walk from
    `start`, unless its first page is full, kept us waiting, and looks newest first (as such lists
    usually are): then its span says how long a page's worth of runs takes to accumulate, and the
    range is cut into windows back in time from it, each half again as long as the one after it
    (older runs are sparser, or none), down to `start` (or, on a first load, to EARLIEST_RUN_PROBE,
    the last window open). Each window is walked whole, so they load every run once whatever the
    real order; the first page is read again by them (one request). No probes."""
    first = first_page(run_list, new_client, params_of(run_list, Window(start, None)), account)
    created = first.runs["created_at"]
    newest_first = first.full and bool(pc.all(pc.greater_equal(created[:-1], created[1:])).as_py())
    if not newest_first or not worth_it(first):
        yield first.runs
        yield from first.rest
        return
    first.rest.close()
    oldest, newest = created[-1].as_py(), created[0].as_py()
    floor = start or EARLIEST_RUN_PROBE
    width = max(WINDOWS_PER_WORKER * (newest - oldest), MIN_BACKFILL_WINDOW / WINDOWS_PER_WORKER)
    bounds: list[datetime | None] = [None, oldest]  # the newest first: runs since the first page's oldest
    while bounds[-1] > floor and len(bounds) < workers * WINDOWS_PER_WORKER:  # type: ignore[operator]
        bounds.append(max(floor, bounds[-1] - width))  # type: ignore[operator]
        width *= 1.5
    bounds[-1] = start  # the oldest window reaches the start (on a first load: the beginning)
    windows = [Window(low, high) for high, low in pairwise(bounds)][::-1]  # the oldest, longest first
    logger.info(
        "%s: %s looks newest first: %d created-at windows back in time, %d at a time",
        run_list.provider.display_name,
        run_list.runs_path,
        len(windows),
        workers,
    )
    yield from walk_windows(run_list, new_client, windows, workers, account)


def walk_pages(
    run_list: RunList, new_client: NewClient, window: Window, workers: int, account: str, if_slow: bool = True
) -> Iterator[pa.Table | None]:
    """A frozen window of numbered pages whose first page says how many runs it holds
    (`RunList.pages_at_once`): if more than two pages follow (and, `if_slow`, the first kept us
    waiting), they are asked for at once, `workers` at a time, paced by the key's shared rate limit;
    else the walk goes on page by page. Pages reach dlt as they come (the list promises no order)."""
    paging = run_list.paging
    assert isinstance(paging, PageNumberPaging)
    params = params_of(run_list, window)
    size = int(params.get(run_list.page_size_param, run_list.page_size))
    first = first_page(run_list, new_client, params, account)
    total = first.total
    last = paging.first_page + math.ceil(total / size) - 1 if isinstance(total, int) and total > 0 else 0
    if paging.max_page is not None:
        last = min(last, paging.max_page)
    if not first.full or last < paging.first_page + 3 or (if_slow and not worth_it(first)):
        yield first.runs
        yield from first.rest
        return
    first.rest.close()
    logger.info(
        "%s: %s: %d pages ahead, asked for %d at a time",
        run_list.provider.display_name,
        run_list.runs_path,
        last - paging.first_page,
        workers,
    )
    neighbours = NeighbourPages()
    yield neighbours.first_seen(paging.first_page, first.runs)
    numbers = range(paging.first_page + 1, last + 1)
    yield from fetch_pages(run_list, new_client, params, numbers, workers, account, neighbours)


def fetch_pages(
    run_list: RunList,
    new_client: NewClient,
    params: Params,
    numbers: range,
    workers: int,
    account: str,
    neighbours: "NeighbourPages",
) -> Iterator[pa.Table | None]:
    """These pages of the listing, `workers` threads asking for them in order, at most twice that
    many pages ahead of the one dlt takes (memory stays flat). None while no page is ready yet. A
    run a page shares with its neighbour (the list shifted by a run removed meanwhile) is passed on once."""
    assert isinstance(run_list.paging, PageNumberPaging)
    page_param = run_list.paging.page_param
    client = per_thread(new_client)

    def fetch(number: int) -> tuple[int, pa.Table]:
        return number, fetch_page(run_list, client(), {**params, page_param: number}, account)

    to_ask, taken = iter(numbers), [0]
    progress = Progress(run_list, lambda: taken[0] / len(numbers), "pages")
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"{run_list.provider.name}-pages")
    try:
        pending = {pool.submit(fetch, number) for number in islice(to_ask, 2 * workers)}
        while pending:
            done, pending = wait(pending, timeout=PAGE_WAIT_S, return_when=FIRST_COMPLETED)
            if not done:
                yield None
            for future in done:
                number, page = future.result()  # a page that failed fails the load
                pending |= {pool.submit(fetch, more) for more in islice(to_ask, 1)}
                taken[0] += 1
                yield neighbours.first_seen(number, page)
            progress.report()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def worth_it(first: FirstPage) -> bool:
    """Whether walking at once pays: the first page kept us waiting longer than mapping it takes."""
    return first.waited >= WINDOWS_WORTH_WAIT_S


def long_ahead(since: datetime, until: datetime) -> bool:
    return until - since >= 2 * MIN_BACKFILL_WINDOW


def params_of(run_list: RunList, window: Window) -> Params:
    return run_list.window_params(window.start, window.end)


class Progress:
    """How far a long walk is, said every PROGRESS_EVERY_S at INFO (`-v`, `--progress`): the share
    walked (of the created-at range, or of the pages) and the time that share suggests is left."""

    def __init__(self, run_list: RunList, share_walked: Callable[[], float | None], of: str) -> None:
        self.name = f"{run_list.provider.display_name} {run_list.runs_path}"
        self.share_walked = share_walked
        self.of = of
        self.started = self.last_said = time.monotonic()

    def report(self) -> None:
        now = time.monotonic()
        if now - self.last_said < PROGRESS_EVERY_S:
            return
        share = self.share_walked()
        if share is None:
            return
        self.last_said = now
        left = (now - self.started) * (1 - share) / share if share else None
        eta = f", about {left:,.0f} s left" if left is not None else ""
        logger.info("%s: %.0f %% of the %s walked%s", self.name, 100 * share, self.of, eta)


class NeighbourPages:
    """The run ids of the pages taken whose neighbours are not both taken yet: a page that comes is
    rid of the runs of the pages next to it (a run removed while pages are read moves the runs after
    it one place up, into the page before)."""

    def __init__(self) -> None:
        self.ids: dict[int, pa.Array] = {}
        self.taken: set[int] = set()

    def first_seen(self, number: int, page: pa.Table) -> pa.Table:
        ids = page["run_id"].combine_chunks()
        near = [self.ids[other] for other in (number - 1, number + 1) if other in self.ids]
        if near and page.num_rows:
            new = pc.invert(pc.is_in(ids, pa.concat_arrays(near)))
            if not pc.all(new).as_py():
                page, ids = page.filter(new), ids.filter(new)
        self.ids[number] = ids
        self.taken.add(number)
        for each in (number - 1, number, number + 1):
            if {each - 1, each + 1} <= self.taken:
                self.ids.pop(each, None)
        return page


class RecentIds:
    """The run ids of the last few pages of a walk: a run shown again (a page-number list shifts by
    the runs that arrive during the walk) is dropped, without keeping every id of a long walk."""

    def __init__(self, pages: int = RECENT_PAGES) -> None:
        self.pages: deque[pa.Array] = deque(maxlen=pages)

    def first_seen(self, page: pa.Table) -> pa.Table:
        ids = page["run_id"].combine_chunks()
        if self.pages and page.num_rows:
            seen = pa.concat_arrays(list(self.pages))
            new = pc.invert(pc.is_in(ids, seen))
            if not pc.all(new).as_py():
                page, ids = page.filter(new), ids.filter(new)
        self.pages.append(ids)
        return page
