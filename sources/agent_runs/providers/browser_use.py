"""Browser Use Cloud (`browser-use-sdk` models, OpenAPI v2/v4): header `X-Browser-Use-API-Key`;
errors `{"detail": ...}`; a bad key is 401 or 403 (404 on a list). Two run families:

- v2 tasks, `GET /api/v2/tasks`: page numbers (`pageNumber`, `pageSize` up to 100), body
  `{items, totalItems}`, order undocumented, `after` / `before` on the creation time (bounds
  unstated: widened by a millisecond and trimmed), one `filterBy` status a request. A walk's end is
  fixed at the server's now so that no run joins the window while its pages are read. One task:
  `GET /api/v2/tasks/{task_id}` (the list's fields plus `steps` and `outputFiles`): its steps.
- v4 runs, `GET /api/v4/runs`: keyset cursor (`nextCursor`, `hasMore`), newest first, no time or
  status filter: a walk stops at the first page past the cursor, and open runs are fetched by id
  (`GET /api/v4/runs/{run_id}`). A Zero Data Retention project is refused v4 (403): skipped.
  A run's steps are its events, `GET /api/v4/runs/{run_id}/events` (`after`, `nextAfter`, `hasMore`).

Timestamps may come without an offset ("naive UTC" in the spec): read as UTC."""

from __future__ import annotations

from datetime import timedelta

from agent_runs.providers.base import (
    CreatedFilter,
    CursorPaging,
    FieldMap,
    PageNumberPaging,
    Provider,
    RunList,
    StepsRead,
)

BOUND_OVERLAP = timedelta(milliseconds=1)  # `after` / `before` may be exclusive: ask a little wider

TASK_FIELDS: FieldMap = {
    "run_id": ("id",),
    "provider_status": ("status",),
    "task": ("task",),
    "created_at": ("createdAt",),
    "started_at": ("startedAt",),
    "finished_at": ("finishedAt",),
    "result": ("output",),  # the final output, a string even for structured output
    "session_id": ("sessionId",),
    "model": ("llm",),
    "cost_usd": ("cost",),  # USD, a decimal string
}
# goal_achieved: the judge's verdict where it ruled ("less reliable" is how the spec describes the
# agent's own), else the agent's.
TASK_VERDICTS = (("judge", ("judgeVerdict",)), ("agent", ("isSuccess",)))
TASK_STATUSES = {
    "created": "pending",
    "started": "running",
    "paused": "paused",  # older v2 APIs
    "finished": "completed",  # the agent finished; `isSuccess` says whether it succeeded
    "failed": "failed",
    "stopped": "cancelled",
}

RUN_FIELDS: FieldMap = {
    "run_id": ("id",),
    "provider_status": ("status",),
    "task": ("task",),
    "created_at": ("createdAt",),
    "updated_at": ("updatedAt",),
    "result": ("result",),
    "result_schema": ("outputSchema",),
    "error_message": ("error",),
    "session_id": ("sessionId",),
    "model": ("model",),
    "cost_usd": ("totalCostUsd",),  # USD, a decimal string
    "input_tokens": ("totalInputTokens",),
    "output_tokens": ("totalOutputTokens",),
}  # `judgement` (an object whose shape no source documents) stays in extra: goal_achieved is not guessed
# The judge rules after a run is terminal and its LLM call is billed to the run (`RunJudgeSettings`):
# the verdict, the cost and the tokens change after the run ended.
RUN_LATE_FIELDS = ("judgement", "totalCostUsd", "totalInputTokens", "totalOutputTokens")
RUN_STATUSES = {
    "queued": "pending",
    "dispatching": "pending",
    "running": "running",
    "completed": "completed",
    "failed": "failed",
    "cancelled": "cancelled",
}


BROWSER_USE = Provider(
    name="browser_use",
    display_name="Browser Use",
    default_base_url="https://api.browser-use.com",
    api_key_header="X-Browser-Use-API-Key",
    error_paths=("detail", "detail.message", "detail[0].msg"),  # FastAPI, and its typed errors
    key_rejected_statuses=(401, 403),
    account_not_found_messages=("Account not found",),  # `AccountNotFoundError`, a 404
    lists=(
        RunList(
            name="v2_tasks",
            runs_path="/api/v2/tasks",
            run_path_template="/api/v2/tasks/{run_id}",
            detail_only_fields=("steps", "outputFiles"),
            late_fields=("judgeVerdict", "judgement"),  # a judge may rule after the task ended
            verdicts=TASK_VERDICTS,
            json_text_fields=("result",),  # `output` is a string even for structured output
            records_path="items",
            paging=PageNumberPaging(page_param="pageNumber", total_path="totalItems"),
            page_size=100,  # the maximum
            page_size_param="pageSize",
            row_order=None,  # undocumented
            created_filter=CreatedFilter("after", "before", widen_by=BOUND_OVERLAP),
            frozen_walk=True,
            open_run_filters=({"filterBy": "created"}, {"filterBy": "started"}),  # one status a request
            fields=TASK_FIELDS,
            status_map=TASK_STATUSES,
            steps=StepsRead(  # `TaskStepView`s, in the task's own read
                path_template="/api/v2/tasks/{run_id}",
                records_path="steps",
                kind="step",
                fields={
                    "step_id": (("number",),),
                    "url": (("url",),),
                    "action": (("actions", "0"),),  # stringified JSON: `{"click_element": {...}}`
                    "text": (("nextGoal",),),
                    "duration_s": (("duration",),),
                },
                action_in_json_key=True,
                secret_fields=("screenshotUrl",),  # a presigned link
            ),
        ),
        RunList(
            name="v4_runs",
            runs_path="/api/v4/runs",
            run_path_template="/api/v4/runs/{run_id}",
            records_path="runs",
            paging=CursorPaging(cursor_path="nextCursor", cursor_param="cursor", has_more_path="hasMore"),
            page_size=50,  # the spec's default; it states no maximum
            late_fields=RUN_LATE_FIELDS,
            page_size_param="limit",
            row_order="desc",
            created_filter=None,  # newest first, the walk stops past its start
            open_run_filters=(),  # no status filter: open runs are fetched by id
            fields=RUN_FIELDS,
            status_map=RUN_STATUSES,
            optional=True,  # 403 for Zero Data Retention projects
            steps=StepsRead(  # `RunEvent`s, paged with `after` (an event id)
                path_template="/api/v4/runs/{run_id}/events",
                records_path="events",
                cursor=CursorPaging(cursor_path="nextAfter", cursor_param="after", has_more_path="hasMore"),
                params={"limit": 100},
                kind="event",
                fields={
                    "step_id": (("id",),),
                    "started_at": (("ts",),),
                    "action": (("type",),),  # run.started, step, run.completed, ...
                    "url": (("data", "url"),),
                    "text": (("data", "message"), ("data", "text"), ("data", "nextGoal")),
                },
            ),
        ),
    ),
)
