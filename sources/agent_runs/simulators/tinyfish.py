"""TinyFish `GET /v1/runs`, `GET /v1/runs/{run_id}` and `POST /v1/runs/batch`, as documented in
the API reference (OpenAPI: api-evangelist/tinyfish `openapi/tinyfish-runs-api-openapi.yml`) and
the official SDK's models: newest first unless `sort_direction=asc`, `created_after` /
`created_before` exclusive, `limit` 1-100 (400 otherwise), opaque cursors,
`pagination.total`/`has_more`. A run read by id or in a batch is the list's summary plus `steps`
(base64 screenshots unless `screenshots=none`) and `video_url`, a recording URL presigned for 15
minutes; a batch takes 1-100 ids and answers `{data, not_found}`."""

from __future__ import annotations

from typing import Any

from agent_runs.simulators.core import (
    COST_COLUMNS,
    ApiError,
    SimRun,
    SimulatorBase,
    decode_cursor,
    encode_cursor,
    moment,
    parse_time,
    seconds_between,
)

STATUSES = {"pending": "PENDING", "running": "RUNNING", "paused": "RUNNING"}
OUTCOME_STATUSES = {"completed": "COMPLETED", "failed": "FAILED", "cancelled": "CANCELLED"}
ERRORS = (
    ("service_busy", "SYSTEM_FAILURE", "Browser crashed during execution", 60),
    ("goal_unreachable", "AGENT_FAILURE", "The agent could not find the requested page", None),
    ("insufficient_credits", "BILLING_FAILURE", "Out of credits", None),
)
MAX_LIMIT = 100
MAX_BATCH = 100
SCREENSHOT = "data:image/jpeg;base64,/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDA=="
DEFAULT_LIMIT = 20
MAX_GOAL_LENGTH = 500
OUTPUT_SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}}


def bad_request(message: str) -> ApiError:
    return ApiError(400, {"error": {"code": "invalid_request", "message": message}})


class TinyFishSimulator(SimulatorBase):
    auth_header = "X-API-Key"
    outcomes = ("completed", "failed", "cancelled")

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return {"error": {"code": f"http_{status}", "message": message}}

    def unauthorized(self) -> dict[str, Any]:
        return {"error": {"code": "unauthorized", "message": "Invalid or missing API key"}}

    def status(self, run: SimRun, now_us: int) -> str:
        phase = run.phase(now_us)
        return STATUSES.get(phase) or OUTCOME_STATUSES[phase]

    def error_of(self, run: SimRun) -> dict[str, Any]:
        code, category, message, retry_after = ERRORS[run.index % len(ERRORS)]
        return {
            "message": message,
            "category": category,
            "code": code,
            "retry_after": retry_after,
            "help_url": "https://docs.tinyfish.ai/prompting-guide",
            "help_message": "Need help? Check out our goal prompting guide for tips and examples.",
        }

    def render(self, run: SimRun, now_us: int) -> dict[str, Any]:
        status = self.status(run, now_us)
        started = run.started_by(now_us)
        record: dict[str, Any] = {
            "run_id": run.run_id,
            "status": status,
            "goal": run.task,
            "created_at": run.time(run.created_us),
            "started_at": run.time(started),
            "finished_at": run.time(run.finished_us) if status in OUTCOME_STATUSES.values() else None,
            "num_of_steps": run.steps_at(now_us),
            "result": self.result_of(run) if status == "COMPLETED" else None,
            "output_schema": OUTPUT_SCHEMA if run.index % 3 == 0 else None,
            "schema_validation": self.validation_of(run) if status == "COMPLETED" else None,
            "error": self.error_of(run) if status == "FAILED" else None,
            "streaming_url": f"https://stream.agent.tinyfish.ai/session/{run.run_id}" if started else None,
            "browser_config": {"proxy_enabled": run.proxy_country is not None, "proxy_country_code": run.proxy_country},
        }
        if run.extra_fields:
            record.update(run.extra_fields)
        return record

    def render_full(self, run: SimRun, now_us: int, screenshots: bool = True) -> dict[str, Any]:
        """The run as `GET /v1/runs/{id}` and the batch read answer: the summary, its steps and
        its recording (a URL presigned for 15 minutes, a new signature at every read)."""
        record = self.render(run, now_us)
        ended = record["finished_at"] is not None
        signature = f"{now_us:x}{run.index:x}"
        record["video_url"] = (
            f"https://s3.amazonaws.com/tinyfish-traces/{run.run_id}/video/recording.webm"
            f"?X-Amz-Expires=900&X-Amz-Credential=AKIASIM%2Ftrace&X-Amz-Signature={signature}"
            if ended and run.index % 2 == 0
            else None
        )
        record["steps"] = self.steps_of(run, now_us, record["status"], screenshots)
        return record

    def step_ids(self, run: SimRun, now_us: int) -> list[str]:
        return [step["id"] for step in self.steps_of(run, now_us, "COMPLETED", False)]

    @staticmethod
    def steps_of(run: SimRun, now_us: int, status: str, screenshots: bool) -> list[dict[str, Any]]:
        started = run.started_by(now_us)
        count = run.steps_at(now_us)
        if started is None or not count:
            return []
        return [
            {
                "id": f"evt_{run.run_id[:8]}_{number}",
                "timestamp": run.time(started + number * 1_200_000),
                "status": status if number == count - 1 else "COMPLETED",
                "action": f"Step {number + 1}: click the link to {run.task[:20]}",
                "screenshot": SCREENSHOT if screenshots else None,
                "duration": f"{1 + number % 3}.2s",
            }
            for number in range(count)
        ]

    @staticmethod
    def validation_of(run: SimRun) -> dict[str, Any] | None:
        """Whether the result matched the schema asked for: null when none was."""
        if run.index % 3:
            return None
        valid = run.index % 9 != 3
        errors = [] if valid else [{"path": "answer", "expected": "string", "received": "number", "message": "x"}]
        return {"valid": valid, "re_prompt_attempts": 0 if valid else 2, "errors": errors}

    @staticmethod
    def result_of(run: SimRun) -> dict[str, Any]:
        return {"answer": f"result of {run.run_id[:8]}", "items": list(range(run.steps % 5))}

    def truth(self, run: SimRun, now_us: int) -> dict[str, Any]:
        phase = run.phase(now_us)
        ended = phase in OUTCOME_STATUSES
        failed = phase == "failed"
        started = run.started_by(now_us)
        finished = run.finished_us if ended else None
        error = self.error_of(run) if failed else {}
        extra: dict[str, Any] = {"schema_validation": self.validation_of(run) if phase == "completed" else None}
        extra.update(run.extra_fields or {})
        if failed:  # the error's fields the table has no column for
            extra["error"] = {key: error[key] for key in ("retry_after", "help_url", "help_message")}
        return {
            "provider": "tinyfish",
            "run_family": "runs",
            "run_id": run.run_id,
            "status": "running" if phase == "paused" else phase,  # TinyFish has no paused
            "provider_status": self.status(run, now_us),
            "task": run.task,
            "created_at": moment(run.created_us),
            "started_at": moment(started),
            "finished_at": moment(finished),
            "updated_at": None,
            "num_steps": run.steps_at(now_us),
            "result": self.result_of(run) if phase == "completed" else None,
            "result_schema": OUTPUT_SCHEMA if run.index % 3 == 0 else None,
            "error_code": error.get("code"),
            "error_message": error.get("message"),
            "error_category": error.get("category"),
            "agent_id": None,
            "session_id": None,
            "sandbox_id": None,
            "streaming_url": f"https://stream.agent.tinyfish.ai/session/{run.run_id}" if started else None,
            "proxy_enabled": run.proxy_country is not None,
            "proxy_country_code": run.proxy_country,
            "duration_s": seconds_between(started, finished),
            "extra": extra,
            "missing_from_api_at": None,
            **dict.fromkeys(COST_COLUMNS),  # the API reports none of them
        }

    def route(self, path: str, params: dict[str, str], query: dict[str, list[str]]) -> tuple[Any, int]:
        if path == "/v1/runs":
            return self.list_runs(params)
        if path.startswith("/v1/runs/"):
            run = self.get_run(path.removeprefix("/v1/runs/"))
            if run is None:
                raise ApiError(404, {"error": {"code": "not_found", "message": "Run not found"}})
            return self.render_full(run, self.clock.now_us, params.get("screenshots") != "none"), 1
        raise ApiError(404, {"error": {"code": "not_found", "message": f"No route {path}"}})

    def route_post(self, path: str, payload: Any) -> tuple[Any, int]:
        if path != "/v1/runs/batch":
            raise ApiError(404, {"error": {"code": "not_found", "message": f"No route {path}"}})
        run_ids = payload.get("run_ids") if isinstance(payload, dict) else None
        if not isinstance(run_ids, list) or not run_ids or not all(isinstance(run_id, str) for run_id in run_ids):
            raise bad_request("run_ids must be a non-empty array of run ids")
        if len(run_ids) > MAX_BATCH:
            raise bad_request(f"run_ids must hold at most {MAX_BATCH} ids")
        now_us = self.clock.now_us
        runs = {run_id: self.get_run(run_id) for run_id in run_ids}
        found = [run for run in runs.values() if run is not None]
        missing = [run_id for run_id, run in runs.items() if run is None]
        body = {
            "data": [self.render_full(run, now_us, payload.get("screenshots") != "none") for run in found],
            "not_found": missing or None,
        }
        return body, len(found)

    def list_runs(self, params: dict[str, str]) -> tuple[dict[str, Any], int]:
        try:
            limit = int(params.get("limit", DEFAULT_LIMIT))
        except ValueError:
            raise bad_request("limit must be an integer") from None
        if not 1 <= limit <= MAX_LIMIT:
            raise bad_request(f"limit must be between 1 and {MAX_LIMIT}")
        direction = params.get("sort_direction", "desc")
        if direction not in ("asc", "desc"):
            raise bad_request("sort_direction must be asc or desc")
        status = params.get("status")
        if status is not None and status not in ("PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"):
            raise bad_request(f"invalid status {status!r}")
        goal = params.get("goal")
        if goal is not None and len(goal) > MAX_GOAL_LENGTH:
            raise bad_request(f"goal must be at most {MAX_GOAL_LENGTH} characters")
        try:
            after = parse_time(params["created_after"]) if "created_after" in params else None
            before = parse_time(params["created_before"]) if "created_before" in params else None
        except ValueError:
            raise bad_request("created_after/created_before must be ISO 8601 date-times") from None
        try:
            cursor_index = decode_cursor(params["cursor"], self.keys) if "cursor" in params else None
        except ValueError:
            raise bad_request("invalid cursor") from None

        now_us = self.clock.now_us
        candidates = self.created_range(after, before, inclusive=False)

        def keep(run: SimRun) -> bool:
            if not self.exists(run):
                return False
            if goal is not None and goal.lower() not in run.task.lower():
                return False
            return status is None or self.status(run, now_us) == status

        if status is None and goal is None and not self.hides_runs:
            total = len(candidates)
        else:
            total = sum(1 for index in candidates if keep(self.history[index]))
        page, has_more = self.page_after(candidates, cursor_index, direction == "desc", keep, self.history, limit)
        body = {
            "data": [self.render(run, now_us) for run in page],
            "pagination": {
                "total": total,
                "has_more": has_more,
                "next_cursor": encode_cursor(page[-1]) if has_more else None,
            },
        }
        return body, len(page)


SIMULATOR = TinyFishSimulator
