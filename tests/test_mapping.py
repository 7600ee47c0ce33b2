"""The mapping from each provider's record to the unified row: statuses, timestamp formats,
nothing dropped (unknown or mistyped fields land in `extra`), unusable records refused."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from enum import Enum
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

import browser_use_sdk.generated.v2.models as browser_use_v2
import browser_use_sdk.generated.v4.models as browser_use_v4
import browserbase.types.agents.run_list_response as browserbase_types
import pydantic
import pytest
import skyvern.client.types as skyvern_types
import tinyfish.runs.types as tinyfish_types
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent_runs import PROVIDERS
from agent_runs.errors import InvalidRecord
from agent_runs.rows import mapping
from agent_runs.rows.from_pages import page_rows
from agent_runs.rows.mapping import CONVERTERS, Derived, to_table
from agent_runs.rows.schema import RUNS_ARROW_SCHEMA, RUNS_COLUMNS, UNIFIED_STATUSES
from agent_runs.sending.by_id import without_detail
from tests.utils import JSON_COLUMNS


def expected_rows(provider: str, records: list[dict[str, Any]], account: str = "default") -> dict[str, dict[str, Any]]:
    """The `runs` rows the schema module makes of these API records, by run id, JSON decoded."""
    rows = (
        to_table(
            provider, PROVIDERS[provider].lists[0].fields, records, account, PROVIDERS[provider].lists[0].status_map
        ).to_pylist()
        if records
        else []
    )
    for row in rows:
        for column in JSON_COLUMNS:
            if row[column] is not None:
                row[column] = json.loads(row[column])
    return {row["run_id"]: row for row in rows}


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
    table = to_table("tinyfish", PROVIDERS["tinyfish"].lists[0].fields, [TINYFISH_RECORD] * 3)
    assert table.schema == RUNS_ARROW_SCHEMA and table.num_rows == 3


# --- Property tests: pages generated from the official SDKs' models, valid but adversarial ------

JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()  # beyond 64 bits too
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=2000)
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=40,
)
TIMESTAMPS = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]),
).map(lambda moment: moment.isoformat().replace("+00:00", "Z"))


def strategy_for(annotation: Any) -> st.SearchStrategy[Any]:
    """Values of a model field's type as they appear on the wire, or anything at all (a type the
    API changed, a null where none was promised) now and then."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, UnionType):
        return st.one_of([strategy_for(arg) for arg in args])
    if annotation is type(None):
        return st.none()
    if origin is Literal:
        return st.sampled_from(args)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return st.sampled_from([member.value for member in annotation])
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return wire_records(annotation)
    if annotation is datetime:
        return TIMESTAMPS
    if annotation is uuid.UUID:
        return st.uuids().map(str)
    if annotation is str:
        return st.text(max_size=300)
    if annotation is bool:
        return st.booleans()
    if annotation is int:
        return st.integers(min_value=-(2**63), max_value=2**63 - 1)
    return JSON_VALUES  # dict[str, object] and the like


def wire_records(model: type[pydantic.BaseModel]) -> st.SearchStrategy[dict[str, Any]]:
    fields = {
        info.alias or name: st.one_of(strategy_for(info.annotation), JSON_LEAVES)
        if name not in REQUIRED
        else strategy_for(info.annotation)
        for name, info in model.model_fields.items()
    }
    return st.fixed_dictionaries({}, optional=fields).flatmap(
        lambda record: st.dictionaries(st.text(min_size=1, max_size=12), JSON_VALUES, max_size=3).map(
            lambda unknown: {**unknown, **record}  # fields the published models do not have (yet)
        )
    )


REQUIRED = {"run_id", "created_at", "id", "workflow_run_id"}  # the model fields that key a run
# Each run list by `<provider>/<list>`, with the SDK's model of its records.
SDK_MODELS = {
    "tinyfish/runs": tinyfish_types.Run,
    "browserbase/agent_runs": browserbase_types.Data,
    "browser_use/v2_tasks": browser_use_v2.TaskItemView,
    "browser_use/v4_runs": browser_use_v4.RunSummary,
    "skyvern/workflows": skyvern_types.WorkflowRun,
    "skyvern/tasks": skyvern_types.TaskRunListItem,
}
# The contract as the README's table states it, written here again on purpose: the property test
# checks the mapping against the contract, not against itself.
CONTRACT: dict[str, dict[str, tuple[str, ...]]] = {
    "tinyfish/runs": {
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
    },
    "browserbase/agent_runs": {
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
    },
    "browser_use/v2_tasks": {
        "run_id": ("id",),
        "provider_status": ("status",),
        "task": ("task",),
        "created_at": ("createdAt",),
        "started_at": ("startedAt",),
        "finished_at": ("finishedAt",),
        "result": ("output",),
        "session_id": ("sessionId",),
        "model": ("llm",),
        "cost_usd": ("cost",),
    },
    "browser_use/v4_runs": {
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
        "cost_usd": ("totalCostUsd",),
        "input_tokens": ("totalInputTokens",),
        "output_tokens": ("totalOutputTokens",),
    },
    "skyvern/workflows": {
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
    },
    "skyvern/tasks": {
        "run_id": ("run_id",),
        "provider_status": ("status",),
        "task": ("title",),
        "agent_id": ("workflow_permanent_id",),
        "created_at": ("created_at",),
        "started_at": ("started_at",),
        "finished_at": ("finished_at",),
    },
}
# Columns given by more than a path: a verdict from the most trusted who gave one (the verdicts are
# taken by the column), counters summed (each also in `extra`), JSON sent as text (decoded).
VERDICTS = {"browser_use/v2_tasks": (("judge", "judgeVerdict"), ("agent", "isSuccess"))}
SUMMED = {"skyvern/workflows": ("credits", ("credits_used", "cached_credits_used"))}
JSON_TEXT = {"browser_use/v2_tasks": ("result", "output")}
# Keys only a run read by id carries (steps, recordings): a row never depends on whether they came.
BY_ID_ONLY = {"tinyfish/runs": ("steps", "video_url"), "browser_use/v2_tasks": ("steps", "outputFiles")}
# Request headers, webhooks and TOTP settings and CDP addresses a run carries: never stored, not even in `extra`.
NEVER_STORED = {
    "skyvern": {
        "browser_address",
        "extra_http_headers",
        "cdp_connect_headers",
        "webhook_callback_url",
        "totp_verification_url",
        "totp_identifier",
    }
}


def run_list_of(key: str) -> Any:
    provider, name = key.split("/")
    return next(run_list for run_list in PROVIDERS[provider].lists if run_list.name == name)


def assert_nothing_lost(provider: str, record: dict[str, Any], row: dict[str, Any]) -> None:
    """Every value the API sent is in its column (read the same way the per-value path reads it)
    or, as sent, in `extra` (secrets excepted: nowhere)."""
    fields = CONTRACT[provider]
    extra = json.loads(row["extra"]) if row["extra"] is not None else {}
    by_path = {path: column for column, path in fields.items()}
    secrets = NEVER_STORED.get(provider.split("/")[0], set())
    verdicts = [(who, key) for who, key in VERDICTS.get(provider, ()) if isinstance(record.get(key), bool)]
    if VERDICTS.get(provider):
        assert (row["goal_achieved"], row["goal_verdict_by"]) == (
            (record[verdicts[0][1]], verdicts[0][0]) if verdicts else (None, None)
        )
    if provider in SUMMED:
        column, counters = SUMMED[provider]
        counts = [record[key] for key in counters if valid_as("double", record.get(key))]
        assert row[column] == (sum(map(float, counts)) if counts else None)
    decoded_column, text_key = JSON_TEXT.get(provider, (None, None))
    for key, value in record.items():
        if key in secrets:
            assert key not in extra
        elif key in dict(VERDICTS.get(provider, ())).values():
            assert key not in extra if value is None or isinstance(value, bool) else extra[key] == value
        elif key == text_key and isinstance(value, str) and row[decoded_column] is not None:
            assert json.loads(row[decoded_column]) in (value, mapping.decoded_json_text(value))
        elif (key,) in by_path:
            column = by_path[(key,)]
            if value is None:
                continue
            if row[column] is None:
                assert extra[key] == value, (key, value)
            else:
                assert holds(column, row[column], value)
        elif any(path[0] == key for path in by_path):
            if not isinstance(value, dict):
                assert value is None or extra[key] == value
                continue
            for sub_key, sub_value in value.items():
                column = by_path.get((key, sub_key))
                if column is None or (sub_value is not None and row[column] is None):
                    assert extra[key][sub_key] == sub_value
                elif sub_value is not None:
                    assert holds(column, row[column], sub_value)
        else:
            assert extra[key] == value


def holds(column: str, stored: Any, sent: Any) -> bool:
    """The column holds the value sent: JSON exactly, anything else as the per-value path reads it."""
    data_type = RUNS_COLUMNS[column]["data_type"]
    return json.loads(stored) == sent if data_type == "json" else stored == CONVERTERS[data_type](sent)


def test_every_run_list_has_an_sdk_model_and_a_contract() -> None:
    lists = {f"{name}/{run_list.name}" for name, provider in PROVIDERS.items() for run_list in provider.lists}
    assert lists == set(SDK_MODELS) == set(CONTRACT)


@pytest.mark.parametrize("provider", list(SDK_MODELS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example])
@given(data=st.data())
def test_generated_pages_lose_nothing_and_never_crash(provider: str, data: st.DataObject) -> None:
    records = data.draw(st.lists(wire_records(SDK_MODELS[provider]), min_size=1, max_size=8), label="page")
    fields = CONTRACT[provider]
    run_list = run_list_of(provider)
    try:
        table = to_table(
            provider.split("/")[0],
            run_list.fields,
            records,
            statuses=run_list.status_map,
            run_family=run_list.name,
            secret_fields=run_list.secret_fields,
            derived=Derived(run_list.summed_fields, run_list.verdicts, run_list.json_text_fields),
        )
    except InvalidRecord:
        # Only a run without a usable key may stop the load.
        assert any(
            not isinstance(record.get(fields[column][0]), str) or not valid(record, fields, column)
            for record in records
            for column in ("run_id", "created_at")
        )
        return
    assert table.schema == RUNS_ARROW_SCHEMA
    for record, row in zip(records, table.to_pylist(), strict=True):
        assert row["status"] in UNIFIED_STATUSES | {"unknown"}
        assert_nothing_lost(provider, record, row)


@pytest.mark.parametrize("provider", list(BY_ID_ONLY))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example])
@given(data=st.data())
def test_a_row_is_the_same_whichever_endpoint_read_the_run(provider: str, data: st.DataObject) -> None:
    """What only a by-id read carries (steps with base64 screenshots, a presigned recording URL)
    changes nothing in the row: neither a column nor `extra`."""
    run_list = run_list_of(provider)
    records = data.draw(st.lists(wire_records(SDK_MODELS[provider]), min_size=1, max_size=4), label="page")
    keys = [(CONTRACT[provider][column][0], RUNS_COLUMNS[column]["data_type"]) for column in ("run_id", "created_at")]
    records = [record for record in records if all(valid_as(kind, record.get(key)) for key, kind in keys)]
    detailed = [
        {
            **record,
            **dict.fromkeys(BY_ID_ONLY[provider], None),
            BY_ID_ONLY[provider][0]: [{"id": "evt_1", "screenshot": "data:image/jpeg;base64,/9j/4AAQ"}],
            BY_ID_ONLY[provider][1]: "https://s3.amazonaws.com/b/r.webm?X-Amz-Signature=abc",
        }
        for record in records
    ]
    listed = page_rows(run_list, [dict(record) for record in records], "a page")
    by_id = page_rows(run_list, [without_detail(run_list, record) for record in detailed], "a run by id")
    assert by_id.equals(listed)
    assert "X-Amz-Signature" not in str(by_id.to_pylist()) and "base64" not in str(by_id.to_pylist())


def valid_as(data_type: str, value: Any) -> bool:
    try:
        CONVERTERS[data_type](value)
    except (TypeError, ValueError):
        return False
    return True


def valid(record: dict[str, Any], fields: Any, column: str) -> bool:
    try:
        CONVERTERS[RUNS_COLUMNS[column]["data_type"]](record[fields[column][0]])
    except (TypeError, ValueError):
        return False
    return True


@pytest.mark.parametrize(
    "created",
    [
        ["2026-01-19T10:00:00.5", "2026-01-19T11:00:00"],  # all without an offset: the whole column at once
        ["2026-01-19T10:00:00.5", "2026-01-19T12:00:00+01:00"],  # a mix: value by value
    ],
)
def test_timestamps_without_an_offset_are_utc(created: list[str]) -> None:
    records = [{"runId": f"r{index}", "createdAt": value} for index, value in enumerate(created)]
    rows = expected_rows("browserbase", records)
    assert [rows[f"r{index}"]["created_at"] for index in range(2)] == [
        datetime(2026, 1, 19, 10, 0, 0, 500000, tzinfo=UTC),
        datetime(2026, 1, 19, 11, 0, tzinfo=UTC),
    ]
