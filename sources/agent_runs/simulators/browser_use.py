"""Browser Use Cloud, as its OpenAPI files (browser-use/sdk `docs/cloud/openapi/v2.json`, `v4.json`)
and `browser-use-sdk` 3.12.1 models describe it: v2
tasks (`GET /api/v2/tasks`, page numbers, `after`/`before` on creation time, one `filterBy`
status, `{items, totalItems, pageNumber, pageSize}`, in an order unrelated to time: by id here)
and v4 runs (`GET /api/v4/runs`, keyset cursor, newest first, no filters, `{runs, nextCursor,
hasMore}`); one task or run by id; FastAPI errors (`{"detail": ...}`, 422 for bad input); a
Zero Data Retention project (`zdr=True`) is refused v4 with 403; a key whose account is gone
(`account_gone`) is answered `AccountNotFoundError`, a 404. A judge rules on some tasks and runs
after they ended; a v4 run's judge is billed to it (its cost and tokens grow)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from agent_runs.simulators.core import (
    COST_COLUMNS,
    MICROS,
    ApiError,
    SimRun,
    SimulatorBase,
    decode_cursor,
    encode_cursor,
    moment,
    parse_time,
    seconds_between,
)

TASKS, RUNS = "v2_tasks", "v4_runs"
TASK_STATUSES = {"pending": "created", "running": "started", "paused": "started"}
TASK_ENDED = {"completed": "finished", "failed": "failed", "cancelled": "stopped"}
RUN_STATUSES = {"pending": "queued", "running": "running", "paused": "running"}
RUN_ENDED = {"completed": "completed", "failed": "failed", "cancelled": "cancelled"}
MAX_PAGE_SIZE = 100
JUDGED_EVERY = 4  # one task in this many (index 1 of each 4) is judged once it finished...
JUDGE_DELAY_S = 600  # ...this long after it ended (within the connector's LATE_FILL_FOR)
# A v4 run's judge is an LLM call billed to the run (`RunJudgeSettings`): its tokens and cost.
JUDGE_TOKENS = (2000, 150)
JUDGE_COST_USD = Decimal("0.0012")
# The models that run agents, and what each costs: v2 USD a step; v4 USD a step (1,000 input and
# 100 output tokens a step).
TASK_MODELS = (
    ("browser-use-llm", 0.002),
    ("gpt-4.1", 0.0105),
    ("claude-sonnet-4", 0.0123),
    ("gemini-2.5-flash", 0.0011),
)
RUN_MODELS = (("bu-2-0", 0.0019), ("bu-1-0", 0.0031), ("gpt-4.1", 0.0028), ("claude-sonnet-4", 0.0045))


def invalid(field: str, message: str) -> ApiError:
    return ApiError(422, {"detail": [{"loc": ["query", field], "msg": message, "type": "value_error"}]})


def session_of(run: SimRun) -> str:
    return str(uuid.UUID(int=int(run.run_id.replace("-", ""), 16) ^ 1))


@dataclass
class BrowserUseSimulator(SimulatorBase):
    zdr: bool = False  # a Zero Data Retention project: v4 refused (403)
    account_gone: bool = False  # the key's account no longer exists: 404 `Account not found` to everything

    auth_header = "X-Browser-Use-API-Key"
    outcomes = ("completed", "failed", "cancelled")

    def adopt(self, run: SimRun) -> None:
        run.family = RUNS if run.index % 3 == 0 else TASKS

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return {"detail": message}

    def unauthorized(self) -> dict[str, Any]:
        return {"detail": "X-Browser-Use-API-Key header is required"}

    # --- v2 tasks -----------------------------------------------------------------------------
    def task_status(self, run: SimRun, now_us: int) -> str:
        phase = run.phase(now_us)
        return TASK_STATUSES.get(phase) or TASK_ENDED[phase]

    @staticmethod
    def output_of(run: SimRun) -> str:
        return f'{{"answer": "result of {run.run_id[:8]}"}}' if run.index % 2 else f"Done: {run.task[:30]}"

    def render_task(self, run: SimRun, now_us: int) -> dict[str, Any]:
        status = self.task_status(run, now_us)
        ended = status in TASK_ENDED.values()
        record: dict[str, Any] = {
            "id": run.run_id,
            "sessionId": session_of(run),
            "llm": TASK_MODELS[run.index % len(TASK_MODELS)][0],
            "task": run.task,
            "status": status,
            "createdAt": run.time(run.created_us),
            "startedAt": run.time(run.started_by(now_us)),
            "finishedAt": run.time(run.finished_us) if ended else None,
            "metadata": {"team": f"team_{run.index % 3}"} if run.index % 4 == 0 else {},
            "output": self.output_of(run) if status == "finished" else None,
            "browserUseVersion": "0.9.1",
            "isSuccess": self.verdict(run, status),
            **self.judge(run, status, now_us),
            "cost": f"{TASK_MODELS[run.index % len(TASK_MODELS)][1] * run.steps_at(now_us):.4f}",
            "suggestions": None,
        }
        if run.extra_fields:
            record.update(run.extra_fields)
        return record

    @staticmethod
    def judge(run: SimRun, status: str, now_us: int) -> dict[str, Any]:
        """A judge rules on some finished tasks, JUDGE_DELAY_S after they ended (null until then,
        and for tasks it does not judge): a task can change after it ended."""
        if status != "finished" or run.index % JUDGED_EVERY != 1 or now_us < run.finished_us + JUDGE_DELAY_S * MICROS:  # type: ignore[operator]
            return {"judgement": None, "judgeVerdict": None}
        verdict = run.index % 5 != 1
        return {
            "judgement": f'{{"verdict": {str(verdict).lower()}, "reasoning": "checked the page"}}',
            "judgeVerdict": verdict,
        }

    @staticmethod
    def verdict(run: SimRun, status: str) -> bool | None:
        """The agent's own verdict: given once it ended, and now and then not what its status suggests."""
        if status == "finished":
            return run.index % 7 != 3
        if status in ("failed", "stopped"):
            return False if run.index % 2 else None
        return None

    def task_truth(self, run: SimRun, now_us: int) -> dict[str, Any]:
        record = self.render_task(run, now_us)
        phase = run.phase(now_us)
        started = run.started_by(now_us)
        finished = run.finished_us if phase in RUN_ENDED else None
        mapped = ("id", "sessionId", "task", "status", "createdAt", "startedAt", "finishedAt", "output")
        mapped += ("llm", "cost", "isSuccess", "judgeVerdict")
        judged = record["judgeVerdict"] is not None
        agent_said = record["isSuccess"] is not None
        output = record["output"]
        return {
            **self.empty_row(run),
            "status": "running" if phase == "paused" else phase,
            "provider_status": record["status"],
            "started_at": moment(started),
            "finished_at": moment(finished),
            "result": json.loads(output) if output is not None and output.startswith("{") else output,
            "session_id": record["sessionId"],
            "model": record["llm"],
            "cost_usd": Decimal(record["cost"]),
            "goal_achieved": record["judgeVerdict"] if judged else record["isSuccess"],
            "goal_verdict_by": "judge" if judged else "agent" if agent_said else None,
            "duration_s": seconds_between(started, finished),
            "extra": {key: value for key, value in record.items() if key not in mapped},
        }

    def list_tasks(self, params: dict[str, str]) -> tuple[dict[str, Any], int]:
        try:
            size, number = int(params.get("pageSize", 10)), int(params.get("pageNumber", 1))
        except ValueError:
            raise invalid("pageSize", "Input should be a valid integer") from None
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise invalid("pageSize", f"Input should be between 1 and {MAX_PAGE_SIZE}")
        if number < 1:
            raise invalid("pageNumber", "Input should be greater than or equal to 1")
        status = params.get("filterBy")
        if status is not None and status not in (*TASK_STATUSES.values(), *TASK_ENDED.values()):
            raise invalid("filterBy", f"Input should be a TaskStatus, not {status!r}")
        try:
            after = parse_time(params["after"]) if "after" in params else None
            before = parse_time(params["before"]) if "before" in params else None
        except ValueError:
            raise invalid("after", "Input should be a valid datetime") from None
        now_us = self.clock.now_us

        def build() -> list[SimRun]:
            runs = [
                self.history[index]
                for index in self.created_range(after, before, inclusive=False)
                if self.history[index].family == TASKS and self.exists(self.history[index])
            ]
            if status is not None:
                runs = [run for run in runs if self.task_status(run, now_us) == status]
            return sorted(runs, key=lambda run: run.run_id)  # an order unrelated to creation time

        runs = self.listed(("tasks", after, before, status), build)
        page = runs[(number - 1) * size : number * size]
        body = {
            "items": [self.render_task(run, now_us) for run in page],
            "totalItems": len(runs),
            "pageNumber": number,
            "pageSize": size,
        }
        return body, len(page)

    # --- v4 runs ------------------------------------------------------------------------------
    def run_status(self, run: SimRun, now_us: int) -> str:
        phase = run.phase(now_us)
        if phase == "pending" and run.index % 2:
            return "dispatching"
        return RUN_STATUSES.get(phase) or RUN_ENDED[phase]

    @staticmethod
    def ruled_at(run: SimRun, status: str, now_us: int) -> int | None:
        """When the judge of a v4 run ruled (one terminal run in JUDGED_EVERY), if it has by now."""
        if status not in ("completed", "failed") or run.index % JUDGED_EVERY != 1 or run.finished_us is None:
            return None
        ruled = run.finished_us + JUDGE_DELAY_S * MICROS
        return ruled if ruled <= now_us else None

    def run_updated_us(self, run: SimRun, status: str, now_us: int) -> int:
        """`updatedAt`: the last change, the judge's ruling included."""
        ruled = self.ruled_at(run, status, now_us)
        return run.updated_us(now_us) if ruled is None else ruled

    def render_run(self, run: SimRun, now_us: int) -> dict[str, Any]:
        status = self.run_status(run, now_us)
        judged = self.ruled_at(run, status, now_us) is not None
        steps = run.steps_at(now_us)
        cost = Decimal(str(RUN_MODELS[run.index % len(RUN_MODELS)][1])) * steps + (JUDGE_COST_USD if judged else 0)
        record: dict[str, Any] = {
            "id": run.run_id,
            "task": run.task,
            "title": run.task[:24],
            "model": RUN_MODELS[run.index % len(RUN_MODELS)][0],
            "modelParams": None,
            "contextLimit": 128_000,
            "status": status,
            "result": f"result of {run.run_id[:8]}" if status == "completed" else None,
            "output": None,
            "outputSchema": {"type": "object"} if run.index % 3 == 0 and run.index % 2 else None,
            "error": "The browser crashed" if status == "failed" else None,
            "sessionId": session_of(run),
            "workspaceId": None,
            "attachedFileIds": None,
            "judgement": {"verdict": run.index % 5 != 1, "reasoning": "checked the page"} if judged else None,
            "totalInputTokens": 1000 * steps + (JUDGE_TOKENS[0] if judged else 0),
            "totalOutputTokens": 100 * steps + (JUDGE_TOKENS[1] if judged else 0),
            "totalCostUsd": f"{cost:.6f}",
            "createdAt": run.time(run.created_us),
            "updatedAt": run.time(self.run_updated_us(run, status, now_us)),
        }
        if run.extra_fields:
            record.update(run.extra_fields)
        return record

    def run_truth(self, run: SimRun, now_us: int) -> dict[str, Any]:
        record = self.render_run(run, now_us)
        phase = run.phase(now_us)
        mapped = ("id", "task", "status", "createdAt", "updatedAt", "result", "outputSchema", "error", "sessionId")
        mapped += ("model", "totalCostUsd", "totalInputTokens", "totalOutputTokens")
        return {
            **self.empty_row(run),
            "status": "running" if phase == "paused" else phase,
            "provider_status": record["status"],
            "updated_at": moment(self.run_updated_us(run, record["status"], now_us)),
            "result": record["result"],
            "result_schema": record["outputSchema"],
            "error_message": record["error"],
            "session_id": record["sessionId"],
            "model": record["model"],
            "cost_usd": Decimal(record["totalCostUsd"]),
            "input_tokens": record["totalInputTokens"],
            "output_tokens": record["totalOutputTokens"],
            "extra": {key: value for key, value in record.items() if key not in mapped},
        }

    def list_v4_runs(self, params: dict[str, str]) -> tuple[dict[str, Any], int]:
        try:
            limit = int(params.get("limit", 50))
        except ValueError:
            raise invalid("limit", "Input should be a valid integer") from None
        try:
            cursor_index = decode_cursor(params["cursor"], self.keys) if "cursor" in params else None
        except ValueError:
            raise ApiError(400, {"detail": "Malformed cursor"}) from None
        now_us = self.clock.now_us
        session = params.get("sessionId")

        def keep(run: SimRun) -> bool:
            return run.family == RUNS and self.exists(run) and (session is None or session_of(run) == session)

        candidates = self.created_range(None, None, inclusive=True)
        page, has_more = self.page_after(candidates, cursor_index, True, keep, self.history, max(1, limit))
        body = {
            "runs": [self.render_run(run, now_us) for run in page],
            "nextCursor": encode_cursor(page[-1]) if has_more else None,
            "hasMore": has_more,
        }
        return body, len(page)

    # --- both ---------------------------------------------------------------------------------
    def empty_row(self, run: SimRun) -> dict[str, Any]:
        return {
            **dict.fromkeys(
                (
                    "started_at", "finished_at", "updated_at", "num_steps", "result", "result_schema",
                    "error_code", "error_message", "error_category", "agent_id", "session_id", "sandbox_id",
                    "streaming_url", "proxy_enabled", "proxy_country_code", "duration_s", "extra",
                    "missing_from_api_at", *COST_COLUMNS,
                )
            ),
            "provider": "browser_use",
            "run_id": run.run_id,
            "run_family": run.family,
            "task": run.task,
            "created_at": moment(run.created_us),
        }  # fmt: skip

    def render(self, run: SimRun, now_us: int) -> dict[str, Any]:
        return self.render_run(run, now_us) if run.family == RUNS else self.render_task(run, now_us)

    def truth(self, run: SimRun, now_us: int) -> dict[str, Any]:
        row = self.run_truth(run, now_us) if run.family == RUNS else self.task_truth(run, now_us)
        if not row["extra"]:
            row["extra"] = None
        return row

    def route(self, path: str, params: dict[str, str], query: dict[str, list[str]]) -> tuple[Any, int]:
        now_us = self.clock.now_us
        if self.account_gone:
            raise ApiError(404, {"detail": "Account not found"})
        if path == "/api/v2/tasks":
            return self.list_tasks(params)
        if path.startswith("/api/v2/tasks/"):
            run = self.get_run(path.removeprefix("/api/v2/tasks/"))
            if run is None or run.family != TASKS:
                raise ApiError(404, {"detail": "Task not found"})
            detail = self.render_task(run, now_us)
            detail["steps"] = self.task_steps(run, now_us)
            detail["outputFiles"] = []
            return detail, 1
        if path.startswith("/api/v4/runs") and self.zdr:
            raise ApiError(403, {"detail": "Runs are not available for Zero Data Retention projects"})
        if path == "/api/v4/runs":
            return self.list_v4_runs(params)
        if path.startswith("/api/v4/runs/") and path.endswith("/events"):
            run = self.get_run(path.removeprefix("/api/v4/runs/").removesuffix("/events"))
            if run is None or run.family != RUNS:
                raise ApiError(404, {"detail": "Run not found"})
            return self.events_page(run, now_us, params)
        if path.startswith("/api/v4/runs/"):
            run = self.get_run(path.removeprefix("/api/v4/runs/"))
            if run is None or run.family != RUNS:
                raise ApiError(404, {"detail": "Run not found"})
            return self.render_run(run, now_us), 1
        raise ApiError(404, {"detail": "Not Found"})

    def step_ids(self, run: SimRun, now_us: int) -> list[str]:
        if run.family == TASKS:
            return [str(step["number"]) for step in self.task_steps(run, now_us)]
        return [str(event["id"]) for event in self.events_page(run, now_us, {"limit": "100000"})[0]["events"]]

    @staticmethod
    def task_steps(run: SimRun, now_us: int) -> list[dict[str, Any]]:
        """A v2 task's `steps` (`TaskStepView`): one a step taken so far, numbered from 1."""
        moments = run.step_moments(now_us)
        previous = [run.started_us or 0, *moments]
        return [
            {
                "number": number,
                "memory": f"Visited {number} page(s) for: {run.task[:40]}",
                "evaluationPreviousGoal": "Success" if number > 1 else "Unknown",
                "nextGoal": STEP_GOALS[(run.index + number) % len(STEP_GOALS)],
                "url": step_url(run, number),
                "screenshotUrl": f"https://cdn.browser-use.com/screenshots/{run.run_id}/{number}.png"
                f"?X-Amz-Signature={run.index:x}{number:x}&X-Amz-Expires=900",
                "actions": [f'{{"{STEP_ACTIONS[(run.index + number) % len(STEP_ACTIONS)]}": {{"index": {number}}}}}'],
                "duration": round((moments[number - 1] - previous[number - 1]) / MICROS, 3),
            }
            for number in range(1, len(moments) + 1)
        ]

    @staticmethod
    def events_page(run: SimRun, now_us: int, params: dict[str, str]) -> tuple[dict[str, Any], int]:
        """`GET /api/v4/runs/{id}/events` (`RunEventsResponse`): the run's events after the
        event id `after`, `limit` at most (100 by default)."""
        events = [("run.started", run.started_by(now_us), {})]
        for number, at in enumerate(run.step_moments(now_us), start=1):
            action = STEP_ACTIONS[(run.index + number) % len(STEP_ACTIONS)]
            events.append(("step", at, {"number": number, "url": step_url(run, number), "action": action}))
        if run.finished_us is not None and run.finished_us <= now_us:
            events.append((f"run.{run.outcome.replace('timed_out', 'failed')}", run.finished_us, {}))
        numbered = [
            {"runId": run.run_id, "id": number, "ts": run.time(at), "type": kind, "data": data}
            for number, (kind, at, data) in enumerate(events, start=1)
            if at is not None
        ]
        try:
            after, limit = int(params.get("after", 0)), int(params.get("limit", 100))
        except ValueError:
            raise ApiError(422, {"detail": [{"msg": "after and limit must be integers"}]}) from None
        rest = [event for event in numbered if event["id"] > after]
        page = rest[:limit]
        return {"events": page, "nextAfter": page[-1]["id"] if page else None, "hasMore": len(rest) > limit}, 1


STEP_GOALS = ("Open the search page", "Type the query", "Read the results", "Extract the answer")
STEP_ACTIONS = ("go_to_url", "click_element_by_index", "input_text", "scroll_down", "extract_content")


def step_url(run: SimRun, number: int) -> str:
    """The page a step was on: runs that loop come back to the same page."""
    return f"https://shop.example.com/page/{number % 3 if run.index % 7 == 0 else number}"


SIMULATOR = BrowserUseSimulator
