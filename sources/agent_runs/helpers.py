"""HTTP details both providers share: the authenticated client, a strict cursor paginator and
the translation of HTTP failures into errors that name the provider and say what to do."""

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.auth import APIKeyAuth
from dlt.sources.helpers.rest_client.paginators import JSONResponseCursorPaginator
from requests import HTTPError, Response
from requests.exceptions import JSONDecodeError

from .schema import FieldMap, InvalidRecord, to_row


class ProviderError(Exception):
    """A failure talking to one provider's API; the message is meant for the person running the load."""


class ApiKeyRejected(ProviderError):
    pass


class MalformedPage(ProviderError):
    pass


@dataclass(frozen=True)
class Provider:
    """One screen that says what a provider's list-runs endpoint is; `list_runs` does the rest."""

    name: str  # the value of the `provider` column
    display_name: str
    default_base_url: str
    runs_path: str
    api_key_header: str
    cursor_path: str
    has_more_path: str | None
    row_order: Literal["asc"] | None
    window_params: Callable[[datetime | None, datetime | None], dict[str, Any]]  # created in [start, end]
    page_size: int
    fields: FieldMap

    def run_path(self, run_id: str) -> str:
        return f"{self.runs_path}/{quote(run_id, safe='')}"


def isoformat(moment: datetime) -> str:
    """RFC 3339 in UTC with a `Z`, as both APIs document for their time filters."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def runs_client(base_url: str, api_key_header: str, api_key: str) -> RESTClient:
    """A client whose requests go through dlt's retrying session (429 with Retry-After, 5xx,
    connection errors; limits under `[runtime]` in config.toml)."""
    return RESTClient(
        base_url=base_url.rstrip("/"),
        auth=APIKeyAuth(name=api_key_header, api_key=api_key, location="header"),
    )


class StrictCursorPaginator(JSONResponseCursorPaginator):
    """dlt's cursor paginator, refusing the server bugs that would otherwise skip runs silently
    or loop forever: a body without a `data` list, `has_more` with no cursor, a repeated cursor."""

    def __init__(self, provider: str, cursor_path: str, has_more_path: str | None = None) -> None:
        super().__init__(cursor_path=cursor_path, cursor_param="cursor", has_more_path=has_more_path)
        self.provider = provider
        self.has_more_key = has_more_path
        self._seen_cursors: set[str] = set()

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        body = response.json()
        if not isinstance(body, Mapping) or not isinstance(body.get("data"), list):
            raise MalformedPage(f"{self.provider}: a page without a `data` list from {response.url}")
        super().update_state(response, data)
        cursor = self._next_reference
        if self.has_more_key is not None and body_has_more(body, self.has_more_key) and cursor is None:
            raise MalformedPage(f"{self.provider}: the API said has_more but sent no cursor ({response.url})")
        if cursor is not None:
            if cursor in self._seen_cursors:
                raise MalformedPage(f"{self.provider}: the API repeated a page cursor ({response.url}); stopping")
            self._seen_cursors.add(cursor)


def body_has_more(body: Mapping[str, Any], path: str) -> bool:
    value: Any = body
    for key in path.split("."):
        value = value.get(key) if isinstance(value, Mapping) else None
    return value is True


def paginate_rows(provider: Provider, client: RESTClient, params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
    """Each page of the list endpoint for these query parameters, as unified rows."""
    paginator = StrictCursorPaginator(provider.display_name, provider.cursor_path, provider.has_more_path)
    path = provider.runs_path
    try:
        for page in client.paginate(path, params=params, paginator=paginator, data_selector="data"):
            try:
                yield [to_row(provider.name, provider.fields, record) for record in page]
            except InvalidRecord as error:
                raise MalformedPage(f"{provider.display_name}: {error} (page {page.response.url})") from None
    except HTTPError as error:
        raise http_failure(provider.display_name, path, error.response) from error
    except JSONDecodeError as error:
        raise MalformedPage(
            f"{provider.display_name}: {path} answered with something that is not JSON ({error})"
        ) from error


def fetch_run(provider: Provider, client: RESTClient, run_id: str) -> dict[str, Any] | None:
    """One run by id as a unified row; None when the API no longer knows it (404)."""
    path = provider.run_path(run_id)
    response = client.get(path)
    if response.status_code == 404:
        return None
    if not response.ok:
        raise http_failure(provider.display_name, path, response)
    try:
        return to_row(provider.name, provider.fields, response.json())
    except (InvalidRecord, JSONDecodeError) as error:
        raise MalformedPage(f"{provider.display_name}: {path}: {error}") from None


def http_failure(display_name: str, path: str, response: Response | None) -> ProviderError:
    status = response.status_code if response is not None else "no response"
    if status in (401, 403):
        env_name = f"{display_name.upper()}_API_KEY"
        return ApiKeyRejected(
            f"{display_name} rejected the API key (HTTP {status} on {path}). "
            f"Check {env_name} or `{display_name.lower()}_api_key` under [sources.agent_runs] in .dlt/secrets.toml."
        )
    detail = response.text[:200] if response is not None else ""
    return ProviderError(f"{display_name}: {path} failed with HTTP {status} after retries: {detail}")
