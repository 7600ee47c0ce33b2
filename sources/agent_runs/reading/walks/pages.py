"""A frozen window of numbered pages whose first page says how many runs it holds: its other
pages asked for at once."""

import logging
import math
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, wait
from itertools import islice

import pyarrow as pa
import pyarrow.compute as pc

from agent_runs import settings
from agent_runs.providers import PageNumberPaging
from agent_runs.providers.base import Params
from agent_runs.reading.lister import Lister
from agent_runs.reading.paging import asked_page_size
from agent_runs.reading.walks.first_page import first_page_of
from agent_runs.reading.walks.progress import Progress
from agent_runs.reading.walks.tasks import Tasks
from agent_runs.reading.walks.window import Window

logger = logging.getLogger(settings.SOURCE_NAME)


def walk_pages(lister: Lister, window: Window, workers: int, if_slow: bool = True) -> Iterator[pa.Table | None]:
    """If more than two pages follow the first (and, `if_slow`, it kept us waiting), they are asked
    for at once, `workers` at a time, paced by the key's shared rate limit; else the walk goes on
    page by page. Pages reach dlt as they come (the list promises no order)."""
    paging = lister.run_list.paging
    assert isinstance(paging, PageNumberPaging)
    params = lister.params(*window)
    first = yield from first_page_of(lister, params)
    total, size = first.total, asked_page_size(lister.run_list, params)
    last = paging.first_page + math.ceil(total / size) - 1 if isinstance(total, int) and total > 0 else 0
    if paging.max_page is not None:
        last = min(last, paging.max_page)
    if not first.full or last < paging.first_page + 3 or (if_slow and not first.pays()):
        yield from first.alone()
        return
    first.rest.close()
    logger.info("%s: %d pages ahead, asked for %d at a time", lister.name, last - paging.first_page, workers)
    neighbours = NeighbourPages()
    yield neighbours.first_seen(paging.first_page, first.runs)
    yield from fetch_pages(lister, params, range(paging.first_page + 1, last + 1), workers, neighbours)


def fetch_pages(
    lister: Lister, params: Params, numbers: range, workers: int, neighbours: "NeighbourPages"
) -> Iterator[pa.Table | None]:
    """These pages of the listing, `workers` threads asking for them in order, at most twice that
    many pages ahead of the one dlt takes (memory stays flat). None while no page is ready yet. A
    run a page shares with its neighbour (the list shifted by a run removed meanwhile) is passed on once."""
    paging = lister.run_list.paging
    assert isinstance(paging, PageNumberPaging)

    def fetch(number: int) -> tuple[int, pa.Table]:
        return number, lister.rows_of_page({**params, paging.page_param: number})

    to_ask, taken = iter(numbers), [0]
    progress = Progress(lister.name, lambda: taken[0] / len(numbers), "pages")
    with Tasks() as tasks:
        pending = {tasks.submit(fetch, number) for number in islice(to_ask, 2 * workers)}
        while pending:
            done, pending = wait(pending, timeout=settings.PAGE_WAIT_S, return_when=FIRST_COMPLETED)
            if not done:
                yield None
            for future in done:
                number, page = future.result()  # a page that failed fails the load
                pending |= {tasks.submit(fetch, more) for more in islice(to_ask, 1)}
                taken[0] += 1
                yield neighbours.first_seen(number, page)
            progress.report()


class NeighbourPages:
    """The run ids of the pages taken whose neighbours are not both taken yet: a page that comes is
    rid of the runs of the pages next to it (a run removed while pages are read moves the runs after
    it one place up, into the page before)."""

    def __init__(self) -> None:
        self.ids: dict[int, pa.Array] = {}
        self.taken: set[int] = set()

    def first_seen(self, number: int, rows: pa.Table) -> pa.Table:
        ids = rows["run_id"].combine_chunks()
        near = [self.ids[other] for other in (number - 1, number + 1) if other in self.ids]
        if near and rows.num_rows:
            new = pc.invert(pc.is_in(ids, pa.concat_arrays(near)))
            if not pc.all(new).as_py():
                rows, ids = rows.filter(new), ids.filter(new)
        self.ids[number] = ids
        self.taken.add(number)
        for each in (number - 1, number, number + 1):
            if {each - 1, each + 1} <= self.taken:
                self.ids.pop(each, None)
        return rows
