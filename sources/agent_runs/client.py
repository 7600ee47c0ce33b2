"""Requests for one run, outside a walk of pages (which is paging.py's): a run by id as its list
shows it, its authoritative read where a list's status can lag, whether a key works, and the
API's clock."""

import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from itertools import islice
from typing import Any

from dlt.sources.helpers.rest_client import RESTClient
from requests import ConnectionError as RequestsConnectionError
from requests import Response, Timeout

from .errors import MalformedPage, http_failure, unreachable
from .paging import clock_of, json_body, require_runs
from .providers import RunList
from .providers.base import Params
from .settings import REFRESH_WORKERS, ROWS_PER_YIELD


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


def fetched_each(
    fetch: Callable[[str], dict[str, Any] | None], run_ids: list[str]
) -> Iterator[tuple[list[dict[str, Any]], list[str]]]:
    """These runs fetched one by one, REFRESH_WORKERS at a time, in batches of ROWS_PER_YIELD: the
    records found, and the ids the API no longer knows."""
    with ThreadPoolExecutor(max_workers=REFRESH_WORKERS) as pool:
        fetched = zip(run_ids, pool.map(fetch, run_ids), strict=True)
        while batch := list(islice(fetched, ROWS_PER_YIELD)):
            yield (
                [record for _, record in batch if record is not None],
                [run_id for run_id, record in batch if record is None],
            )


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
    return clock_of(response.headers.get("Date"))
