"""The default first load of a list that promises no order but filters by creation time: windows
back in time from a first page that looks newest first."""

import logging
from collections.abc import Iterator
from datetime import datetime
from itertools import pairwise

import pyarrow as pa
import pyarrow.compute as pc

from agent_runs import settings
from agent_runs.reading.lister import Lister
from agent_runs.reading.walks.first_page import first_page_of
from agent_runs.reading.walks.split import walk_windows
from agent_runs.reading.walks.window import Window

logger = logging.getLogger(settings.SOURCE_NAME)


def walk_back(lister: Lister, start: datetime | None, workers: int) -> Iterator[pa.Table | None]:
    """One walk from `start`, unless its first page is full, kept us waiting, and looks newest
    first (as such lists usually are): then its span says how long a page's worth of runs takes to
    accumulate, and the range is cut into windows back in time from it, each half again as long as
    the one after it (older runs are sparser, or none), down to `start` (or, on a first load, to
    EARLIEST_RUN_PROBE, the last window open). Each window is walked whole, so they load every run
    once whatever the real order; the first page is read again by them (one request). No probes."""
    first = yield from first_page_of(lister, lister.params(start, None))
    created = first.runs["created_at"]
    newest_first = first.full and bool(pc.all(pc.greater_equal(created[:-1], created[1:])).as_py())
    if not newest_first or not first.pays():
        yield from first.alone()
        return
    first.rest.close()
    oldest, newest = created[-1].as_py(), created[0].as_py()
    floor = start or settings.EARLIEST_RUN_PROBE
    width = max(
        settings.WINDOWS_PER_WORKER * (newest - oldest), settings.MIN_BACKFILL_WINDOW / settings.WINDOWS_PER_WORKER
    )
    bounds: list[datetime | None] = [None, oldest]  # the newest first: runs since the first page's oldest
    while bounds[-1] > floor and len(bounds) < workers * settings.WINDOWS_PER_WORKER:  # type: ignore[operator]
        bounds.append(max(floor, bounds[-1] - width))  # type: ignore[operator]
        width *= 1.5
    bounds[-1] = start  # the oldest window reaches the start (on a first load: the beginning)
    windows = [Window(low, high) for high, low in pairwise(bounds)][::-1]  # the oldest, longest first
    logger.info(
        "%s looks newest first: %d created-at windows back in time, %d at a time", lister.name, len(windows), workers
    )
    yield from walk_windows(lister, windows, workers)
