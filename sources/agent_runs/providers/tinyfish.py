"""TinyFish `GET /v1/runs` (API reference and the `tinyfish` SDK's models): header `X-API-Key`;
pages of up to 100, oldest first with `sort_direction=asc`; cursor in `pagination.next_cursor`,
with `pagination.has_more`; created-at window `created_after` / `created_before`; one status a
request (`status=RUNNING`); errors `{"error": {code, message}}`. Runs by id: `POST /v1/runs/batch`
with up to 100 `run_ids` (`{data, not_found}`), or one at `GET /v1/runs/{run_id}`; either adds the
run's `steps` and `video_url` (a recording URL presigned for 15 minutes) to the list's summary:
neither is kept. `schema_validation` (whether the result matched the schema asked for) is in
`extra`."""

from __future__ import annotations

from datetime import timedelta

from agent_runs.providers.base import BatchRead, CreatedFilter, CursorPaging, FieldMap, Provider, RunList, StepsRead

# TinyFish documents `created_after` without saying whether it is inclusive, nor at what
# precision it compares; asking from a millisecond earlier makes either reading return the runs
# that share the last loaded timestamp, which dlt's incremental then de-duplicates.
CREATED_AFTER_OVERLAP = timedelta(milliseconds=1)

FIELDS: FieldMap = {
    "run_id": ("run_id",),
    "provider_status": ("status",),
    "task": ("goal",),
    "created_at": ("created_at",),
    "started_at": ("started_at",),
    "finished_at": ("finished_at",),
    "num_steps": ("num_of_steps",),
    "result": ("result",),
    "result_schema": ("output_schema",),
    "error_code": ("error", "code"),
    "error_message": ("error", "message"),
    "error_category": ("error", "category"),
    "streaming_url": ("streaming_url",),
    "proxy_enabled": ("browser_config", "proxy_enabled"),
    "proxy_country_code": ("browser_config", "proxy_country_code"),
}

STATUSES = {
    "PENDING": "pending",
    "RUNNING": "running",
    "COMPLETED": "completed",  # the browser work finished; `result` says whether the goal was met
    "FAILED": "failed",
    "CANCELLED": "cancelled",
    "CANCELED": "cancelled",
}


TINYFISH = Provider(
    name="tinyfish",
    display_name="TinyFish",
    default_base_url="https://agent.tinyfish.ai",
    api_key_header="X-API-Key",
    error_paths=("error.message",),
    lists=(
        RunList(
            name="runs",
            runs_path="/v1/runs",
            run_path_template="/v1/runs/{run_id}",
            batch_read=BatchRead(
                path="/v1/runs/batch", ids_field="run_ids", max_ids=100, records_path="data", not_found_path="not_found"
            ),
            detail_only_fields=("steps", "video_url"),
            records_path="data",
            paging=CursorPaging(
                cursor_path="pagination.next_cursor", cursor_param="cursor", has_more_path="pagination.has_more"
            ),
            page_size=100,  # the API's maximum
            page_size_param="limit",
            row_order="asc",  # the cursor only moves forward, and --until can stop early
            # `created_after` / `created_before` are exclusive (or compare coarser): asked a little wider.
            created_filter=CreatedFilter("created_after", "created_before", widen_by=CREATED_AFTER_OVERLAP),
            list_params={"sort_direction": "asc"},
            open_run_filters=({"status": "PENDING"}, {"status": "RUNNING"}),  # one status a request
            fields=FIELDS,
            status_map=STATUSES,
            steps=StepsRead(  # in the batch read's runs; base64 screenshots only when asked for
                batch=True,
                params={"screenshots": "none"},
                records_path="steps",
                kind="step",
                fields={
                    "step_id": (("id",),),
                    "started_at": (("timestamp",),),
                    "status": (("status",),),
                    "action": (("action",),),
                    "duration_s": (("duration",),),  # text: "1.2s"
                },
                duration_unit="text",
                secret_fields=("screenshot",),
            ),
        ),
    ),
)
