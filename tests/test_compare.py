"""rows/compare.py at its seam, without HTTP or a destination: which runs' steps as loaded differ
from the API's."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from agent_runs.rows.compare import runs_whose_steps_differ
from agent_runs.rows.schema import RUN_STEPS_ARROW_SCHEMA


def steps(*rows: dict[str, Any]) -> pa.Table:
    base = {"provider": "tinyfish", "account": "default", "run_family": "runs", "kind": "step"}
    return pa.Table.from_pylist([{**base, **row} for row in rows], schema=RUN_STEPS_ARROW_SCHEMA)


AT = datetime(2026, 1, 1, tzinfo=UTC)
API = steps(
    {"run_id": "a", "step_id": "a-0", "step_index": 0, "started_at": AT, "extra": '{"x": 1, "y": [1, 2]}'},
    {"run_id": "a", "step_id": "a-1", "step_index": 1, "action": "click"},
    {"run_id": "b", "step_id": "b-0", "step_index": 0, "cost_usd": None},
    {"run_id": "c", "step_id": "c-0", "step_index": 0, "text": "done"},
)


def test_steps_equal_whatever_their_order_and_json_formatting_do_not_differ() -> None:
    held = steps(
        {"run_id": "c", "step_id": "c-0", "step_index": 0, "text": "done"},
        {"run_id": "b", "step_id": "b-0", "step_index": 0},
        {"run_id": "a", "step_id": "a-1", "step_index": 1, "action": "click"},
        {"run_id": "a", "step_id": "a-0", "step_index": 0, "started_at": AT, "extra": '{"y":[1,2],"x":1}'},
    )
    assert runs_whose_steps_differ(API, held) == []
    assert runs_whose_steps_differ(API.slice(0, 0), held.slice(0, 0)) == []


def test_a_step_missing_extra_twice_or_changed_makes_its_run_differ() -> None:
    held = steps(
        {"run_id": "a", "step_id": "a-0", "step_index": 0, "started_at": AT, "extra": '{"x": 2, "y": [1, 2]}'},
        {"run_id": "a", "step_id": "a-1", "step_index": 1, "action": "click"},
        {"run_id": "b", "step_id": "b-0", "step_index": 0},
        {"run_id": "b", "step_id": "b-0", "step_index": 0},  # held twice
        {"run_id": "d", "step_id": "d-0", "step_index": 0},  # a step of a run the API has none of
    )
    # a: JSON differs decoded; b: held twice; c: its step is missing; d: a step too many
    assert runs_whose_steps_differ(API, held) == ["a", "b", "c", "d"]
    changed = steps(*[{**row, "action": "type"} if row["step_id"] == "a-1" else row for row in API.to_pylist()])
    assert runs_whose_steps_differ(API, changed) == ["a"]
    assert runs_whose_steps_differ(API, API.slice(0, 0)) == ["a", "b", "c"]
