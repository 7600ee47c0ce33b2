"""Skyvern (`skyvern` SDK's Fern models, OpenAPI, the OSS server): header `x-api-key`; a bad key
is 403 (not 401); errors `{"detail": ...}`; timestamps without an offset (UTC meant). Lists are
bare JSON arrays, newest first (`created_at DESC`, no tie-breaker), paged by `page` /
`page_size`, with no time filter: a walk stops at the first page past the cursor, and runs that
arrive during it push rows down a page (shown twice: passed on once). Two run families:

- workflow runs, `GET /v1/agents/runs`: any depth; `status` repeatable.
- the other run types (tasks, computer-use agents), `GET /v1/runs` with `run_type` repeated:
  it also lists workflow runs and each task-v2 run a second time (under a `tsk_v2_` id, while its
  workflow run is in the list above), so those two types are not asked for. Its reach is the
  newest 10,000 rows (pages and page sizes up to 100).

One run as the list shows it: the list searched for its id (`search_key`), page after page, since
the search also matches newer runs that name it; a run beyond the search's reach is read by
`GET /v1/runs/{run_id}` (`wr_`, `tsk_` or `tsk_v2_` ids; another shape: its status, times, error
and session are taken, `credits` stays as last listed), and only that read's 404 says the run is
gone. `/v1/runs`' status is a best-effort copy that can stay open after the run ended: its open
rows are confirmed by `GET /v1/runs/{run_id}` (status and times taken from it, the rest as
listed), one request per open task run per load.
Request headers, webhook and TOTP settings and the CDP address a run carries are never stored.
`credits` is both counters billed (`credits_used` + `cached_credits_used`)."""

from __future__ import annotations

from agent_runs.providers.base import FieldMap, PageNumberPaging, Params, Provider, RunList, StepsRead

TASK_MAX_PAGE = 100  # `/v1/runs`'s maximum: its reach is the newest 10,000 rows
TASK_RUN_TYPES = ["task_v1", "task_v3", "openai_cua", "anthropic_cua", "ui_tars", "yutori_navigator"]
OPEN_STATUSES = ["created", "queued", "running", "paused"]

STATUSES = {
    "created": "pending",
    "queued": "pending",
    "running": "running",
    "paused": "paused",  # waiting at a human-interaction block
    "completed": "completed",
    "failed": "failed",
    "terminated": "failed",  # stopped by the system (the docs disagree); provider_status keeps it
    "canceled": "cancelled",
    "timed_out": "timed_out",
}
SECRETS = (
    "extra_http_headers",
    "cdp_connect_headers",
    "webhook_callback_url",
    "totp_verification_url",
    "totp_identifier",
    "browser_address",  # a remote browser's CDP address, which can carry a token
)

WORKFLOW_FIELDS: FieldMap = {
    "run_id": ("workflow_run_id",),
    "provider_status": ("status",),
    "task": ("workflow_title",),
    "agent_id": ("workflow_permanent_id",),
    "created_at": ("created_at",),
    "started_at": ("started_at",),
    "finished_at": ("finished_at",),
    "updated_at": ("modified_at",),
    "error_message": ("failure_reason",),
    "session_id": ("browser_session_id",),
}
# Skyvern counts credits, not dollars, and bills two counters (the server's cost uses both).
CREDITS = {"credits": (("credits_used",), ("cached_credits_used",))}
TASK_FIELDS: FieldMap = {
    "run_id": ("run_id",),
    "provider_status": ("status",),
    "task": ("title",),
    "agent_id": ("workflow_permanent_id",),
    "created_at": ("created_at",),
    "started_at": ("started_at",),
    "finished_at": ("finished_at",),
}


CONFIRM_FIELDS: FieldMap = {  # `GET /v1/runs/{run_id}`: what a task run's list row has stale
    "run_id": ("run_id",),
    "provider_status": ("status",),
    "created_at": ("created_at",),
    "started_at": ("started_at",),
    "finished_at": ("finished_at",),
}


# A workflow run beyond its search's reach, read by id: what that read has of the list's columns.
WORKFLOW_READ_FIELDS: FieldMap = {
    **CONFIRM_FIELDS,
    "updated_at": ("modified_at",),
    "error_message": ("failure_reason",),
    "session_id": ("browser_session_id",),
}


def search(run_id: str) -> Params:
    return {"search_key": run_id}


# The search matches parameters, titles, headers and webhook URLs too, newest first: runs that
# name the run (retries, chains) come before it. `/v1/runs` refuses a search beyond row 1,000.
SEARCH_PAGES = 10

# A workflow run's timeline: a tree of blocks and the thoughts (LLM calls) inside them.
TIMELINE = StepsRead(
    path_template="/v1/runs/{run_id}/timeline",
    records_path="",
    children_path="children",
    kind="block",
    kind_path=("type",),
    fields={
        "step_id": (("block", "workflow_run_block_id"), ("thought", "thought_id")),
        "started_at": (("block", "created_at"), ("thought", "created_at"), ("created_at",)),
        "action": (("block", "label"), ("block", "block_type"), ("thought", "thought_type")),
        "url": (("block", "url"),),
        "status": (("block", "status"),),
        "error_message": (("block", "failure_reason"),),
        "duration_s": (("block", "duration"),),
        "input_tokens": (("thought", "input_token_count"),),
        "output_tokens": (("thought", "output_token_count"),),
        "cost_usd": (("thought", "thought_cost"),),
        "text": (("thought", "thought"), ("block", "navigation_goal"), ("block", "prompt")),
    },
)
# A task's steps (`Step`): the timeline answers 400 for task runs; the server's task route has them.
TASK_STEPS = StepsRead(
    path_template="/api/v1/tasks/{run_id}/steps",
    records_path="",
    kind="step",
    fields={
        "step_id": (("step_id",),),
        "started_at": (("created_at",),),
        "status": (("status",),),
        "action": (("output", "actions_and_results", "0", "0", "action_type"),),
        "input_tokens": (("input_token_count",),),
        "output_tokens": (("output_token_count",),),
        "cost_usd": (("step_cost",),),
    },
)


SKYVERN = Provider(
    name="skyvern",
    display_name="Skyvern",
    default_base_url="https://api.skyvern.com",
    api_key_header="x-api-key",
    error_paths=("detail", "detail[0].msg"),  # FastAPI: a message, or the first validation error
    key_rejected_statuses=(401, 403),
    lists=(
        RunList(
            name="workflows",
            runs_path="/v1/agents/runs",
            run_path_template="/v1/runs/{run_id}",
            lookup_params=search,
            lookup_max_pages=SEARCH_PAGES,
            confirm_fields=WORKFLOW_READ_FIELDS,  # no `confirm_path_template`: only for runs a search misses
            summed_fields=CREDITS,
            records_path="",
            paging=PageNumberPaging(page_param="page"),
            page_size=100,  # none stated
            page_size_param="page_size",
            row_order="desc",
            created_filter=None,  # newest first, the walk stops past its start
            open_run_filters=({"status": OPEN_STATUSES},),  # repeatable: one listing
            fields=WORKFLOW_FIELDS,
            status_map=STATUSES,
            secret_fields=SECRETS,
            steps=TIMELINE,
        ),
        RunList(
            name="tasks",
            runs_path="/v1/runs",
            run_path_template="/v1/runs/{run_id}",
            lookup_params=search,
            lookup_max_pages=SEARCH_PAGES,
            records_path="",
            paging=PageNumberPaging(page_param="page", max_page=TASK_MAX_PAGE),
            page_size=100,  # the maximum
            page_size_param="page_size",
            row_order="desc",
            created_filter=None,
            list_params={"run_type": TASK_RUN_TYPES},
            open_run_filters=({"status": OPEN_STATUSES},),
            fields=TASK_FIELDS,
            confirm_path_template="/v1/runs/{run_id}",
            confirm_fields=CONFIRM_FIELDS,
            status_map=STATUSES,
            secret_fields=SECRETS,
            steps=TASK_STEPS,
        ),
    ),
)
