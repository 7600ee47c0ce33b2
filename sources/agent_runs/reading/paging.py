"""A list endpoint's pages as values: each answer decoded once and checked to hold its runs, walked
with dlt's paginators made strict. A `Page` is the runs as the API sent them, and what the answer
says beside them (the API's clock, how long it kept us waiting, how many runs the listing holds).
The page size is the run list's declaration: it is added to every query here."""

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import orjson
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.paginators import BasePaginator, JSONResponseCursorPaginator, PageNumberPaginator
from requests import Response

from agent_runs.errors import MalformedPage, provider_errors
from agent_runs.providers import CursorPaging, PageNumberPaging, RunList
from agent_runs.providers.base import Params, compiled
from agent_runs.settings import SOURCE_NAME

logger = logging.getLogger(SOURCE_NAME)


@dataclass(frozen=True)
class Page:
    """One answer of a list endpoint: its runs as sent, and what the answer says beside them."""

    records: list[Any]
    url: str
    date: str | None  # the answer's `Date` header
    waited_s: float  # how long the answer kept us waiting
    total: Any = None  # how many runs the listing holds, where the list says (`PageNumberPaging.total_path`)

    @property
    def now(self) -> datetime:
        """The API's clock at the answer (the local clock if it sends no `Date`)."""
        return clock_of(self.date)


def query(run_list: RunList, params: Params) -> Params:
    """The query for these parameters: the declared page size unless they ask for another."""
    return {run_list.page_size_param: run_list.page_size, **params}


def asked_page_size(run_list: RunList, params: Params) -> int:
    return int(query(run_list, params)[run_list.page_size_param])


def read_pages(run_list: RunList, client: RESTClient, params: Params) -> Iterator[Page]:
    """Every page of the list for these query parameters, in the list's order."""
    params = query(run_list, params)
    total_path = run_list.paging.total_path if isinstance(run_list.paging, PageNumberPaging) else None
    records_path = compiled(run_list.records_path or "$")
    with provider_errors(run_list, client.base_url):
        for page in client.paginate(
            run_list.runs_path,
            params=params,
            paginator=paginator_for(run_list, params),
            data_selector=records_path,
            hooks={"response": [decode_json_once]},
        ):
            response = page.response
            total = body_value(response.json(), total_path) if total_path else None
            yield Page(list(page), response.url, response.headers.get("Date"), response.elapsed.total_seconds(), total)


def read_page(run_list: RunList, client: RESTClient, params: Params) -> Page:
    """One page of the list for these query parameters (its page number among them)."""
    with provider_errors(run_list, client.base_url):
        response = client.get(
            run_list.runs_path, params=query(run_list, params), hooks={"response": [decode_json_once]}
        )
        records = require_runs(run_list, response.json(), response.url)
        return Page(records, response.url, response.headers.get("Date"), response.elapsed.total_seconds())


def json_body(response: Response) -> Any:
    """The body decoded with orjson, or by the standard library when it is valid JSON orjson
    refuses (integers beyond 64 bits); json.JSONDecodeError when it is not JSON."""
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return json.loads(response.content)


def decode_json_once(response: Response, *args: Any, **kwargs: Any) -> Response:
    """A response hook: raise for HTTP errors (dlt's retry handles them), then decode the body once
    and serve that to dlt's client and paginator, which would each parse it again."""
    response.raise_for_status()
    if response.is_redirect:  # requests follows it; the hook runs again on the final answer
        return response
    body = json_body(response)
    response.json = lambda **_: body  # type: ignore[method-assign]
    return response


def require_runs(run_list: RunList, body: Any, where: str) -> list[Any]:
    """The runs of a decoded page; MalformedPage naming the provider and `where` if it has none."""
    path = run_list.records_path
    runs = body_value(body, path) if path else body
    if not isinstance(runs, list):
        shape = f"without a `{path}` list" if path else "that is not a list of runs"
        raise MalformedPage(f"{run_list.provider.display_name}: a page {shape} from {where}")
    return runs


class StrictCursorPaginator(JSONResponseCursorPaginator):
    """dlt's cursor paginator, refusing the server bugs that would otherwise skip runs silently
    or loop forever: a body without its list of runs, `has_more` with no cursor, a repeated cursor."""

    def __init__(self, run_list: RunList, paging: CursorPaging) -> None:
        super().__init__(
            cursor_path=compiled(paging.cursor_path),
            cursor_param=paging.cursor_param,
            has_more_path=None if paging.has_more_path is None else compiled(paging.has_more_path),
        )
        self.run_list = run_list
        self.provider = run_list.provider.display_name
        self.has_more_key = paging.has_more_path
        self._seen_cursors: set[str] = set()

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        require_runs(self.run_list, response.json(), response.url)
        super().update_state(response, data)
        cursor = self._next_reference
        body = response.json()
        if self.has_more_key is not None and body_value(body, self.has_more_key) is True and cursor is None:
            raise MalformedPage(f"{self.provider}: the API said has_more but sent no cursor ({response.url})")
        if cursor is not None:
            if cursor in self._seen_cursors:
                raise MalformedPage(f"{self.provider}: the API repeated a page cursor ({response.url}); stopping")
            self._seen_cursors.add(cursor)


class ShortPagePaginator(PageNumberPaginator):
    """dlt's page-number paginator, ending at a page shorter than the page size (so the end costs
    no extra empty page) or at the list's last reachable page, and refusing a body without runs."""

    def __init__(self, run_list: RunList, paging: PageNumberPaging, page_size: int) -> None:
        super().__init__(
            base_page=paging.first_page,
            page=paging.first_page,
            page_param=paging.page_param,
            total_path=None,
            maximum_page=None if paging.max_page is None else paging.max_page + 1,
        )
        self.run_list = run_list
        self.provider = run_list.provider.display_name
        self.page_size = page_size

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        require_runs(self.run_list, response.json(), response.url)
        super().update_state(response, data)
        if data is not None and len(data) < self.page_size:
            self._has_next_page = False
        elif not self._has_next_page and data:
            logger.warning(
                "%s: %s shows no page beyond page %s (%s runs): older runs of it cannot be listed.",
                self.provider,
                urlsplit(response.url).path,
                self.current_value - 1,
                f"{(self.current_value - 1) * self.page_size:,}",
            )


def paginator_for(run_list: RunList, params: Params) -> BasePaginator:
    paging = run_list.paging
    if isinstance(paging, PageNumberPaging):  # a short page is the last: short of the size asked for
        return ShortPagePaginator(run_list, paging, asked_page_size(run_list, params))
    return StrictCursorPaginator(run_list, paging)


def body_value(body: Any, path: str) -> Any:
    """The value at a JSON path of a decoded body (dlt's jsonpath); None where there is none."""
    found = compiled(path).find(body)
    return found[0].value if found else None


def clock_of(date: str | None) -> datetime:
    """An answer's `Date` header as an aware UTC time (the local clock if there is none)."""
    try:
        return parsedate_to_datetime(date).astimezone(UTC)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return datetime.now(UTC)
