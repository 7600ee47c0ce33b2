"""Browserbase `GET /v1/agents/runs` and `GET /v1/agents/runs/{runId}`, as documented in the API
reference and the official SDK's models: camelCase runs whose optional keys are absent rather
than null, `startAt`/`endAt` inclusive on creation time, `limit` 1-1000, `nextCursor` null at the
end, and no promised order (newest first here, or by run id with `order="run_id"`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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

STATUSES = {
    "pending": "PENDING",
    "running": "RUNNING",
    "paused": "PAUSED",
    "completed": "COMPLETED",
    "failed": "FAILED",
    "cancelled": "STOPPED",
    "timed_out": "TIMED_OUT",
}
CAUSES = (("RUNNER_HEARTBEAT_LOST", "The runner stopped responding"), ("AGENT_ERROR", None))
MAX_LIMIT = 1000
ENDED = ("completed", "failed", "cancelled", "timed_out")
RESULT_SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}}
DEFAULT_LIMIT = 20


def bad_request(message: str) -> ApiError:
    return ApiError(400, {"statusCode": 400, "error": "Bad Request", "message": message})


@dataclass
class BrowserbaseSimulator(SimulatorBase):
    order: str = "newest_first"  # or "run_id": an order unrelated to creation time

    auth_header = "X-BB-API-Key"
    outcomes = ("completed", "failed", "cancelled", "timed_out")
    with_pauses = True

    def reindex(self) -> None:
        super().reindex()
        self.by_run_id_order = sorted(self.history, key=lambda run: run.run_id)

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return {"statusCode": status, "error": "Error", "message": message}

    def unauthorized(self) -> dict[str, Any]:
        return {"statusCode": 401, "error": "Unauthorized", "message": "Invalid API key"}

    def render(self, run: SimRun, now_us: int) -> dict[str, Any]:
        phase = run.phase(now_us)
        record: dict[str, Any] = {
            "runId": run.run_id,
            "task": run.task,
            "status": STATUSES[phase],
            "createdAt": run.time(run.created_us),
            "updatedAt": run.time(run.updated_us(now_us)),
            "sessionId": f"sess_{run.run_id[:12]}",
        }
        if run.agent_id is not None:
            record["agentId"] = run.agent_id
        if run.index % 4 == 0:
            record["resultSchema"] = RESULT_SCHEMA
        if run.started_by(now_us) is not None:
            record["startedAt"] = run.time(run.started_us)
            record["sandboxId"] = f"sbx_{run.run_id[-8:]}"
        if phase in ENDED:
            record["endedAt"] = run.time(run.finished_us)
        if phase == "completed":
            record["result"] = self.result_of(run)
        if phase == "failed":
            code, message = CAUSES[run.index % len(CAUSES)]
            record["cause"] = {"code": code} if message is None else {"code": code, "message": message}
        if run.extra_fields:
            record.update(run.extra_fields)
        return record

    @staticmethod
    def result_of(run: SimRun) -> dict[str, Any]:
        return {"answer": f"done {run.run_id[:8]}", "nested": {"depth": [1, {"two": None}]}}

    def truth(self, run: SimRun, now_us: int) -> dict[str, Any]:
        phase = run.phase(now_us)
        started = run.started_by(now_us)
        finished = run.finished_us if phase in ENDED else None
        code, message = CAUSES[run.index % len(CAUSES)] if phase == "failed" else (None, None)
        return {
            "provider": "browserbase",
            "run_family": "agent_runs",
            "run_id": run.run_id,
            "status": phase,  # STOPPED is cancelled
            "provider_status": STATUSES[phase],
            "task": run.task,
            "created_at": moment(run.created_us),
            "started_at": moment(started),
            "finished_at": moment(finished),
            "updated_at": moment(run.updated_us(now_us)),
            "num_steps": None,
            "result": self.result_of(run) if phase == "completed" else None,
            "result_schema": RESULT_SCHEMA if run.index % 4 == 0 else None,
            "error_code": code,
            "error_message": message,
            "error_category": None,
            "agent_id": run.agent_id,
            "session_id": f"sess_{run.run_id[:12]}",
            "sandbox_id": f"sbx_{run.run_id[-8:]}" if started is not None else None,
            "streaming_url": None,
            "proxy_enabled": None,
            "proxy_country_code": None,
            "duration_s": seconds_between(started, finished),
            "extra": dict(run.extra_fields) if run.extra_fields else None,
            "missing_from_api_at": None,
            **dict.fromkeys(COST_COLUMNS),  # the API reports none of them
        }

    def route(self, path: str, params: dict[str, str], query: dict[str, list[str]]) -> tuple[Any, int]:
        if path == "/v1/agents/runs":
            return self.list_runs(params)
        if path.startswith("/v1/agents/runs/") and path.endswith("/messages"):
            run = self.get_run(path.removeprefix("/v1/agents/runs/").removesuffix("/messages"))
            if run is None:
                raise ApiError(404, {"statusCode": 404, "error": "Not Found", "message": "Run not found"})
            return self.messages_page(run, self.clock.now_us, params)
        if path.startswith("/v1/agents/runs/"):
            run = self.get_run(path.removeprefix("/v1/agents/runs/"))
            if run is None:
                raise ApiError(404, {"statusCode": 404, "error": "Not Found", "message": "Run not found"})
            return self.render(run, self.clock.now_us), 1
        raise ApiError(404, {"statusCode": 404, "error": "Not Found", "message": f"No route {path}"})

    def step_ids(self, run: SimRun, now_us: int) -> list[str]:
        return [message["id"] for message in self.messages(run, now_us)]

    @staticmethod
    def messages(run: SimRun, now_us: int) -> list[dict[str, Any]]:
        """The run's AI SDK messages so far: for each step the assistant's call of a tool, then the
        tool's answer (a screenshot comes back as a base64 file part)."""
        messages = []
        for number, at in enumerate(run.step_moments(now_us), start=1):
            tool = TOOLS[(run.index + number) % len(TOOLS)]
            call = f"call_{run.run_id[:8]}_{number}"
            said = {"type": "text", "text": f"Step {number}: I will {tool} to {run.task[:30]}"}
            calling = {"type": "tool-call", "toolCallId": call, "toolName": tool, "input": {"step": number}}
            answer: dict[str, Any] = {"type": "tool-result", "toolCallId": call, "toolName": tool, "output": "ok"}
            if tool == "screenshot":
                answer = {"type": "file", "mediaType": "image/png", "data": SCREENSHOT_PNG}
            messages += [
                {
                    "id": f"msg_{run.run_id[:8]}_{2 * number - 1}",
                    "createdAt": run.time(at),
                    "message": {"role": "assistant", "content": [said, calling]},
                },
                {
                    "id": f"msg_{run.run_id[:8]}_{2 * number}",
                    "createdAt": run.time(at + MICROS // 2),
                    "message": {"role": "tool", "content": [answer]},
                },
            ]
        return messages

    def messages_page(self, run: SimRun, now_us: int, params: dict[str, str]) -> tuple[dict[str, Any], int]:
        """`GET /v1/agents/runs/{id}/messages`: the messages after the one `since` names, oldest
        first, `limit` of them unless `all`; `nextSince` the last one's id (null only when the run
        has none yet)."""
        messages = self.messages(run, now_us)
        since = params.get("since")
        if since is not None:
            ids = [message["id"] for message in messages]
            messages = messages[ids.index(since) + 1 :] if since in ids else []
        if params.get("all") != "true":
            try:
                limit = int(params.get("limit", DEFAULT_LIMIT))
            except ValueError:
                raise bad_request("limit must be an integer") from None
            messages = messages[:limit]
        last = messages[-1]["id"] if messages else since
        return {"data": messages, "nextSince": last}, len(messages)

    def list_runs(self, params: dict[str, str]) -> tuple[dict[str, Any], int]:
        try:
            limit = int(params.get("limit", DEFAULT_LIMIT))
        except ValueError:
            raise bad_request("limit must be an integer") from None
        if not 1 <= limit <= MAX_LIMIT:
            raise bad_request(f"limit must be between 1 and {MAX_LIMIT}")
        status = params.get("status")
        if status is not None and status not in STATUSES.values():
            raise bad_request(f"invalid status {status!r}")
        agent_id = params.get("agentId")
        try:
            start_at = parse_time(params["startAt"]) if "startAt" in params else None
            end_at = parse_time(params["endAt"]) if "endAt" in params else None
        except ValueError:
            raise bad_request("startAt/endAt must be RFC 3339 date-times") from None
        try:
            cursor_index = decode_cursor(params["cursor"], self.keys) if "cursor" in params else None
        except ValueError:
            raise bad_request("invalid cursor") from None

        now_us = self.clock.now_us
        candidates = self.created_range(start_at, end_at, inclusive=True)

        def keep(run: SimRun) -> bool:
            if not self.exists(run):
                return False
            if agent_id is not None and run.agent_id != agent_id:
                return False
            return status is None or STATUSES[run.phase(now_us)] == status

        if self.order == "run_id":
            page, has_more = self.page_by_run_id(candidates, cursor_index, keep, limit)
        else:
            page, has_more = self.page_after(candidates, cursor_index, True, keep, self.history, limit)
        body = {
            "data": [self.render(run, now_us) for run in page],
            "limit": limit,
            "nextCursor": encode_cursor(page[-1]) if has_more else None,
        }
        return body, len(page)

    def page_by_run_id(
        self, candidates: range, cursor_index: int | None, keep: Callable[[SimRun], bool], limit: int
    ) -> tuple[list[SimRun], bool]:
        after_id = self.history[cursor_index].run_id if cursor_index is not None else ""
        page: list[SimRun] = []
        for run in self.by_run_id_order:
            if run.run_id <= after_id or self.position[run.run_id] not in candidates or not keep(run):
                continue
            if len(page) == limit:
                return page, True
            page.append(run)
        return page, False


TOOLS = ("goto", "act", "extract", "screenshot", "observe")
SCREENSHOT_PNG = "iVBORw0KGgo" + "A" * 2000  # base64 image data, as a file part carries it


SIMULATOR = BrowserbaseSimulator
