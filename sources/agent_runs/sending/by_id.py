"""Requests for runs by id, outside a walk of pages (which is paging.py's): runs as their list
shows them (a batch read, a search, or one by id), their authoritative read where a list's status
can lag, whether a key works, and the API's clock."""

import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any, TypeVar

from dlt.sources.helpers.rest_client import RESTClient
from requests import ConnectionError as RequestsConnectionError
from requests import Response, Timeout

from agent_runs.errors import MalformedPage, http_failure, unreachable
from agent_runs.providers import PageNumberPaging, Provider, RunList
from agent_runs.providers.base import Params
from agent_runs.reading.paging import clock_of, json_body, require_runs
from agent_runs.settings import REFRESH_WORKERS, ROWS_PER_YIELD

Answer = TypeVar("Answer")


@dataclass
class Fetched:
    """Runs read by id: as the list shows them (`listed`), as only the by-id read shows them
    (`confirmed`: a run a search of the list did not reach; `confirm_fields` maps it), and the ids
    the by-id read answered 404 for (`gone`)."""

    listed: list[dict[str, Any]] = field(default_factory=list)
    confirmed: list[dict[str, Any]] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)

    def add(self, run_id: str, found: tuple[str, dict[str, Any]] | None) -> None:
        if found is None:
            self.gone.append(run_id)
        else:
            (self.listed if found[0] == "listed" else self.confirmed).append(found[1])


def fetched_by_id(
    run_list: RunList, client_of_thread: Callable[[], RESTClient], run_ids: list[str]
) -> Iterator[Fetched]:
    """These runs read by id, ROWS_PER_YIELD at a time: a batch read of up to its `max_ids` a
    request where the API has one, else one request a run, REFRESH_WORKERS at once, each with its
    thread's client (`Account.client`)."""
    if run_list.batch_read is not None:
        client = client_of_thread()
        size = run_list.batch_read.max_ids
        for start in range(0, len(run_ids), size):
            yield fetch_batch(run_list, client, run_ids[start : start + size])
        return
    for chunk in answered_each(lambda run_id: fetch_run(run_list, client_of_thread(), run_id), run_ids):
        fetched = Fetched()
        for run_id, found in chunk:
            fetched.add(run_id, found)
        yield fetched


def fetch_batch(run_list: RunList, client: RESTClient, run_ids: list[str]) -> Fetched:
    """Up to `batch_read.max_ids` runs in one request; a run the answer neither holds nor names as
    not found is read again by itself."""
    records, not_found = batch_records(run_list, client, run_ids)
    fetched = Fetched()
    asked = set(run_ids)
    for run_id, record in records.items():
        asked.discard(run_id)
        fetched.listed.append(without_detail(run_list, record))
    for run_id in not_found:
        if run_id in asked:
            asked.discard(run_id)
            fetched.gone.append(run_id)
    for run_id in sorted(asked):  # neither found nor said missing: asked alone
        fetched.add(run_id, fetch_run(run_list, client, run_id))
    return fetched


def batch_records(
    run_list: RunList, client: RESTClient, run_ids: list[str], options: Params | None = None
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """One request of the list's batch read (with these options beside the ids): the records it
    holds of the runs asked, by id (the first of a run sent twice), and the ids it names not found."""
    batch = run_list.batch_read
    assert batch is not None
    body = post_json(run_list, client, batch.path, {batch.ids_field: run_ids, **(options or {})})
    records = body.get(batch.records_path) if isinstance(body, dict) else None
    not_found = body.get(batch.not_found_path) if isinstance(body, dict) else None
    if not isinstance(records, list) or not isinstance(not_found, list | None):
        raise MalformedPage(f"{run_list.provider.display_name}: {batch.path}: expected `{batch.records_path}` runs")
    id_key = run_list.fields["run_id"][0]
    asked = set(run_ids)
    found: dict[str, dict[str, Any]] = {}
    for record in records:
        if isinstance(record, dict) and record.get(id_key) in asked:
            found.setdefault(record[id_key], record)
    return found, list(not_found or ())


def fetch_run(run_list: RunList, client: RESTClient, run_id: str) -> tuple[str, dict[str, Any]] | None:
    """One run by id: ("listed", the run as its list shows it), or ("confirmed", its by-id read)
    for a run a search of the list does not reach; None when its by-id read answers 404."""
    if run_list.lookup_params is not None:
        record = searched(run_list, client, run_id)
        if record is not None:
            return "listed", record
        body = get_json(run_list, client, run_list.run_path(run_id))
        kind = "confirmed"
    else:
        body = get_json(run_list, client, run_list.run_path(run_id))
        kind = "listed"
    if body is None:
        return None
    if not isinstance(body, dict):
        raise MalformedPage(f"{run_list.provider.display_name}: {run_list.runs_path}: expected a run object")
    return kind, without_detail(run_list, body)


def searched(run_list: RunList, client: RESTClient, run_id: str) -> dict[str, Any] | None:
    """The run as its list shows it, found by a search of the list: the search also matches runs
    that name it (in their parameters, titles...), newer ones first, so it is paged through, up to
    `lookup_max_pages` pages; None if it is not among them."""
    assert run_list.lookup_params is not None
    id_key = run_list.fields["run_id"][0]
    paging = run_list.paging
    for number in range(run_list.lookup_max_pages):
        params = {**run_list.lookup_params(run_id), run_list.page_size_param: run_list.page_size}
        if isinstance(paging, PageNumberPaging):
            params[paging.page_param] = paging.first_page + number
        found = get_json(run_list, client, run_list.runs_path, params)
        if found is None:
            return None
        runs = require_runs(run_list, found, run_list.runs_path)
        record = next((record for record in runs if isinstance(record, dict) and record.get(id_key) == run_id), None)
        if record is not None or len(runs) < run_list.page_size or not isinstance(paging, PageNumberPaging):
            return record
    return None


def without_detail(run_list: RunList, record: dict[str, Any]) -> dict[str, Any]:
    """The record less what only a by-id read carries, so that its row is the list's."""
    for key in run_list.detail_only_fields:
        record.pop(key, None)
    return record


def answered_each(fetch: Callable[[str], Answer], run_ids: list[str]) -> Iterator[list[tuple[str, Answer]]]:
    """These runs asked for one by one, REFRESH_WORKERS at a time: (run id, answer) pairs,
    ROWS_PER_YIELD at a time."""
    with ThreadPoolExecutor(max_workers=REFRESH_WORKERS) as pool:
        answers = zip(run_ids, pool.map(fetch, run_ids), strict=True)
        while chunk := list(islice(answers, ROWS_PER_YIELD)):
            yield chunk


def fetched_each(
    fetch: Callable[[str], dict[str, Any] | None], run_ids: list[str]
) -> Iterator[tuple[list[dict[str, Any]], list[str]]]:
    """These runs fetched one by one (answered_each): the records found, and the ids the API no
    longer knows."""
    for chunk in answered_each(fetch, run_ids):
        yield (
            [record for _, record in chunk if record is not None],
            [run_id for run_id, record in chunk if record is None],
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
    return decoded(run_list, client, "GET", path, params=params)


def post_json(run_list: RunList, client: RESTClient, path: str, payload: Any) -> Any:
    """The decoded answer to one POST of this JSON body; None on a 404."""
    return decoded(run_list, client, "POST", path, json=payload)


def decoded(run_list: RunList, client: RESTClient, method: str, path: str, **kwargs: Any) -> Any:
    """The decoded answer to one request; None on a 404 about the run (one about the key's account,
    `Provider.account_not_found_messages`, is a failure)."""
    provider = run_list.provider
    try:
        response = client.request(path, method=method, **kwargs)
    except (RequestsConnectionError, Timeout) as error:
        raise unreachable(provider, client.base_url, error) from None
    if response.status_code == 404 and not about_account(provider, response):
        return None
    if not response.ok:
        raise http_failure(provider, path, response)
    try:
        return json_body(response)
    except json.JSONDecodeError as error:
        raise MalformedPage(f"{provider.display_name}: {path}: not JSON ({error})") from None


def about_account(provider: Provider, response: Response) -> bool:
    """Whether a 404 says the key's account is not found (rather than the run)."""
    if not provider.account_not_found_messages:
        return False
    try:
        message = provider.error_message(json_body(response))
    except (json.JSONDecodeError, ValueError):
        return False
    return message in provider.account_not_found_messages


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
