"""Skyvern, as its OpenAPI spec, its OSS server and the `skyvern` 1.0.56 SDK models describe it:
`x-api-key` (403, not 401, for a bad key), bare JSON arrays, page numbers, newest first with no
tie-breaker, no time filter, timestamps without an offset.

- `GET /v1/agents/runs`: workflow runs (`wr_…`), `status` repeatable, `page_size` unbounded (10 by
  default). `search_key` is a substring of the run id or of a parameter value (the server also
  searches titles, headers and webhook URLs): a run retried or chained names the run before it
  (`CHAIN`), so a search for a run also finds the newer runs that name it, first.
- `GET /v1/runs`: every run type, `status` and `run_type` repeatable, pages and page sizes up to
  100 (the newest 10,000 rows), 400 past row 1,000 when searching. It lists workflow runs again,
  and a task-v2 run under its own `tsk_v2_…` id while its workflow run is in the list above.
  Its status is a best-effort copy: some task runs that ended keep, in this list (filters and
  search included), the status and times they had just before (`STATUS_LAG_EVERY`).
- `GET /v1/runs/{run_id}`: one run, its authoritative status (another shape than the lists').
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent_runs.simulators.core import COST_COLUMNS, MICROS, ApiError, SimRun, SimulatorBase, moment, seconds_between

WORKFLOWS, TASKS = "workflows", "tasks"
RUN_TYPES = ("workflow_run", "task_v2", "task_v1", "openai_cua", "anthropic_cua", "ui_tars")
STATUSES = {"running": "running", "paused": "paused", "completed": "completed", "failed": "failed"}
STATUSES |= {"cancelled": "canceled", "timed_out": "timed_out"}
ALL_STATUSES = ("created", "queued", "running", "paused", "timed_out", "failed", "terminated", "completed", "canceled")
MAX_TASK_PAGE = 100
STATUS_LAG_EVERY = 16  # one task run in this many keeps its last open status in `/v1/runs` once it ends
CHAIN = 40  # runs come in chains of this many; the first CHAIN_NAMING after a chain's head name it
CHAIN_NAMING = 14
THOUGHTS_PER_BLOCK = 3  # a workflow's steps (thoughts) come in blocks of this many
BLOCK_TYPES = ("navigation", "extraction", "action", "login")
ACTION_TYPES = ("click", "input_text", "select_option", "scroll", "complete")
SECRET_FIELDS = (
    "browser_address",
    "extra_http_headers",
    "cdp_connect_headers",
    "webhook_callback_url",
    "totp_verification_url",
    "totp_identifier",
)


def invalid(field: str, message: str) -> ApiError:
    return ApiError(422, {"detail": [{"loc": ["query", field], "msg": message, "type": "value_error"}]})


def serial(run: SimRun) -> int:
    """The number of a run's id: Skyvern ids are `<prefix>_<int64>`."""
    return int(run.run_id.rsplit("_", 1)[1])


@dataclass
class SkyvernSimulator(SimulatorBase):
    auth_header = "x-api-key"
    unauthorized_status = 403
    outcomes = ("completed", "failed", "cancelled", "timed_out")
    with_pauses = True
    stale_in_list: set[str] = field(default_factory=set)  # task runs `/v1/runs` shows as they were before they ended
    names: dict[str, str] = field(default_factory=dict)  # run id -> a run id among its parameters (tests add)

    def adopt(self, run: SimRun) -> None:
        kind = RUN_TYPES[run.index % len(RUN_TYPES)]
        run.family = WORKFLOWS if kind in ("workflow_run", "task_v2") else TASKS
        run.time_format = "micros_naive"
        if not run.run_id.startswith(("wr_", "tsk_")):  # roughly time-sorted: seconds since 2022-06-20 high
            number = ((run.created_us // 1_000_000 - 1_655_683_200) << 22) | int(run.run_id[:5], 16)
            run.run_id = f"{'wr' if run.family == WORKFLOWS else 'tsk'}_{number}"

    def kind(self, run: SimRun) -> str:
        return RUN_TYPES[run.index % len(RUN_TYPES)]

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return {"detail": message}

    def unauthorized(self) -> dict[str, Any]:
        return {"detail": "Invalid credentials"}

    def status(self, run: SimRun, now_us: int) -> str:
        phase = run.phase(now_us)
        if phase == "pending":
            return "created" if run.index % 2 else "queued"
        if phase == "failed" and run.index % 4 == 0:
            return "terminated"
        return STATUSES[phase]

    def render_workflow(self, run: SimRun, now_us: int) -> dict[str, Any]:
        status = self.status(run, now_us)
        failed = status in ("failed", "terminated")
        record: dict[str, Any] = {
            "workflow_run_id": run.run_id,
            "workflow_id": f"w_{serial(run) % 10_000}",
            "workflow_permanent_id": f"wpid_{run.agent_id or 'adhoc'}",
            "organization_id": "o_1",
            "browser_session_id": f"pbs_{serial(run)}" if run.started_by(now_us) else None,
            "browser_profile_id": None,
            "browser_address": f"ws://10.0.0.{run.index % 250}:9222/devtools/browser/{run.index}?token=cdp-secret-{run.index}"
            if run.index % 3 == 0
            else None,
            "debug_session_id": None,
            "status": status,
            "extra_http_headers": {"Authorization": f"Bearer secret-{run.run_id}"},
            "cdp_connect_headers": {"x-token": "********"},
            "proxy_location": "RESIDENTIAL",
            "webhook_callback_url": f"https://hooks.example.com/skyvern?token=secret-{run.index}",
            "totp_verification_url": None,
            "totp_identifier": f"totp-{run.index}@example.com",
            "failure_reason": "Element not found after 3 attempts" if failed else None,
            "failure_category": [{"category": "NAVIGATION", "confidence_float": 0.8, "reasoning": "r"}]
            if failed
            else None,
            "parent_workflow_run_id": None,
            "workflow_title": run.task,
            "trigger_type": "api",
            "run_with": "agent",
            "credits_used": run.steps_at(now_us),
            "cached_credits_used": run.steps_at(now_us) // 2 if run.index % 2 else 0,
            "queued_at": run.time(run.created_us),
            "started_at": run.time(run.started_by(now_us)),
            "finished_at": run.time(run.finished_us)
            if status not in ("created", "queued", "running", "paused")
            else None,
            "created_at": run.time(run.created_us),
            "modified_at": run.time(run.updated_us(now_us)),
        }
        if run.extra_fields:
            record.update(run.extra_fields)
        return record

    def lags(self, run: SimRun) -> bool:
        """Whether `/v1/runs` keeps this task run's last open status once it has ended."""
        return run.family == TASKS and (run.index % STATUS_LAG_EVERY == 7 or run.run_id in self.stale_in_list)

    def end_behind_the_list(self, run_id: str, outcome: str) -> None:
        """An open task run ends now, and `/v1/runs` keeps showing it open, for good."""
        self.stale_in_list.add(run_id)
        self.end_run(run_id, outcome)

    def listed_at(self, run: SimRun, now_us: int) -> int:
        """The moment whose status and times `/v1/runs` shows for the run now."""
        if self.lags(run) and run.finished_us is not None and run.finished_us <= now_us:
            return run.finished_us - 1
        return now_us

    def render_task(self, run: SimRun, now_us: int, kind: str | None = None, listed: bool = False) -> dict[str, Any]:
        """The run as `/v1/runs` lists it (`listed`: with its status copy as the list keeps it)."""
        if listed:
            now_us = self.listed_at(run, now_us)
        status = self.status(run, now_us)
        kind = kind or self.kind(run)
        run_id = run.run_id if kind != "task_v2" else f"tsk_v2_{serial(run)}"
        return {
            "task_run_id": f"tr_{serial(run)}",
            "run_id": run_id,
            "task_run_type": kind,
            "status": status,
            "title": run.task,
            "started_at": run.time(run.started_by(now_us)),
            "finished_at": run.time(run.finished_us)
            if status not in ("created", "queued", "running", "paused")
            else None,
            "created_at": run.time(run.created_us),
            "workflow_permanent_id": f"wpid_{run.agent_id}" if run.agent_id and kind == "workflow_run" else None,
            "workflow_deleted": False,
            "script_run": False,
            "trigger_type": "api",
        }

    def render(self, run: SimRun, now_us: int) -> dict[str, Any]:
        return self.render_workflow(run, now_us) if run.family == WORKFLOWS else self.render_task(run, now_us)

    def truth(self, run: SimRun, now_us: int) -> dict[str, Any]:
        record = self.render(run, now_us)
        phase = run.phase(now_us)
        started = run.started_by(now_us)
        finished = run.finished_us if phase in self.outcomes else None
        row: dict[str, Any] = {
            **dict.fromkeys(
                (
                    "updated_at", "num_steps", "result", "result_schema", "error_code", "error_message",
                    "error_category", "session_id", "sandbox_id", "streaming_url", "proxy_enabled",
                    "proxy_country_code", "missing_from_api_at", *COST_COLUMNS,
                )
            ),
            "provider": "skyvern",
            "run_id": run.run_id,
            "run_family": run.family,
            "status": phase,
            "provider_status": record["status"],
            "task": run.task,
            "created_at": moment(run.created_us),
            "started_at": moment(started),
            "finished_at": moment(finished),
            "duration_s": seconds_between(started, finished),
            "agent_id": record["workflow_permanent_id"],
        }  # fmt: skip
        if run.family == WORKFLOWS:
            row["updated_at"] = moment(run.updated_us(now_us))
            row["error_message"] = record["failure_reason"]
            row["session_id"] = record["browser_session_id"]
            row["credits"] = float(record["credits_used"] + record["cached_credits_used"])
            mapped = {"workflow_run_id", "status", "workflow_title", "workflow_permanent_id", "created_at"}
            mapped |= {"started_at", "finished_at", "modified_at", "failure_reason", "browser_session_id"}
        else:
            mapped = {"run_id", "status", "title", "workflow_permanent_id", "created_at", "started_at", "finished_at"}
        extra = {key: value for key, value in record.items() if key not in mapped and key not in SECRET_FIELDS}
        row["extra"] = extra or None
        return row

    def page(self, runs: list[SimRun], params: dict[str, str], max_size: int | None) -> tuple[int, int]:
        try:
            number, size = int(params.get("page", 1)), int(params.get("page_size", 10))
        except ValueError:
            raise invalid("page", "Input should be a valid integer") from None
        if number < 1 or size < 1 or (max_size is not None and (number > max_size or size > max_size)):
            raise invalid("page_size" if size < 1 or (max_size and size > max_size) else "page", "out of range")
        return (number - 1) * size, size

    def route(self, path: str, params: dict[str, str], query: dict[str, list[str]]) -> tuple[Any, int]:
        now_us = self.clock.now_us
        statuses = tuple(query.get("status", ()))
        if any(status not in ALL_STATUSES for status in statuses):
            raise invalid("status", "Input should be a RunStatus")
        search = params.get("search_key")
        if path == "/v1/agents/runs":
            offset, size = self.page([], params, None)

            def build_workflows() -> list[SimRun]:
                return self.newest_first(lambda run: run.family == WORKFLOWS, statuses, search, now_us)

            runs = self.listed(("workflows", statuses, search), build_workflows)[offset : offset + size]
            return [self.render_workflow(run, now_us) for run in runs], len(runs)
        if path == "/v1/runs":
            offset, size = self.page([], params, MAX_TASK_PAGE)
            if search is not None and len(search) < 3:
                raise invalid("search_key", "String should have at least 3 characters")
            if search is not None and offset >= 1000:
                raise ApiError(400, {"detail": "Pagination beyond 1000 rows is not supported when searching"})
            kinds = tuple(query.get("run_type", ())) or RUN_TYPES

            def build_all() -> list[SimRun]:
                def listed(run: SimRun) -> bool:
                    return self.kind(run) in kinds

                return self.newest_first(listed, statuses, search, now_us)

            runs = self.listed(("all", statuses, search, kinds), build_all)[offset : offset + size]
            body = [self.render_task(run, now_us, self.kind(run), listed=True) for run in runs]
            return body, len(body)
        if path.startswith("/v1/runs/") and path.rstrip("/").endswith("/timeline"):
            return self.timeline(path.removeprefix("/v1/runs/").rstrip("/").removesuffix("/timeline"), now_us)
        if path.startswith("/api/v1/tasks/") and path.rstrip("/").endswith("/steps"):
            return self.task_steps(path.removeprefix("/api/v1/tasks/").rstrip("/").removesuffix("/steps"), now_us)
        if path.startswith("/v1/runs/"):
            return self.get_run(path.removeprefix("/v1/runs/"), now_us), 1
        raise ApiError(404, {"detail": "Not Found"})

    def get_run(self, run_id: str, now_us: int) -> dict[str, Any]:
        """`GET /v1/runs/{run_id}`: a task run as `TaskRunResponse`, a workflow run (`wr_`) as
        `WorkflowRunResponse`; the status is the run's own, never a copy."""
        run = self.by_id.get(run_id)
        if run is None or not self.exists(run):
            raise ApiError(404, {"detail": f"Task run not found {run_id}"})
        status = self.status(run, now_us)
        ended = status not in ("created", "queued", "running", "paused")
        failed = status in ("failed", "terminated", "timed_out")
        record: dict[str, Any] = {
            "run_id": run.run_id,
            "run_type": self.kind(run),
            "status": status,
            "output": {"answer": f"done: {run.task}"} if status == "completed" else None,
            "downloaded_files": [],
            "recording_url": f"https://recordings.example.com/{run.run_id}.webm" if ended else None,
            "screenshot_urls": [],
            "failure_reason": "Element not found after 3 attempts" if failed else None,
            "errors": [{"error_code": "ELEMENT_NOT_FOUND", "reasoning": "r", "confidence_float": 0.8}]
            if failed
            else [],
            "created_at": run.time(run.created_us),
            "modified_at": run.time(run.updated_us(now_us)),
            "queued_at": run.time(run.created_us),
            "started_at": run.time(run.started_by(now_us)),
            "finished_at": run.time(run.finished_us) if ended else None,
            "app_url": f"https://app.skyvern.com/runs/{run.run_id}",
            "browser_session_id": f"pbs_{serial(run)}" if run.started_by(now_us) else None,
            "step_count": run.steps_at(now_us),
        }
        if run.family == WORKFLOWS:
            record["run_request"] = {"workflow_id": f"wpid_{run.agent_id or 'adhoc'}", "title": run.task}
        else:
            record["run_request"] = {"prompt": run.task, "url": "https://example.com", "engine": "skyvern-1.0"}
        return record

    def found(self, run_id: str, message: str) -> SimRun:
        run = self.by_id.get(run_id)
        if run is None or not self.exists(run):
            raise ApiError(404, {"detail": f"{message} {run_id}"})
        return run

    def step_ids(self, run: SimRun, now_us: int) -> list[str]:
        if run.family == TASKS:
            return [step["step_id"] for step in self.task_steps(run.run_id, now_us)[0]]
        nodes = self.timeline(run.run_id, now_us)[0]
        blocks = [node["block"]["workflow_run_block_id"] for node in nodes]
        return blocks + [child["thought"]["thought_id"] for node in nodes for child in node["children"]]

    def timeline(self, run_id: str, now_us: int) -> tuple[list[dict[str, Any]], int]:
        """`GET /v1/runs/{id}/timeline` (`WorkflowRunTimeline`s): a workflow run's blocks, newest
        first, each with its thoughts (one a step) as children; 400 for a task run, as the server
        answers a run type that has no timeline."""
        run = self.found(run_id, "Run not found")
        if run.family != WORKFLOWS:
            raise ApiError(400, {"detail": f"Timeline not available for run type {self.kind(run)}"})
        moments = run.step_moments(now_us)
        ended = run.finished_us is not None and run.finished_us <= now_us
        blocks = []
        for first in range(0, len(moments), THOUGHTS_PER_BLOCK):
            number = first // THOUGHTS_PER_BLOCK
            last_block = first + THOUGHTS_PER_BLOCK >= len(moments)
            failed = ended and last_block and run.outcome == "failed"
            status = (
                ("failed" if failed else STATUSES.get(run.outcome, "completed"))
                if ended or not last_block
                else "running"
            )
            block_id = f"wrb_{serial(run)}_{number}"
            thoughts = [
                self.thought(run, block_id, n, moments[n])
                for n in range(first, min(first + THOUGHTS_PER_BLOCK, len(moments)))
            ]
            block = {
                "workflow_run_block_id": block_id,
                "workflow_run_id": run.run_id,
                "organization_id": "o_sim",
                "block_type": BLOCK_TYPES[(run.index + number) % len(BLOCK_TYPES)],
                "label": f"block_{number + 1}",
                "status": status,
                "failure_reason": "Element not found after 3 attempts" if failed else None,
                "url": f"https://portal.example.com/form/{number + 1}",
                "actions": [],
                "created_at": run.time(moments[first]),
                "modified_at": run.time(moments[first]),
                "duration": round(len(thoughts) * 1.5, 3),
            }
            node = {"type": "block", "block": block, "thought": None, "children": thoughts}
            node |= {"created_at": block["created_at"], "modified_at": block["modified_at"]}
            blocks.append(node)
        return list(reversed(blocks)), len(blocks)

    @staticmethod
    def thought(run: SimRun, block_id: str, number: int, at_us: int) -> dict[str, Any]:
        at = run.time(at_us)
        thought = {
            "thought_id": f"oth_{serial(run)}_{number}",
            "task_id": f"oc_{serial(run)}",
            "organization_id": "o_sim",
            "workflow_run_id": run.run_id,
            "workflow_run_block_id": block_id,
            "thought": f"Step {number + 1}: fill the field for {run.task[:30]}",
            "thought_type": "plan" if number % 3 == 0 else "metadata",
            "input_token_count": 900 + 10 * number,
            "output_token_count": 80 + number,
            "thought_cost": round(0.002 + 0.0001 * number, 6),
            "created_at": at,
            "modified_at": at,
        }
        return {
            "type": "thought",
            "block": None,
            "thought": thought,
            "children": [],
            "created_at": at,
            "modified_at": at,
        }

    def task_steps(self, task_id: str, now_us: int) -> tuple[list[dict[str, Any]], int]:
        """`GET /api/v1/tasks/{id}/steps` (`Step`s, none-valued fields left out): one a step so far."""
        run = self.found(task_id, "Task not found")
        if run.family != TASKS:
            raise ApiError(404, {"detail": f"Task not found {task_id}"})
        moments = run.step_moments(now_us)
        ended = run.finished_us is not None and run.finished_us <= now_us
        steps = []
        for number, at in enumerate(moments):
            last = number == len(moments) - 1
            status = (
                "failed"
                if ended and last and run.outcome == "failed"
                else "completed"
                if ended or not last
                else "running"
            )
            action = ACTION_TYPES[(run.index + number) % len(ACTION_TYPES)]
            steps.append(
                {
                    "created_at": run.time(at),
                    "modified_at": run.time(at + MICROS),
                    "task_id": run.run_id,
                    "step_id": f"stp_{serial(run)}_{number}",
                    "status": status,
                    "output": {
                        "actions_and_results": [[{"action_type": action, "reasoning": "r"}, [{"success": True}]]]
                    },
                    "order": number,
                    "is_last": ended and last,
                    "retry_index": 0,
                    "organization_id": "o_sim",
                    "input_token_count": 1200 + number,
                    "output_token_count": 90,
                    "step_cost": 0.003,
                }
            )
        return steps, len(steps)

    def matches(self, run: SimRun, search: str) -> bool:
        """Whether a search finds the run: in its id, or in a parameter's value (the id of the run
        it retries or follows in its chain, or one a test gave it)."""
        if search in run.run_id:
            return True
        named = self.names.get(run.run_id)
        if named is None and 0 < run.index % CHAIN <= CHAIN_NAMING:
            head = self.by_index.get(run.index - run.index % CHAIN)
            named = head.run_id if head is not None else None
        return named is not None and search in named

    def newest_first(self, wanted: Any, statuses: tuple[str, ...], search: str | None, now_us: int) -> list[SimRun]:
        """created_at DESC; runs sharing a creation time in the order the database happens to keep;
        `status` filters the status as the list shows it."""
        runs = [
            run
            for run in reversed(self.history[: self.visible_end(now_us)])
            if wanted(run) and self.exists(run) and (search is None or self.matches(run, search))
        ]
        if statuses:
            runs = [run for run in runs if self.status(run, self.listed_at(run, now_us)) in statuses]
        return runs


SIMULATOR = SkyvernSimulator
