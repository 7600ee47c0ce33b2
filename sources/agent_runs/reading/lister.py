"""One account's run list and how to reach it: what every walk of it needs, carried in one object
(instead of the run list, the client factory and the account name through every layer)."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
from dlt.sources.helpers.rest_client import RESTClient

from agent_runs.providers import RunList
from agent_runs.providers.base import Params
from agent_runs.reading.paging import Page, read_page, read_pages
from agent_runs.rows.from_pages import page_rows, rows_of_pages
from agent_runs.settings import ROWS_PER_MAPPING

ClientOfThread = Callable[[], RESTClient]


@dataclass(frozen=True)
class Lister:
    """An account's run list: its declaration, the calling thread's client of the account's key
    (`Account.client`: every client shares the key's rate limit), and the `account` column's value."""

    run_list: RunList
    client: ClientOfThread
    account: str

    @property
    def name(self) -> str:
        return f"{self.run_list.provider.display_name} {self.run_list.runs_path}"

    def params(self, start: datetime | None, end: datetime | None) -> Params:
        """The query of the runs created in [start, end) (the list may widen it: trim the pages)."""
        return self.run_list.window_params(start, end)

    def rows(self, params: Params, min_runs: int | Callable[[], int] = 1) -> Iterator[pa.Table]:
        """Every page of the list for these parameters as `runs` rows (rows.rows_of_pages)."""
        pages = read_pages(self.run_list, self.client(), params)
        return rows_of_pages(self.run_list, pages, self.account, min_runs)

    def opening(self, params: Params) -> tuple[Page, pa.Table, Iterator[pa.Table]]:
        """The first page of the list for these parameters, as the API sent it and as `runs` rows,
        and the rest as rows joined as a walk joins them (not yet read: a walk may drop them)."""
        pages = read_pages(self.run_list, self.client(), params)
        first = next(pages, None) or Page([], self.run_list.runs_path, None, 0.0)
        rest = rows_of_pages(self.run_list, pages, self.account, ROWS_PER_MAPPING, at_least_one=False)
        return first, page_rows(self.run_list, first.records, first.url, self.account), rest

    def rows_of_page(self, params: Params) -> pa.Table:
        """One page (its page number or size among the parameters) as `runs` rows."""
        page = read_page(self.run_list, self.client(), params)
        return page_rows(self.run_list, page.records, page.url, self.account)
