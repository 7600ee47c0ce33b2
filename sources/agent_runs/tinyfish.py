"""TinyFish `GET /v1/runs`: header `X-API-Key`; pages of up to 100, oldest first
(`sort_direction=asc`); cursor in `pagination.next_cursor`, with `pagination.has_more`; the
incremental created-at cursor maps to `created_after` / `created_before`; records map to the
unified row through `schema.TINYFISH_FIELDS`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .helpers import Provider, isoformat
from .schema import TINYFISH_FIELDS
from .settings import CREATED_AFTER_OVERLAP, TINYFISH_BASE_URL, TINYFISH_PAGE_SIZE


def window_params(start: datetime | None, end: datetime | None) -> dict[str, Any]:
    """Runs created in [start, end], oldest first. The bounds are widened by the overlap because the
    API's `created_after` / `created_before` are exclusive (or compare coarser); extra runs at the
    edges are dropped by the incremental filter or by id."""
    params: dict[str, Any] = {"limit": TINYFISH_PAGE_SIZE, "sort_direction": "asc"}
    if start is not None:
        params["created_after"] = isoformat(start - CREATED_AFTER_OVERLAP)
    if end is not None:
        params["created_before"] = isoformat(end + CREATED_AFTER_OVERLAP)
    return params


TINYFISH = Provider(
    name="tinyfish",
    display_name="TinyFish",
    default_base_url=TINYFISH_BASE_URL,
    runs_path="/v1/runs",
    api_key_header="X-API-Key",
    cursor_path="pagination.next_cursor",
    has_more_path="pagination.has_more",
    row_order="asc",  # the cursor only moves forward, and --until can stop early
    window_params=window_params,
    page_size=TINYFISH_PAGE_SIZE,
    fields=TINYFISH_FIELDS,
    open_statuses=("PENDING", "RUNNING"),
)
