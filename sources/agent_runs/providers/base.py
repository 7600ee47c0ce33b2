"""The provider contract: what a provider module declares about its API, so that the rest of the
connector can list, page, filter, map and fetch runs without naming any provider.

A provider (a key, a host, an auth header, how its errors read) has one or more run lists: the
list endpoints of its run families (an API's older and newer run endpoints, say), each with its own
paging, filters, order and field map."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, Literal
from urllib.parse import quote

from dlt.common.jsonpath import JSONPath, compile_path

FieldMap = Mapping[str, tuple[str, ...]]  # unified column -> path in the API's record
Params = dict[str, Any]  # query parameters; a list value repeats the parameter


@dataclass(frozen=True)
class CreatedFilter:
    """How a list is asked for the runs created in a range: the query parameters of its bounds, and
    how far each bound is widened (bounds that are exclusive, or compare coarser than a
    microsecond). The runs beyond the range that this lets in are trimmed after."""

    after_param: str
    before_param: str
    widen_by: timedelta = timedelta(0)


@dataclass(frozen=True)
class CursorPaging:
    """Cursor pagination: the next page's cursor is at `cursor_path` in the body and goes back as
    the query parameter `cursor_param`; `has_more_path`, if the API has one, says whether a next
    page exists (else a null cursor ends the listing)."""

    cursor_path: str
    cursor_param: str
    has_more_path: str | None = None


@dataclass(frozen=True)
class PageNumberPaging:
    """Page numbers from `first_page`; a page shorter than the page size is the last. `max_page`:
    the API refuses pages beyond it (the list's reach). `total_path`: where a page says how many
    runs the listing holds, so that the other pages of a frozen walk can be asked for at once."""

    page_param: str
    first_page: int = 1
    max_page: int | None = None
    total_path: str | None = None


@dataclass(frozen=True)
class BatchRead:
    """Many runs by id in one request: `POST path` with `{ids_field: [...]}` (at most `max_ids`),
    answered with the runs found at `records_path` and the ids the API does not know at
    `not_found_path` (a null there: every id was found)."""

    path: str
    ids_field: str
    max_ids: int
    records_path: str
    not_found_path: str


StepFields = Mapping[str, tuple[tuple[str, ...], ...]]  # `run_steps` column -> paths, the first present wins


@dataclass(frozen=True)
class StepsRead:
    """Where a run's steps (events, messages, timeline nodes) are and how each reads as a
    `run_steps` row. The steps of one run come with one read: `GET path_template` (`{run_id}`
    replaced), paged by `cursor` where the API pages them, or, with `batch` set, inside each
    record of the list's batch read (many runs a request). `records_path`: where the steps are in
    the answer ("" when it is the list itself); `children_path`: a tree's nodes below a node
    (their `parent_step_id` is the node's). A step's kind is `kind`, or at `kind_path` if there."""

    records_path: str
    fields: StepFields
    kind: str
    path_template: str | None = None
    batch: bool = False
    params: Params = field(default_factory=dict)  # asked with every read (e.g. everything at once)
    cursor: CursorPaging | None = None
    kind_path: tuple[str, ...] | None = None
    children_path: str | None = None
    duration_unit: Literal["s", "ms", "text"] = "s"  # "text": a string such as "1.2s"
    # Fields of a step never kept, not even in `extra`: base64 content, signed URLs, secrets.
    secret_fields: tuple[str, ...] = ()
    # Text fields that hold a JSON object whose first key is the action's name (`{"click": {...}}`).
    action_in_json_key: bool = False

    def path(self, run_id: str) -> str:
        assert self.path_template is not None, "steps that come with the batch read have no path"
        return self.path_template.format(run_id=quote(run_id, safe=""))


@dataclass(frozen=True)
class RunList:
    """One list endpoint of a provider: how to page it, filter it and read its runs."""

    name: str  # the `run_family` column's value; part of resource names when a provider has several
    runs_path: str
    records_path: str  # where a page's runs are in its body; "" when the body is the list itself
    paging: CursorPaging | PageNumberPaging
    page_size: int  # runs a page: the query asks for it (paging.query); declared here only
    page_size_param: str
    # "asc": oldest first, the cursor may move page by page; "desc": newest first, a walk stops past
    # the cursor; None: no promised order, every page of the window is read before the cursor moves.
    row_order: Literal["asc", "desc"] | None
    created_filter: CreatedFilter | None  # None: the list cannot be asked for a time range
    open_run_filters: tuple[Params, ...]  # listings that together hold every open run; () = fetch each by id
    fields: FieldMap
    status_map: Mapping[str, str]  # the API's status spellings -> unified (others: lower case if unified)
    run_path_template: str | None = None  # one run by id: `{run_id}` is replaced by the quoted id
    # One run as the list shows it, where the by-id read answers another shape: the list searched
    # (these parameters), page after page up to `lookup_max_pages`. A run the search does not reach
    # is read by id (`run_path_template`): its status and times from there (`confirm_fields`).
    lookup_params: Callable[[str], Params] | None = None
    lookup_max_pages: int = 1
    batch_read: BatchRead | None = None  # many runs by id at once, where the API has such a read
    # Keys a run read by id (or in a batch) has that listed runs lack: never kept, so that a row
    # does not depend on which endpoint read it (steps, recordings, files).
    detail_only_fields: tuple[str, ...] = ()
    # The list's status is a copy that can lag: its open rows are confirmed by this get-by-id
    # (`{run_id}` replaced), whose record `confirm_fields` maps (run_id, provider_status, times).
    confirm_path_template: str | None = None
    # Columns summed from several of the record's counters (each counter also kept in `extra`).
    summed_fields: Mapping[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)
    # Who judged whether the run reached its goal, most trusted first: (who, path); `goal_achieved`
    # takes the first verdict given, `goal_verdict_by` says whose it is.
    verdicts: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # Text fields that hold JSON (an API that sends structured output as a string): decoded when the
    # text is a JSON object or array, kept as text otherwise.
    json_text_fields: tuple[str, ...] = ()
    confirm_fields: FieldMap = field(default_factory=dict)
    secret_fields: tuple[str, ...] = ()  # keys never stored, not even in `extra` (headers, callbacks)
    # Keys a run can gain or change after it ended (a judge's verdict, the judge's bill): a run is
    # read again by id while it ended less than LATE_FILL_FOR before the newest run loaded (by
    # `updated_at` where the list has no finished time), so the table catches them.
    late_fields: tuple[str, ...] = ()
    frozen_walk: bool = False  # page numbers over a time filter: the window's end is fixed at the server's now
    optional: bool = False  # a refusal (403) while the key works for the provider's first list: skipped
    list_params: Params = field(default_factory=dict)  # asked with every listing (an order, a run type)
    steps: StepsRead | None = None  # what each run did step by step; None: the API does not say
    provider: Provider = field(default=None, repr=False, compare=False)  # type: ignore[assignment]  # set by Provider

    @property
    def filters_created_at(self) -> bool:
        return self.created_filter is not None

    def window_params(self, start: datetime | None, end: datetime | None) -> Params:
        """The query of the runs created in [start, end], widened as declared (a list without a
        time filter: newest first, and the walk stops past `start`)."""
        params = dict(self.list_params)
        if self.created_filter is not None:
            bounds = self.created_filter
            if start is not None:
                params[bounds.after_param] = isoformat(start - bounds.widen_by)
            if end is not None:
                params[bounds.before_param] = isoformat(end + bounds.widen_by)
        return params

    @property
    def pages_at_once(self) -> bool:
        """Whether a walk's pages can be asked for at once: numbered pages of a frozen window (no run
        joins or leaves it, so numbers stay put) whose first page says how many there are."""
        return self.frozen_walk and isinstance(self.paging, PageNumberPaging) and self.paging.total_path is not None

    def confirm_path(self, run_id: str) -> str:
        assert self.confirm_path_template is not None, f"{self.runs_path} needs no confirmation"
        return self.confirm_path_template.format(run_id=quote(run_id, safe=""))

    def run_path(self, run_id: str) -> str:
        assert self.run_path_template is not None, f"{self.runs_path} has no get-by-id"
        return self.run_path_template.format(run_id=quote(run_id, safe=""))


@dataclass(frozen=True)
class Provider:
    """One API's run history on one screen. Its keys are configured as `<NAME>_API_KEY` (or
    `<name>_api_key` under [sources.agent_runs]) and its host as `<NAME>_BASE_URL`."""

    name: str  # the value of the `provider` column
    display_name: str
    default_base_url: str
    api_key_header: str
    lists: tuple[RunList, ...]
    # Where an error body says what went wrong: the first of these JSON paths that holds a string.
    error_paths: tuple[str, ...]
    key_rejected_statuses: tuple[int, ...] = (401, 403)  # what a wrong or missing key is answered with
    # Error messages of a 404 that is about the key's account, not the run asked for: never read
    # as "this run is gone".
    account_not_found_messages: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "lists", tuple(replace(run_list, provider=self) for run_list in self.lists))

    def error_message(self, body: Any) -> str | None:
        """The readable part of an error body (decoded JSON), at the first of `error_paths` that
        holds a string."""
        for path in self.error_paths:
            found = [match.value for match in compiled(path).find(body) if isinstance(match.value, str)]
            if found:
                return found[0]
        return None

    @property
    def api_key_variable(self) -> str:
        return f"{self.name.upper()}_API_KEY"

    @property
    def base_url_variable(self) -> str:
        return f"{self.name.upper()}_BASE_URL"


@cache
def compiled(path: str) -> JSONPath:
    """A JSON path of a body, parsed once a process (dlt's jsonpath: it parses a path given as text
    each time it meets it, and a parse costs more than reading a page)."""
    return compile_path(path)


def isoformat(moment: datetime) -> str:
    """RFC 3339 in UTC with a `Z`, the form time filters are sent in."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
