"""The mapping from each provider's record to the unified row: statuses, timestamp formats,
nothing dropped (unknown or mistyped fields land in `extra`), unusable records refused."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from agent_runs.schema import RUNS_ARROW_SCHEMA, RUNS_COLUMNS, TINYFISH_FIELDS, InvalidRecord, to_table, unified_status
from conftest import expected_rows

TINYFISH_RECORD = {
    "run_id": "a1b2",
    "status": "COMPLETED",
    "goal": "Find all pricing information",
    "created_at": "2026-01-14T10:30:00Z",
    "started_at": "2026-01-14T10:30:05.123Z",
    "finished_at": "2026-01-14T12:31:30.654321+02:00",
    "num_of_steps": 5,
    "result": {"prices": [1, 2]},
    "error": {"message": "Browser crashed", "category": "SYSTEM_FAILURE", "code": "service_busy", "retry_after": 60},
    "streaming_url": "https://stream.example/xyz",
    "browser_config": {"proxy_enabled": False, "proxy_country_code": "US"},
}


def to_row(provider: str, record: dict[str, Any]) -> dict[str, Any]:
    (row,) = expected_rows(provider, [record]).values()
    return row


def test_tinyfish_record_maps_to_every_column() -> None:
    row = to_row("tinyfish", TINYFISH_RECORD)
    assert list(row) == list(RUNS_COLUMNS)
    assert row["status"] == "completed" and row["provider_status"] == "COMPLETED"
    assert row["created_at"] == datetime(2026, 1, 14, 10, 30, tzinfo=UTC)
    assert row["started_at"] == datetime(2026, 1, 14, 10, 30, 5, 123000, tzinfo=UTC)
    assert row["finished_at"] == datetime(2026, 1, 14, 10, 31, 30, 654321, tzinfo=UTC)  # +02:00 made UTC
    assert row["duration_s"] == pytest.approx(85.531321)
    assert (row["error_code"], row["error_message"], row["error_category"]) == (
        "service_busy",
        "Browser crashed",
        "SYSTEM_FAILURE",
    )
    assert (row["proxy_enabled"], row["proxy_country_code"], row["num_steps"]) == (False, "US", 5)
    assert row["result"] == {"prices": [1, 2]} and row["result_schema"] is None
    assert row["extra"] == {"error": {"retry_after": 60}}  # the error field with no column


def test_browserbase_record_with_absent_optional_keys() -> None:
    record = {
        "runId": "r1",
        "task": "t",
        "status": "STOPPED",
        "createdAt": "2026-01-19T00:00:00.5Z",
        "updatedAt": "2026-01-19T00:00:01Z",
    }
    row = to_row("browserbase", record)
    assert row["status"] == "cancelled" and row["provider_status"] == "STOPPED"
    assert row["updated_at"] == datetime(2026, 1, 19, 0, 0, 1, tzinfo=UTC)
    assert row["agent_id"] is None and row["duration_s"] is None and row["extra"] is None


@pytest.mark.parametrize(
    ("raw", "unified"),
    [
        ("PENDING", "pending"),
        ("RUNNING", "running"),
        ("PAUSED", "paused"),
        ("TIMED_OUT", "timed_out"),
        ("STOPPED", "cancelled"),
        ("CANCELLED", "cancelled"),
        ("FAILED", "failed"),
        ("ARCHIVED", "unknown"),
        (None, "unknown"),
    ],
)
def test_statuses(raw: str | None, unified: str) -> None:
    assert unified_status(raw) == unified


def test_nanosecond_timestamps_keep_the_microseconds() -> None:
    row = to_row("browserbase", {"runId": "r", "createdAt": "2026-01-19T00:00:00.123456789Z"})
    assert row["created_at"] == datetime(2026, 1, 19, 0, 0, 0, 123456, tzinfo=UTC)


def test_unknown_and_mistyped_fields_are_kept_in_extra() -> None:
    record = dict(
        TINYFISH_RECORD,
        num_of_steps="five",  # wrong type: column null, value kept
        started_at="not a time",
        browser_config="residential",  # a nested object that arrived as a string
        labels=["a", "b"],  # a field the API did not have yesterday
        status="ARCHIVED",
    )
    row = to_row("tinyfish", record)
    assert row["num_steps"] is None and row["started_at"] is None and row["proxy_enabled"] is None
    assert row["status"] == "unknown" and row["provider_status"] == "ARCHIVED"
    assert row["extra"] == {
        "num_of_steps": "five",
        "started_at": "not a time",
        "browser_config": "residential",
        "labels": ["a", "b"],
        "error": {"retry_after": 60},
    }


def test_numeric_codes_are_coerced_to_text() -> None:
    row = to_row("browserbase", {"runId": "r", "createdAt": "2026-01-19T00:00:00Z", "cause": {"code": 503}})
    assert row["error_code"] == "503" and row["extra"] is None


@pytest.mark.parametrize("missing", ["run_id", "created_at"])
def test_records_without_a_key_are_refused(missing: str) -> None:
    record = {key: value for key, value in TINYFISH_RECORD.items() if key != missing}
    with pytest.raises(InvalidRecord, match=missing):
        to_row("tinyfish", record)


def test_one_odd_value_leaves_the_rest_of_the_page_exact() -> None:
    """A page is converted column by column; one mistyped value must not disturb its neighbours."""
    odd = dict(TINYFISH_RECORD, run_id="odd", num_of_steps=True, created_at="2026-01-14T10:30:00")  # naive: UTC
    rows = expected_rows("tinyfish", [TINYFISH_RECORD, odd])
    assert rows["a1b2"] == to_row("tinyfish", TINYFISH_RECORD)
    assert rows["odd"]["num_steps"] is None and rows["odd"]["extra"]["num_of_steps"] is True
    assert rows["odd"]["created_at"] == datetime(2026, 1, 14, 10, 30, tzinfo=UTC)


def test_a_page_becomes_an_arrow_table_in_the_runs_schema() -> None:
    table = to_table("tinyfish", TINYFISH_FIELDS, [TINYFISH_RECORD] * 3)
    assert table.schema == RUNS_ARROW_SCHEMA and table.num_rows == 3
