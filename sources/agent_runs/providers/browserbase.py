"""Browserbase `GET /v1/agents/runs` (API reference and the `browserbase` SDK's models): header
`X-BB-API-Key`; pages of up to 1000 in no promised order; cursor in `nextCursor` (null at the
end); created-at window `startAt` / `endAt`, both inclusive; one status a request
(`status=RUNNING`, `PAUSED` included); one run at `GET /v1/agents/runs/{runId}`; errors `{statusCode, error, message}`. A run's steps
are its messages, `GET /v1/agents/runs/{runId}/messages` (`all=true`: every one in one answer)."""

from __future__ import annotations

from agent_runs.providers.base import CreatedFilter, CursorPaging, FieldMap, Provider, RunList, StepsRead

FIELDS: FieldMap = {
    "run_id": ("runId",),
    "provider_status": ("status",),
    "task": ("task",),
    "created_at": ("createdAt",),
    "started_at": ("startedAt",),
    "finished_at": ("endedAt",),
    "updated_at": ("updatedAt",),
    "result": ("result",),
    "result_schema": ("resultSchema",),
    "error_code": ("cause", "code"),
    "error_message": ("cause", "message"),
    "agent_id": ("agentId",),  # absent for ad-hoc runs
    "session_id": ("sessionId",),
    "sandbox_id": ("sandboxId",),
}

STATUSES = {
    "PENDING": "pending",
    "RUNNING": "running",
    "PAUSED": "paused",  # waiting for input (in the SDK, not on the reference page)
    "COMPLETED": "completed",
    "FAILED": "failed",
    "STOPPED": "cancelled",
    "CANCELED": "cancelled",
    "TIMED_OUT": "timed_out",
}


BROWSERBASE = Provider(
    name="browserbase",
    display_name="Browserbase",
    default_base_url="https://api.browserbase.com",
    api_key_header="X-BB-API-Key",
    error_paths=("message",),
    lists=(
        RunList(
            name="agent_runs",
            runs_path="/v1/agents/runs",
            run_path_template="/v1/agents/runs/{run_id}",
            records_path="data",
            paging=CursorPaging(cursor_path="nextCursor", cursor_param="cursor"),
            page_size=1000,  # the API's maximum
            page_size_param="limit",
            row_order=None,  # no promised order: read every page of the window before moving the cursor
            created_filter=CreatedFilter("startAt", "endAt"),  # both inclusive
            # One status a request; PAUSED is a filter value too (the SDK's `status` literal).
            open_run_filters=({"status": "PENDING"}, {"status": "RUNNING"}, {"status": "PAUSED"}),
            fields=FIELDS,
            status_map=STATUSES,
            steps=StepsRead(  # AI SDK messages (assistant or tool), oldest first; `all`: every one at once
                path_template="/v1/agents/runs/{run_id}/messages",
                params={"all": "true"},
                records_path="data",
                kind="message",
                fields={
                    "step_id": (("id",),),
                    "started_at": (("createdAt",),),
                    # the tool the message calls or answers: a content part's `toolName`
                    "action": tuple(("message", "content", str(n), "toolName") for n in range(4)),
                    "text": (("message", "content"),),  # a string, or the text of its parts
                },
            ),
        ),
    ),
)
