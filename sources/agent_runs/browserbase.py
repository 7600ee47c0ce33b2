"""Browserbase `GET /v1/agents/runs`: header `X-BB-API-Key`; pages of up to 1000 in no promised
order; cursor in `nextCursor` (null at the end); the incremental created-at cursor maps to
`startAt` / `endAt`, both inclusive; records map to the unified row through
`schema.BROWSERBASE_FIELDS`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .helpers import Provider, isoformat
from .schema import BROWSERBASE_FIELDS
from .settings import BROWSERBASE_BASE_URL, BROWSERBASE_PAGE_SIZE


def window_params(start: datetime | None, end: datetime | None) -> dict[str, Any]:
    """Runs created in [start, end]: `startAt` and `endAt` are both inclusive."""
    params: dict[str, Any] = {"limit": BROWSERBASE_PAGE_SIZE}
    if start is not None:
        params["startAt"] = isoformat(start)
    if end is not None:
        params["endAt"] = isoformat(end)
    return params


BROWSERBASE = Provider(
    name="browserbase",
    display_name="Browserbase",
    default_base_url=BROWSERBASE_BASE_URL,
    runs_path="/v1/agents/runs",
    api_key_header="X-BB-API-Key",
    cursor_path="nextCursor",
    has_more_path=None,
    row_order=None,  # no promised order: read every page of the window before moving the cursor
    window_params=window_params,
    page_size=BROWSERBASE_PAGE_SIZE,
    fields=BROWSERBASE_FIELDS,
    # PAUSED is a status in the SDK but not a documented filter value: paused runs are fetched by id.
    open_statuses=("PENDING", "RUNNING"),
)
