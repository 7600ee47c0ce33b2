"""Reading a provider's list endpoints, the same for every provider (requests go through
transport.py): pages decoded once, strict paginators, a listing as Arrow tables of `runs` rows,
one run by id, and HTTP failures turned into errors that name the provider and say what to do."""

import contextlib
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import orjson
import pyarrow as pa
from dlt.common.jsonpath import compile_path
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.paginators import BasePaginator, JSONResponseCursorPaginator, PageNumberPaginator
from requests import ConnectionError as RequestsConnectionError
from requests import HTTPError, Response, Timeout

from .errors import ApiKeyRejected, InvalidRecord, MalformedPage, ProviderError
from .providers import CursorPaging, PageNumberPaging, Provider, RunList
from .providers.base import Params
from .schema import DEFAULT_ACCOUNT, to_table
from .settings import SOURCE_NAME

logger = logging.getLogger(SOURCE_NAME)


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


def page_records(body: Any, records_path: str) -> Any:
    """The runs of a decoded page: the body itself for an API that answers with a bare list."""
    return body if not records_path else body.get(records_path) if isinstance(body, Mapping) else None


def require_runs(run_list: RunList, body: Any, where: str) -> list[Any]:
    """The runs of a decoded page; MalformedPage naming the provider and `where` if it has none."""
    runs = page_records(body, run_list.records_path)
    if not isinstance(runs, list):
        shape = f"without a `{run_list.records_path}` list" if run_list.records_path else "that is not a list of runs"
        raise MalformedPage(f"{run_list.provider.display_name}: a page {shape} from {where}")
    return runs


class StrictCursorPaginator(JSONResponseCursorPaginator):
    """dlt's cursor paginator, refusing the server bugs that would otherwise skip runs silently
    or loop forever: a body without its list of runs, `has_more` with no cursor, a repeated cursor."""

    def __init__(self, run_list: RunList, paging: CursorPaging) -> None:
        super().__init__(
            cursor_path=paging.cursor_path, cursor_param=paging.cursor_param, has_more_path=paging.has_more_path
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
        if self.has_more_key is not None and body_has_more(body, self.has_more_key) and cursor is None:
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
        return ShortPagePaginator(run_list, paging, int(params.get(run_list.page_size_param, run_list.page_size)))
    return StrictCursorPaginator(run_list, paging)


def body_has_more(body: Mapping[str, Any], path: str) -> bool:
    return body_value(body, path) is True


def body_value(body: Any, path: str) -> Any:
    """The value at a dotted path of a decoded body; None where there is none."""
    value: Any = body
    for key in path.split("."):
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def paginate_runs(
    run_list: RunList,
    client: RESTClient,
    params: Params,
    account: str = DEFAULT_ACCOUNT,
    min_runs: int | Callable[[], int] = 1,
    first_answer: dict[str, Any] | None = None,
) -> Iterator[pa.Table]:
    """The list endpoint's runs for these query parameters as `runs` rows, a page at a time; with `min_runs`,
    consecutive pages are joined until they hold at least that many runs (mapping runs to Arrow
    costs some forty Arrow calls whatever their number: a lot next to a page of 100). An empty
    listing is one empty page. `min_runs` may be a function, asked at every page (a caller that
    wants the first page alone, then batches). `first_answer`, if given, gets what the first page
    says beyond its runs: the API's clock (its `Date` header) as "now", how long it took to come as
    "waited", and for a list with page numbers and a total, how many runs the listing holds as "total"."""
    paging = run_list.paging
    hooks = {"response": [decode_json_once]}
    # compiled once: dlt would parse the selector again on every page
    records_path = compile_path(run_list.records_path or "$")
    records: list[dict[str, Any]] = []
    pages, yielded, url = 0, False, run_list.runs_path
    with provider_errors(run_list, client):
        for page in client.paginate(
            run_list.runs_path,
            params=params,
            paginator=paginator_for(run_list, params),
            data_selector=records_path,
            hooks=hooks,
        ):
            records += page
            pages += 1
            url = page.response.url
            if first_answer is not None and not first_answer:  # the first page's answer is what is asked
                first_answer["now"] = date_of(page.response)
                first_answer["waited"] = page.response.elapsed
                if isinstance(paging, PageNumberPaging) and paging.total_path:
                    first_answer["total"] = body_value(page.response.json(), paging.total_path)
            if len(records) >= (min_runs() if callable(min_runs) else min_runs):
                yield runs_table(run_list, records, pages_up_to(pages, url), account)
                records, pages, yielded = [], 0, True
        if records or not yielded:
            yield runs_table(run_list, records, pages_up_to(pages, url), account)


def fetch_page(run_list: RunList, client: RESTClient, params: Params, account: str = DEFAULT_ACCOUNT) -> pa.Table:
    """One page of the list for these query parameters (its page number among them), as `runs` rows."""
    with provider_errors(run_list, client):
        response = client.get(run_list.runs_path, params=params, hooks={"response": [decode_json_once]})
        return runs_table(run_list, require_runs(run_list, response.json(), response.url), response.url, account)


@contextlib.contextmanager
def provider_errors(run_list: RunList, client: RESTClient) -> Iterator[None]:
    """Failures of a listing's requests as errors that name the provider and say what to do."""
    provider = run_list.provider
    try:
        yield
    except HTTPError as error:
        raise http_failure(provider, run_list.runs_path, error.response) from error
    except (RequestsConnectionError, Timeout) as error:
        raise unreachable(provider, client.base_url, error) from None
    except json.JSONDecodeError as error:
        raise MalformedPage(
            f"{provider.display_name}: {run_list.runs_path} answered with something that is not JSON ({error})"
        ) from error


def pages_up_to(pages: int, url: str) -> str:
    return url if pages == 1 else f"{url} or one of the {pages - 1} before it"


def runs_table(
    run_list: RunList,
    records: list[dict[str, Any]],
    where: str,
    account: str = DEFAULT_ACCOUNT,
    confirmation: bool = False,
) -> pa.Table:
    """Records of the list (or, with `confirmation`, of its authoritative read) as `runs` rows."""
    try:
        return to_table(
            run_list.provider.name,
            run_list.confirm_fields if confirmation else run_list.fields,
            records,
            account,
            run_list.status_map,
            run_list.name,
            run_list.secret_fields,
        )
    except InvalidRecord as error:
        raise MalformedPage(f"{run_list.provider.display_name}: {error} (page {where})") from None


def fetch_run(run_list: RunList, client: RESTClient, run_id: str) -> dict[str, Any] | None:
    """One run by id, as the list shows it; None when the API no longer knows it (404, or a search
    that does not find it)."""
    if run_list.lookup_params is not None:
        found = get_json(run_list, client, run_list.runs_path, run_list.lookup_params(run_id))
        if found is None:
            return None
        id_key = run_list.fields["run_id"][0]
        runs = require_runs(run_list, found, run_list.runs_path)
        body = next((record for record in runs if isinstance(record, dict) and record.get(id_key) == run_id), None)
        if body is None:
            return None
    else:
        body = get_json(run_list, client, run_list.run_path(run_id))
        if body is None:
            return None
    if not isinstance(body, dict):
        raise MalformedPage(f"{run_list.provider.display_name}: {run_list.runs_path}: expected a run object")
    for key in run_list.detail_only_fields:
        body.pop(key, None)
    return body


def fetch_confirmation(run_list: RunList, client: RESTClient, run_id: str) -> dict[str, Any] | None:
    """One run as the API's authoritative read says (`confirm_path_template`); None on a 404."""
    path = run_list.confirm_path(run_id)
    body = get_json(run_list, client, path)
    if body is not None and not isinstance(body, dict):
        raise MalformedPage(f"{run_list.provider.display_name}: {path}: expected a run object")
    return body


def get_json(run_list: RunList, client: RESTClient, path: str, params: Params | None = None) -> Any:
    """The decoded answer to one GET; None on a 404 (the API does not know the run)."""
    provider = run_list.provider
    try:
        response = client.get(path, params=params)
    except (RequestsConnectionError, Timeout) as error:
        raise unreachable(provider, client.base_url, error) from None
    if response.status_code == 404:
        return None
    if not response.ok:
        raise http_failure(provider, path, response)
    try:
        return json_body(response)
    except json.JSONDecodeError as error:
        raise MalformedPage(f"{provider.display_name}: {path}: not JSON ({error})") from None


def one_run_request(run_list: RunList, client: RESTClient) -> Response:
    """The cheapest request of a list: one run. Connection failures raise ProviderError."""
    try:
        return client.get(run_list.runs_path, params={run_list.page_size_param: 1})
    except (RequestsConnectionError, Timeout) as error:
        raise unreachable(run_list.provider, client.base_url, error) from None


def key_works(run_list: RunList, client: RESTClient) -> bool:
    """Whether the key is accepted by this list (to tell a refused list from a refused key)."""
    return one_run_request(run_list, client).ok


def server_now(run_list: RunList, client: RESTClient) -> datetime:
    """The API's clock, asked with the cheapest request, to fix the end of a walk by its own now."""
    response = one_run_request(run_list, client)
    if not response.ok:
        raise http_failure(run_list.provider, run_list.runs_path, response)
    return date_of(response)


def date_of(response: Response) -> datetime:
    """The API's clock at an answer: its `Date` header (the local clock if it sends none)."""
    try:
        return parsedate_to_datetime(response.headers["Date"]).astimezone(UTC)
    except (KeyError, TypeError, ValueError):
        return datetime.now(UTC)


def http_failure(provider: Provider, path: str, response: Response | None) -> ProviderError:
    """The error for a request that failed for good: a rejected key says which setting to check;
    anything else gives the status and what the API said (its error message, else the body)."""
    status = response.status_code if response is not None else "no response"
    if status in provider.key_rejected_statuses:
        return ApiKeyRejected(
            f"{provider.display_name} rejected the API key (HTTP {status} on {path}). Check "
            f"{provider.api_key_variable} or `{provider.name}_api_key` under [sources.agent_runs] in .dlt/secrets.toml.",
            status,
        )
    detail = ""
    if response is not None:
        with contextlib.suppress(ValueError):  # not JSON: the body as sent
            detail = provider.error_message(json_body(response)) or ""
        detail = detail or response.text[:200]
    return ProviderError(f"{provider.display_name}: {path} failed with HTTP {status} after retries: {detail}")


def unreachable(provider: Provider, base_url: str, error: Exception) -> ProviderError:
    """The API could not be reached at all (after retries): which provider, which host, and what to check."""
    host = urlsplit(base_url).netloc or base_url
    reason = "it timed out" if isinstance(error, Timeout) else "the connection failed"
    for text, meaning in (
        ("Name or service not known", "the host name does not resolve"),
        ("nodename nor servname", "the host name does not resolve"),
        ("Temporary failure in name resolution", "the host name does not resolve (DNS)"),
        ("Connection refused", "nothing accepts connections there"),
    ):
        if text in str(error):
            reason = meaning
    return ProviderError(
        f"{provider.display_name}: could not reach {host} ({reason}, after retries). Check {provider.base_url_variable} "
        f"(or `{provider.name}_base_url` in .dlt/config.toml; unset, it is {provider.default_base_url}), "
        "the network and any proxy settings, then run the load again."
    )
