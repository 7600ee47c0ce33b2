"""The provider contract: what a provider module declares about its API, so that the rest of the
connector can list, page, filter, map and fetch runs without naming any provider."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

FieldMap = Mapping[str, tuple[str, ...]]  # unified column -> path in the API's record


@dataclass(frozen=True)
class CursorPaging:
    """Cursor pagination: the next page's cursor is at `cursor_path` in the body and goes back as
    the query parameter `cursor_param`; `has_more_path`, if the API has one, says whether a next
    page exists (else a null cursor ends the listing)."""

    cursor_path: str
    cursor_param: str
    has_more_path: str | None = None


@dataclass(frozen=True)
class Provider:
    """One API's run history on one screen. Its keys are configured as `<NAME>_API_KEY` (or
    `<name>_api_key` under [sources.agent_runs]) and its host as `<NAME>_BASE_URL`."""

    name: str  # the value of the `provider` column
    display_name: str
    default_base_url: str
    api_key_header: str
    runs_path: str  # the list endpoint
    run_path_template: str  # one run by id: `{run_id}` is replaced by the quoted id
    records_path: str  # where a page's runs are in its body
    paging: CursorPaging
    page_size: int  # runs a page, the API's maximum
    page_size_param: str
    row_order: Literal["asc"] | None  # "asc": oldest first, so the cursor may move page by page
    window_params: Callable[
        [datetime | None, datetime | None], dict[str, Any]
    ]  # a page of runs created in [start, end]
    status_params: Callable[[str], dict[str, Any]]  # the filter for one of `open_statuses`
    open_statuses: tuple[str, ...]  # status filter values of runs not ended yet
    fields: FieldMap
    status_map: Mapping[str, str]  # the API's status spellings -> unified (others: lower case if unified)
    error_message: Callable[[Any], str | None]  # the readable part of an error body (decoded JSON)

    def run_path(self, run_id: str) -> str:
        return self.run_path_template.format(run_id=quote(run_id, safe=""))

    @property
    def api_key_variable(self) -> str:
        return f"{self.name.upper()}_API_KEY"

    @property
    def base_url_variable(self) -> str:
        return f"{self.name.upper()}_BASE_URL"


def isoformat(moment: datetime) -> str:
    """RFC 3339 in UTC with a `Z`, the form time filters are sent in."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
