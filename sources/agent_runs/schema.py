"""The unified `runs` table: its columns, and the one place each provider's record becomes a row.

Each provider is described by a field map (unified column -> path in the API's record). A value
that is missing becomes null; a value of the wrong type becomes null in its column and is kept,
as sent, in `extra` together with every field the map does not know - so no field the API sends
is ever dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from dlt.common.schema.typing import TTableSchemaColumns

UNIFIED_STATUSES = frozenset({"pending", "running", "paused", "completed", "failed", "cancelled", "timed_out"})
TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled", "timed_out"})
# Provider spellings that are not simply the lower-case unified name.
STATUS_ALIASES = {"STOPPED": "cancelled", "CANCELED": "cancelled"}


def _column(data_type: str, description: str, **hints: Any) -> dict[str, Any]:
    return {"data_type": data_type, "description": description, **hints}


def _timestamp(description: str, **hints: Any) -> dict[str, Any]:
    return _column("timestamp", description, timezone=True, precision=6, **hints)


RUNS_COLUMNS: TTableSchemaColumns = {
    "provider": _column("text", "tinyfish or browserbase", nullable=False, primary_key=True),
    "run_id": _column("text", "the provider's run id", nullable=False, primary_key=True),
    "status": _column("text", "unified: " + ", ".join(sorted(UNIFIED_STATUSES)) + " or unknown", nullable=False),
    "provider_status": _column("text", "the status string exactly as the API sent it"),
    "task": _column("text", "the natural-language task (TinyFish: goal)"),
    "created_at": _timestamp("when the run was created (UTC)", nullable=False),
    "started_at": _timestamp("when the run started executing (UTC)"),
    "finished_at": _timestamp("when the run ended (UTC; Browserbase: endedAt)"),
    "updated_at": _timestamp("last change reported by the API (Browserbase only)"),
    "num_steps": _column("bigint", "steps the agent took (TinyFish only)"),
    "result": _column("json", "the run's structured result"),
    "result_schema": _column("json", "the JSON Schema asked for (TinyFish: output_schema)"),
    "error_code": _column("text", "TinyFish error.code / Browserbase cause.code"),
    "error_message": _column("text", "TinyFish error.message / Browserbase cause.message"),
    "error_category": _column("text", "TinyFish error.category"),
    "agent_id": _column("text", "Browserbase agent, absent for ad-hoc runs"),
    "session_id": _column("text", "Browserbase session"),
    "sandbox_id": _column("text", "Browserbase sandbox"),
    "streaming_url": _column("text", "TinyFish live view"),
    "proxy_enabled": _column("bool", "TinyFish browser_config.proxy_enabled"),
    "proxy_country_code": _column("text", "TinyFish browser_config.proxy_country_code"),
    "duration_s": _column("double", "finished_at - started_at, in seconds"),
    "extra": _column("json", "every field the API sent that has no column above"),
    "missing_from_api_at": _timestamp(
        "set when the API answered 404 for a run it had listed; the row keeps its last-seen values"
    ),
}

FieldMap = Mapping[str, tuple[str, ...]]

TINYFISH_FIELDS: FieldMap = {
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

BROWSERBASE_FIELDS: FieldMap = {
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
    "agent_id": ("agentId",),
    "session_id": ("sessionId",),
    "sandbox_id": ("sandboxId",),
}

REQUIRED_COLUMNS = ("run_id", "created_at")


class InvalidRecord(ValueError):
    """A run the connector cannot key: it has no usable run id or creation time."""


def unified_status(provider_status: Any) -> str:
    if not isinstance(provider_status, str):
        return "unknown"
    upper = provider_status.upper()
    if upper in STATUS_ALIASES:
        return STATUS_ALIASES[upper]
    lower = provider_status.lower()
    return lower if lower in UNIFIED_STATUSES else "unknown"


def parse_timestamp(value: Any) -> datetime:
    """Any RFC 3339 / ISO 8601 form the APIs use (`Z`, `.123Z`, `+00:00`) as an aware UTC datetime,
    exact to the microsecond (finer digits are truncated). A value with no offset is read as UTC."""
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO 8601 string, got {type(value).__name__}")
    moment = datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # a numeric code is still a code: coerced, nothing lost
    raise TypeError(f"expected a string, got {type(value).__name__}")


def _integer(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise TypeError(f"expected an integer, got {type(value).__name__}")


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise TypeError(f"expected a boolean, got {type(value).__name__}")


def _any_json(value: Any) -> Any:
    return value


CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "text": _text,
    "timestamp": parse_timestamp,
    "bigint": _integer,
    "bool": _boolean,
    "double": float,
    "json": _any_json,
}


def to_row(provider: str, fields: FieldMap, record: Mapping[str, Any]) -> dict[str, Any]:
    """One API record as one `runs` row (every column present, in table order)."""
    if not isinstance(record, Mapping):
        raise InvalidRecord(f"expected a run object, got {type(record).__name__}")
    extra: dict[str, Any] = dict(record)
    nested_left: dict[str, dict[str, Any]] = {}
    row: dict[str, Any] = dict.fromkeys(RUNS_COLUMNS)
    row["provider"] = provider
    for column, path in fields.items():
        head = path[0]
        if len(path) == 1:
            raw = extra.pop(head, None)
        else:
            parent = record.get(head)
            if not isinstance(parent, Mapping):
                if parent is None:
                    extra.pop(head, None)
                continue  # a parent of the wrong type stays whole in extra
            left = nested_left.setdefault(head, dict(parent))
            raw = left.pop(path[1], None)
        if raw is None:
            continue
        try:
            row[column] = CONVERTERS[RUNS_COLUMNS[column]["data_type"]](raw)
        except (TypeError, ValueError):
            # Kept as sent rather than aborting the load: the column stays null.
            if len(path) == 1:
                extra[head] = raw
            else:
                nested_left[head][path[1]] = raw
    for head, left in nested_left.items():
        if left:
            extra[head] = left
        else:
            del extra[head]

    for column in REQUIRED_COLUMNS:
        if row[column] is None:
            path = ".".join(fields[column])
            raise InvalidRecord(f"run without a valid `{path}`: {_preview(record)}")
    row["status"] = unified_status(row["provider_status"])
    if row["started_at"] is not None and row["finished_at"] is not None:
        row["duration_s"] = (row["finished_at"] - row["started_at"]).total_seconds()
    row["extra"] = extra or None
    return row


def _preview(record: Mapping[str, Any], limit: int = 200) -> str:
    text = repr(dict(record))
    return text if len(text) <= limit else text[:limit] + "..."
