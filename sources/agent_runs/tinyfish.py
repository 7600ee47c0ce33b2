"""TinyFish `GET /v1/runs`: header `X-API-Key`; pages of up to 100, oldest first
(`sort_direction=asc`); cursor in `pagination.next_cursor`, with `pagination.has_more`; the
incremental created-at cursor maps to `created_after` / `created_before`; records map to the
unified row through `schema.TINYFISH_FIELDS`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import dlt

from .helpers import Provider, isoformat
from .schema import TINYFISH_FIELDS
from .settings import CREATED_AFTER_OVERLAP, TINYFISH_BASE_URL, TINYFISH_PAGE_SIZE


def list_params(created_at: dlt.sources.incremental[datetime]) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": TINYFISH_PAGE_SIZE, "sort_direction": "asc"}
    if created_at.start_value is not None:
        params["created_after"] = isoformat(created_at.start_value - CREATED_AFTER_OVERLAP)
    if created_at.end_value is not None:
        params["created_before"] = isoformat(created_at.end_value)
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
    list_params=list_params,
    fields=TINYFISH_FIELDS,
)
