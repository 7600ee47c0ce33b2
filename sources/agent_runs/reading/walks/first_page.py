"""The opening every default walk shares: read the first page alone, and let what it says decide
how the rest is walked; if walking at once does not pay, go on as one walk."""

from collections.abc import Generator, Iterator
from datetime import datetime
from typing import Any, NamedTuple

import pyarrow as pa

from agent_runs import settings
from agent_runs.providers.base import Params
from agent_runs.reading.lister import Lister
from agent_runs.reading.paging import asked_page_size
from agent_runs.reading.walks.tasks import Tasks, in_background
from agent_runs.reading.walks.window import Window


class FirstPage(NamedTuple):
    """A walk's first page, read alone."""

    runs: pa.Table
    rest: Iterator[pa.Table]  # the walk's next pages, joined as a walk joins them
    full: bool  # as many runs as asked for: there may be more
    waited: float  # seconds it kept us waiting
    now: datetime  # the API's clock (its Date header)
    total: Any  # how many runs the listing holds, where the page says (`PageNumberPaging.total_path`)

    def pays(self) -> bool:
        """Whether walking at once pays: the page kept us waiting longer than mapping it takes."""
        return self.waited >= settings.WINDOWS_WORTH_WAIT_S

    def alone(self, window: Window | None = None) -> Iterator[pa.Table | None]:
        """The rest as one walk: this page (trimmed to `window`), then the next pages, read in the
        background (None while the next is on its way)."""
        yield self.runs if window is None else window.trim(self.runs)
        yield from in_background(self.rest)


def first_page(lister: Lister, params: Params) -> FirstPage:
    """The first page of a walk with these parameters, alone; the rest joined as a walk joins them."""
    page, runs, rest = lister.opening(params)
    full = len(page.records) >= asked_page_size(lister.run_list, params)
    return FirstPage(runs, rest, full, page.waited_s, page.now, page.total)


def first_page_of(lister: Lister, params: Params) -> Generator[None, None, FirstPage]:
    """first_page, read in the walks' shared pool while the walk yields None (dlt's signal to go on
    with other resources): the first pages of many accounts are then on their way at once."""
    with Tasks() as tasks:
        future = tasks.submit(first_page, lister, params)
        while True:
            try:
                return future.result(timeout=settings.PAGE_WAIT_S)
            except TimeoutError:
                yield None
