"""The unified tables, the contract analysts query: `runs` and `run_steps`, their columns (with
descriptions), their Arrow types, the unified statuses, and the dlt hints every resource that
writes them uses. How an API's record becomes a row is mapping.py (runs) and from_steps.py (steps)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import dlt
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from dlt.common.schema.typing import TTableSchemaColumns
from dlt.common.schema.utils import new_table
from dlt.extract import DltResource

from agent_runs.settings import PRIMARY_KEY, STEPS_PRIMARY_KEY, STEPS_TABLE_NAME, TABLE_NAME

UNIFIED_STATUSES = frozenset({"pending", "running", "paused", "completed", "failed", "cancelled", "timed_out"})
TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled", "timed_out"})
UNKNOWN_STATUS = "unknown"  # a status string the provider's module does not map
STATUS_VALUES = [*sorted(UNIFIED_STATUSES), UNKNOWN_STATUS]  # every value of `status`
_TERMINAL = pa.array(sorted(TERMINAL_STATUSES))


COST_PRECISION, COST_SCALE = 38, 9  # dlt's default decimal: dollars to a billionth
LOAD_ID_FIELD = pa.field("_dlt_load_id", pa.string(), nullable=False)  # as dlt names and types it


def _column(data_type: str, description: str, **hints: Any) -> dict[str, Any]:
    return {"data_type": data_type, "description": description, **hints}


def _timestamp(description: str, **hints: Any) -> dict[str, Any]:
    return _column("timestamp", description, timezone=True, precision=6, **hints)


RUNS_COLUMNS: TTableSchemaColumns = {
    "provider": _column("text", "the provider's name (providers/ in the package)", nullable=False, primary_key=True),
    "account": _column(
        "text", "the account's name in config; `default` for the provider's <NAME>_API_KEY", nullable=False
    ),
    "run_id": _column("text", "the provider's run id", nullable=False, primary_key=True),
    "run_family": _column("text", "which of the provider's run lists the run is from (its module names them)"),
    "status": _column("text", "unified: " + ", ".join(STATUS_VALUES[:-1]) + f" or {UNKNOWN_STATUS}", nullable=False),
    "provider_status": _column("text", "the status string exactly as the API sent it"),
    "task": _column("text", "the natural-language task"),
    "created_at": _timestamp("when the run was created (UTC)", nullable=False),
    "started_at": _timestamp("when the run started executing (UTC)"),
    "finished_at": _timestamp("when the run ended (UTC)"),
    "updated_at": _timestamp("last change reported by the API"),
    "num_steps": _column("bigint", "steps the agent took"),
    "result": _column("json", "the run's structured result"),
    "result_schema": _column("json", "the JSON Schema of the result asked for"),
    "error_code": _column("text", "the code of the run's error"),
    "error_message": _column("text", "the message of the run's error"),
    "error_category": _column("text", "the category of the run's error"),
    "agent_id": _column("text", "the saved agent or workflow run, absent for ad-hoc runs"),
    "session_id": _column("text", "the browser session"),
    "sandbox_id": _column("text", "the sandbox"),
    "streaming_url": _column("text", "the live view of the run"),
    "proxy_enabled": _column("bool", "whether the browser went through a proxy"),
    "proxy_country_code": _column("text", "the proxy's country"),
    "duration_s": _column("double", "finished_at - started_at, in seconds"),
    "cost_usd": _column(
        "decimal",
        "what the run cost in US dollars as the platform reports it; null where it reports none (credits are never converted)",
        precision=COST_PRECISION,
        scale=COST_SCALE,
    ),
    "credits": _column(
        "double",
        "what the run cost in the platform's credits, where it counts credits instead of dollars (every counter"
        " it bills, summed; each counter is in `extra`)",
    ),
    "model": _column("text", "the LLM (or engine) that ran the agent, as the platform names it"),
    "goal_achieved": _column(
        "bool",
        "the platform's verdict on whether the run reached its goal (not whether it finished): its judge's where"
        " one ruled, else the agent's own; null: none given",
    ),
    "goal_verdict_by": _column(
        "text", "whose verdict goal_achieved is: `judge` (a model that checked the run) or `agent` (its own report)"
    ),
    "input_tokens": _column("bigint", "LLM input tokens the run used, where reported"),
    "output_tokens": _column("bigint", "LLM output tokens the run used, where reported"),
    "extra": _column("json", "every field the API sent that has no column above"),
    "missing_from_api_at": _timestamp(
        "set when the API answered 404 for a run it had listed; the row keeps its last-seen values"
    ),
}


def into_runs_table(generator: Callable[..., Iterator[Any]], name: str) -> DltResource:
    """A resource that merges rows into the unified `runs` table: the table's contract in one place."""
    return dlt.resource(
        generator,
        name=name,
        table_name=TABLE_NAME,
        primary_key=PRIMARY_KEY,
        write_disposition="merge",
        columns=json_columns(RUNS_COLUMNS),
    ).add_map(with_load_id)


RUN_STEPS_COLUMNS: TTableSchemaColumns = {
    "provider": _column("text", "the provider's name, as in `runs`", nullable=False, primary_key=True),
    "account": _column("text", "the account's name, as in `runs`", nullable=False),
    "run_id": _column("text", "the run the step belongs to (`runs.run_id`)", nullable=False, primary_key=True),
    "run_family": _column("text", "the run's list, as in `runs`"),
    "step_id": _column(
        "text", "the step's id, stable within the provider (its own, or the run's id and position)", primary_key=True
    ),
    "step_index": _column("bigint", "the step's place in the run: 0, 1, ... by time, then as the API lists them"),
    "started_at": _timestamp("when the step happened or began (UTC); `at` is a reserved word in SQL"),
    "kind": _column("text", "step, message, event, block or thought: what the provider calls one record"),
    "action": _column("text", "what the step did: its action, tool, event type or block title"),
    "url": _column("text", "the page the step was on (without a query string that signs it)"),
    "status": _column("text", "the step's status as the API sent it"),
    "error_message": _column("text", "why the step failed, where the API says"),
    "duration_s": _column("double", "how long the step took, in seconds"),
    "input_tokens": _column("bigint", "LLM input tokens the step used, where reported"),
    "output_tokens": _column("bigint", "LLM output tokens the step used, where reported"),
    "cost_usd": _column(
        "decimal", "what the step cost in US dollars, where reported", precision=COST_PRECISION, scale=COST_SCALE
    ),
    "parent_step_id": _column("text", "the step this one is part of (a block's thoughts and sub-blocks)"),
    "text": _column("text", "the agent's memory, goal or message at the step, cut to STEP_TEXT_MAX_CHARS"),
    "extra": _column(
        "json", "every other field of the step; never a secret, base64 content or a signed URL (those are dropped)"
    ),
}


def into_steps_table(generator: Callable[..., Iterator[Any]], name: str) -> DltResource:
    """A resource that merges rows into `run_steps`: each run's steps replace the ones loaded
    before, whole (delete-insert on the run's key), so that a run never keeps steps of two reads."""
    return dlt.resource(
        generator,
        name=name,
        table_name=STEPS_TABLE_NAME,
        primary_key=STEPS_PRIMARY_KEY,
        merge_key=PRIMARY_KEY,
        write_disposition={"disposition": "merge", "strategy": "delete-insert"},
        columns=json_columns(RUN_STEPS_COLUMNS),
    ).add_map(with_load_id)


def with_load_id(table: pa.Table) -> pa.Table:
    """The rows stamped with the id of the load that writes them (`_dlt_load_id`), as dlt stamps
    the rows it normalises itself: what a load's summary counts and dbt's freshness test reads."""
    load_id = dlt.current.load_package_state()["load_id"]
    return table.append_column(LOAD_ID_FIELD, pa.array([load_id] * table.num_rows, pa.string()))


def json_columns(columns: TTableSchemaColumns) -> TTableSchemaColumns:
    """The columns whose type an Arrow batch cannot say (JSON travels as text): the one column
    hint each resource carries, so that Arrow's `text` does not replace the declared `json`."""
    return {name: {"data_type": "json"} for name, column in columns.items() if column["data_type"] == "json"}


def declare_tables(schema: dlt.Schema, steps: bool) -> None:
    """The columns of `runs` (and of `run_steps` when steps are loaded), declared once in the
    source's schema rather than on each of its resources: dlt validates and writes out every
    resource's column hints at every load, work that would grow with the number of accounts."""
    tables = {TABLE_NAME: RUNS_COLUMNS, **({STEPS_TABLE_NAME: RUN_STEPS_COLUMNS} if steps else {})}
    for name, columns in tables.items():
        schema.update_table(new_table(name, columns=[{"name": key, **column} for key, column in columns.items()]))


JSON_COLUMNS = frozenset(json_columns(RUNS_COLUMNS))


class JsonTextIsIntended(logging.Filter):
    """JSON columns travel in Arrow as JSON text (the form dlt itself gives them); dlt would warn on
    every table that the Arrow type (text) differs from the column's hint (json)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "when merging arrow schema with dlt schema" not in record.getMessage()


@contextmanager
def json_text_is_intended() -> Iterator[None]:
    """dlt's warning that JSON columns arrive as text, silenced while a load runs (and only then)."""
    dlt_logger, quiet = logging.getLogger("dlt"), JsonTextIsIntended()
    dlt_logger.addFilter(quiet)
    try:
        yield
    finally:
        dlt_logger.removeFilter(quiet)


def parse_timestamp(value: Any) -> datetime:
    """Any RFC 3339 / ISO 8601 form the APIs use (`Z`, `.123Z`, `+00:00`) as an aware UTC datetime,
    exact to the microsecond (finer digits are truncated). A value with no offset is read as UTC."""
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO 8601 string, got {type(value).__name__}")
    moment = datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def json_text(value: Any) -> str:
    """JSON columns travel as JSON text: the destination stores it in its JSON type, exactly."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # an integer beyond 64 bits, which orjson refuses
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


ARROW_TYPES: dict[str, pa.DataType] = {
    "text": pa.string(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "bigint": pa.int64(),
    "bool": pa.bool_(),
    "double": pa.float64(),
    "decimal": pa.decimal128(COST_PRECISION, COST_SCALE),
    "json": pa.string(),
}
RUNS_ARROW_SCHEMA = pa.schema(
    [
        pa.field(name, ARROW_TYPES[column["data_type"]], column.get("nullable", True))
        for name, column in RUNS_COLUMNS.items()
    ]
)
RUN_STEPS_ARROW_SCHEMA = pa.schema(
    [
        pa.field(name, ARROW_TYPES[column["data_type"]], column.get("nullable", True))
        for name, column in RUN_STEPS_COLUMNS.items()
    ]
)
DEFAULT_ACCOUNT = "default"


def is_open(table: pa.Table) -> pa.ChunkedArray:
    """Which rows are of runs not yet ended (pending, running, paused, or a status we do not know)."""
    return pc.invert(pc.is_in(table["status"], _TERMINAL))


def flagged_missing(table: pa.Table) -> pa.Table:
    """The rows flagged as of runs the API no longer has (`missing_from_api_at` now)."""
    column = table.schema.get_field_index("missing_from_api_at")
    now = pa.array([datetime.now(UTC)] * table.num_rows, table.schema.field(column).type)
    return table.set_column(column, table.schema.field(column), now)
