"""The analytics views, on a known simulator data set: every number equals the same figure
computed in Python from the loaded `runs` rows; days are UTC days whatever the session's zone."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from agent_runs.analytics.views import ALL_VIEWS, view_statements
from agent_runs.loading.pipeline import load_runs
from agent_runs.rows.schema import TERMINAL_STATUSES
from tests.utils import read_runs


def percentile_cont(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@pytest.fixture
def loaded(provider_env: dict[str, str], simulators: dict[str, Any], workdir: Path) -> tuple[list[dict[str, Any]], Any]:
    load_runs()
    database = workdir / "agent-runs.duckdb"
    rows = list(read_runs(database).values())
    connection = duckdb.connect(str(database), read_only=True)
    connection.execute("SET TimeZone = 'America/Los_Angeles'")  # an analyst far from UTC
    yield rows, connection
    connection.close()


def view(connection: Any, name: str) -> list[dict[str, Any]]:
    cursor = connection.execute(f"SELECT * FROM agent_runs.{name}")
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


def day(row: dict[str, Any]) -> Any:
    return row["created_at"].astimezone(UTC).date()


@pytest.mark.runs(browserbase=2300)  # a history of several days
def test_runs_daily(loaded: tuple[list[dict[str, Any]], Any]) -> None:
    rows, connection = loaded
    expected = Counter((day(row), row["provider"], row["status"]) for row in rows)
    got = {(item["day"], item["provider"], item["status"]): item for item in view(connection, "runs_daily")}
    assert {key: item["runs"] for key, item in got.items()} == dict(expected)
    for (_, _, status), item in got.items():
        terminal = status in TERMINAL_STATUSES
        assert (item["terminal_runs"], item["open_runs"]) == ((item["runs"], 0) if terminal else (0, item["runs"]))
    assert len({key[0] for key in got}) >= 2, "the data set should span several days"


def test_run_outcomes(loaded: tuple[list[dict[str, Any]], Any]) -> None:
    rows, connection = loaded
    groups: dict[tuple[Any, ...], Counter[str]] = defaultdict(Counter)
    for row in rows:
        groups[day(row), row["provider"], row["agent_id"]][row["status"]] += 1
    got = {(item["day"], item["provider"], item["agent_id"]): item for item in view(connection, "run_outcomes")}
    assert set(got) == set(groups)
    for key, counts in groups.items():
        item = got[key]
        assert [item[status] for status in ("completed", "failed", "cancelled", "timed_out")] == [
            counts[status] for status in ("completed", "failed", "cancelled", "timed_out")
        ]
        terminal = sum(counts[status] for status in TERMINAL_STATUSES)
        assert item["success_rate"] == (pytest.approx(counts["completed"] / terminal) if terminal else None)


def test_run_costs(loaded: tuple[list[dict[str, Any]], Any]) -> None:
    rows, connection = loaded
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[day(row), row["provider"], row["model"]].append(row)
    got = {(item["day"], item["provider"], item["model"]): item for item in view(connection, "run_costs")}
    assert set(got) == set(groups)
    for key, members in groups.items():
        costs = [row["cost_usd"] for row in members if row["cost_usd"] is not None]
        counted = [row["credits"] for row in members if row["credits"] is not None]
        item = got[key]
        assert (item["runs"], item["runs_with_cost"]) == (len(members), len(costs))
        assert item["cost_usd"] == (sum(costs) if costs else None)  # no cost reported: null, never 0
        assert item["credits"] == (pytest.approx(sum(counted)) if counted else None)
    assert any(item["cost_usd"] is None for item in got.values()) and any(item["cost_usd"] for item in got.values())


def test_run_goals_and_cost_per_goal(loaded: tuple[list[dict[str, Any]], Any]) -> None:
    rows, connection = loaded
    ended = [row for row in rows if row["status"] in TERMINAL_STATUSES]
    goals = {(item["provider"], item["model"]): item for item in view(connection, "run_goals")}
    assert set(goals) == {(row["provider"], row["model"]) for row in ended}
    for (provider, model), item in goals.items():
        members = [row for row in ended if (row["provider"], row["model"]) == (provider, model)]
        judged = [row["goal_achieved"] for row in members if row["goal_achieved"] is not None]
        completed = sum(row["status"] == "completed" for row in members)
        assert (item["terminal_runs"], item["completed"], item["judged_runs"]) == (len(members), completed, len(judged))
        assert item["completion_rate"] == pytest.approx(completed / len(members))
        assert item["goal_rate"] == (pytest.approx(sum(judged) / len(judged)) if judged else None)
    assert any(
        item["goal_rate"] is not None and item["goal_rate"] != item["completion_rate"] for item in goals.values()
    )
    per_goal = {(item["provider"], item["model"]): item for item in view(connection, "cost_per_goal")}
    for key, item in per_goal.items():
        members = [row for row in rows if (row["provider"], row["model"]) == key]
        both = [row for row in members if row["cost_usd"] is not None and row["goal_achieved"] is not None]
        achieved = sum(row["goal_achieved"] for row in both)
        assert item["cost_usd"] == sum(row["cost_usd"] for row in both) and item["goals_achieved"] == achieved
        assert (item["cost_per_goal_usd"] is None) == (achieved == 0)
        if achieved:
            assert float(item["cost_per_goal_usd"]) == pytest.approx(float(item["cost_usd"]) / achieved)
    assert per_goal and {provider for provider, _ in per_goal} == {"browser_use"}  # the one that reports both


def test_run_durations(loaded: tuple[list[dict[str, Any]], Any]) -> None:
    rows, connection = loaded
    durations: dict[tuple[Any, str], list[float]] = defaultdict(list)
    queues: dict[tuple[Any, str], list[float]] = defaultdict(list)
    for row in rows:
        if row["duration_s"] is not None:
            durations[day(row), row["provider"]].append(row["duration_s"])
        if row["started_at"] is not None:
            queues[day(row), row["provider"]].append((row["started_at"] - row["created_at"]).total_seconds())
    items = view(connection, "run_durations")
    assert {(item["day"], item["provider"]) for item in items} == {(day(row), row["provider"]) for row in rows}
    assert sum(item["finished_runs"] for item in items) == sum(map(len, durations.values())) > 0
    for item in items:
        key = (item["day"], item["provider"])
        assert item["finished_runs"] == len(durations[key])
        for fraction, label in ((0.5, 50), (0.9, 90), (0.99, 99)):
            assert item[f"duration_s_p{label}"] == pytest.approx(percentile_cont(durations[key], fraction))
            assert item[f"queue_s_p{label}"] == pytest.approx(percentile_cont(queues[key], fraction))


def test_run_failures(loaded: tuple[list[dict[str, Any]], Any]) -> None:
    rows, connection = loaded
    failing = [row for row in rows if row["status"] in ("failed", "timed_out") or row["error_code"] is not None]
    expected: dict[tuple[Any, ...], list[datetime]] = defaultdict(list)
    for row in failing:
        key = (row["provider"], row["error_code"], row["error_category"], row["error_message"])
        expected[key].append(row["created_at"])
    got = {
        (item["provider"], item["error_code"], item["error_category"], item["error_message"]): item
        for item in view(connection, "run_failures")
    }
    assert {key: item["runs"] for key, item in got.items()} == {key: len(times) for key, times in expected.items()}
    assert all(got[key]["last_seen"] == max(times) for key, times in expected.items())
    assert any(key[2] == "SYSTEM_FAILURE" for key in got) and any(key[0] == "browserbase" for key in got)


def test_open_runs(loaded: tuple[list[dict[str, Any]], Any]) -> None:
    rows, connection = loaded
    expected = {
        (row["provider"], row["run_id"]): row["created_at"] for row in rows if row["status"] not in TERMINAL_STATUSES
    }
    before = datetime.now(UTC)
    got = view(connection, "open_runs")
    after = datetime.now(UTC)
    assert {(item["provider"], item["run_id"]) for item in got} == set(expected) and expected
    for item in got:  # measured at the query's own time, which lies between the two readings
        created = expected[item["provider"], item["run_id"]]
        earliest, latest = ((moment - created).total_seconds() / 3600 for moment in (before, after))
        assert earliest - 1e-6 <= item["age_hours"] <= latest + 1e-6


def test_one_definition_serves_both_dialects() -> None:
    postgres = view_statements('"ds"."runs"', lambda name: f'"ds"."{name}"', "postgres", '"ds"."run_steps"')
    duckdb_sql = view_statements('"ds"."runs"', lambda name: f'"ds"."{name}"', "duckdb", '"ds"."run_steps"')
    assert len(postgres) == len(duckdb_sql) == len(ALL_VIEWS)
    durations = list(ALL_VIEWS).index("run_durations")
    assert "WITHIN GROUP" in postgres[durations] and "QUANTILE_CONT" in duckdb_sql[durations]


def test_a_load_that_changed_nothing_only_creates_missing_views(
    provider_env: dict[str, str], tinyfish: Any, workdir: Path
) -> None:
    load_runs(providers=["tinyfish"])
    database = str(workdir / "agent-runs.duckdb")
    with duckdb.connect(database) as connection:
        connection.execute("CREATE OR REPLACE VIEW agent_runs.open_runs AS SELECT 1 AS marker")
    assert load_runs(providers=["tinyfish"]).total_runs == 0  # the API's clock has not moved
    with duckdb.connect(database) as connection:
        assert view(connection, "open_runs") == [{"marker": 1}]  # not translated and replaced again
        connection.execute("DROP VIEW agent_runs.run_failures")
    load_runs(providers=["tinyfish"])
    with duckdb.connect(database) as connection:
        assert {
            row[0] for row in connection.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()
        } == set(ALL_VIEWS)
        assert "marker" not in view(connection, "open_runs")[0]
