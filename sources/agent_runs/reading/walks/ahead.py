"""The default first load of an oldest-first list: windows ahead of its first page."""

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


def walk_ahead(lister: Lister, start: datetime | None, workers: int) -> Iterator[pa.Table | None]:
    """One walk from `start`; if its first page is full, the range ahead long (a first load, a
    long gap) and pages keep us waiting, the rest is cut into windows walked `workers` at a time,
    paced by the key's shared rate limit. No probes: the first page says where the runs begin,
    and its `Date` header where they end (the API's clock)."""
    first_window = Window(start, None)
    first = yield from first_page_of(lister, lister.params(*first_window))
    ahead_from = pc.max(first.runs["created_at"]).as_py() if first.runs.num_rows else None
    until = first.now
    if (
        not first.full
        or ahead_from is None
        or until - ahead_from < 2 * settings.MIN_BACKFILL_WINDOW
        or not first.pays()
    ):
        yield from first.alone(first_window)
        return
    count = min(
        workers * settings.WINDOWS_PER_WORKER,
        int((until - ahead_from) / settings.MIN_BACKFILL_WINDOW),
        int(pages_ahead(first.runs, until) / settings.WORTH_CUTTING_PAGES),  # a window costs about two requests
    )
    if count < 2:
        yield from first.alone(first_window)
        return
    first.rest.close()
    # The first page's runs before its last creation time are done; that time's ties, and all after
    # it, are the windows' (so a run on the boundary is loaded once).
    yield Window(start, ahead_from).trim(first.runs)
    step = (until - ahead_from) / count
    bounds: list[datetime | None] = [ahead_from + step * index for index in range(count)] + [until, None]
    windows = [Window(low, high) for low, high in pairwise(bounds)]
    logger.info("%s: %d created-at windows ahead, %d at a time", lister.name, len(windows), workers)
    yield from walk_windows(lister, windows, workers)


def pages_ahead(first: pa.Table, until: datetime) -> float:
    """About how many pages of runs lie between a full first page of an oldest-first list and
    `until`, if they come as densely as on that page (any number, if its runs share one moment)."""
    oldest, newest = pc.min(first["created_at"]).as_py(), pc.max(first["created_at"]).as_py()
    if newest <= oldest:
        return float("inf")
    return (until - newest) / (newest - oldest)
