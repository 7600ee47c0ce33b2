"""Runs loaded while open are followed until they end: after every load each row equals the
API's current view, at a cost bounded by new + open runs, surviving a load that fails part-way."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

from agent_runs import PROVIDERS
from agent_runs.open_runs import changed_rows
from agent_runs.pipeline import load_runs, make_pipeline
from agent_runs.schema import RUNS_COLUMNS, TERMINAL_STATUSES, parse_timestamp, to_table
from agent_runs.settings import DATASET_NAME, RELIST_LAG
from agent_runs.simulators import Fault
from tests.utils import assert_table_equals_api, read_runs

OPEN_PHASES = ("pending", "running", "paused")


def open_count(rows: dict[tuple[str, str], dict[str, Any]], provider: str) -> int:
    return sum(row["status"] not in TERMINAL_STATUSES for (name, _), row in rows.items() if name == provider)


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_open_runs_are_followed_until_they_end(
    provider: str, provider_env: dict[str, str], simulators: dict[str, Any], workdir: Path
) -> None:
    simulator = simulators[provider]
    load_runs(providers=[provider])
    first = assert_table_equals_api(workdir, provider, simulator)
    open_before = open_count(first, provider)
    assert open_before >= 10, "the scenario needs runs loaded while open"

    for _ in range(3):  # runs finish (or not), new runs arrive, each load catches up
        simulator.requests.clear()
        visible_before = len(simulator.current_runs())
        simulator.clock.advance(40 * 60)
        new_runs = len(simulator.current_runs()) - visible_before
        summary = load_runs(providers=[provider])
        rows = assert_table_equals_api(workdir, provider, simulator)
        report = summary.open_runs_refresh[provider]
        assert report["open"] == open_before and report["by_listing"] + report["by_id"] == open_before
        # Cost: pages for the new runs (plus the boundary), and at most one request per open run.
        page_size = PROVIDERS[provider].lists[0].page_size
        assert len(simulator.requests) <= math.ceil((new_runs + 10) / page_size) + 1 + open_before
        by_id = [request for request in simulator.requests if request.path.count("/") > 2 + (provider == "browserbase")]
        assert len(by_id) == report["by_id"] and all(request.records == 1 for request in by_id)
        open_before = open_count(rows, provider)


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_a_load_with_nothing_new_asks_what_is_open_by_status_and_loads_nothing(
    provider: str, provider_env: dict[str, str], simulators: dict[str, Any], workdir: Path
) -> None:
    simulator = simulators[provider]
    load_runs(providers=[provider])
    first = read_runs(workdir / "agent-runs.duckdb")
    simulator.requests.clear()
    summary = load_runs(providers=[provider])  # the API's clock has not moved: nothing changed

    report = summary.open_runs_refresh[provider]
    open_now = open_count(first, provider)
    paused = sum(row["status"] == "paused" for row in first.values())  # not a documented filter value
    assert report["open"] == open_now >= 10
    assert (report["by_listing"], report["by_id"]) == (open_now - paused, paused)
    by_status = [request for request in simulator.requests if "status" in request.params]
    assert {request.params["status"] for request in by_status} == {
        open_filter["status"] for open_filter in PROVIDERS[provider].lists[0].open_run_filters
    }
    page_size = PROVIDERS[provider].lists[0].page_size
    pages_per_status = math.ceil(open_now / page_size)
    # one page of the listing, the open-status listings, the paused runs by id: a handful
    assert len(simulator.requests) <= 1 + len(by_status) + paused and len(by_status) <= 2 * pages_per_status
    assert summary.runs_by_provider[provider] == 0  # unchanged open runs are not written again
    assert read_runs(workdir / "agent-runs.duckdb") == first


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_a_load_that_fails_part_way_forgets_no_open_run(
    provider: str,
    provider_env: dict[str, str],
    simulators: dict[str, Any],
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    simulator = simulators[provider]
    monkeypatch.setattr(f"agent_runs.providers.{provider}.PAGE_SIZE", 50)  # more pages to fail between
    load_runs(providers=[provider])
    simulator.clock.advance(40 * 60)
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "2")
    simulator.faults.extend([None, None, None] + [Fault(500)] * 40)  # a few requests succeed, then all fail
    with pytest.raises(PipelineStepFailed, match="HTTP 500"):
        load_runs(providers=[provider])
    simulator.faults.clear()
    load_runs(providers=[provider])
    assert_table_equals_api(workdir, provider, simulator)


def test_a_run_gone_from_the_api_is_kept_and_flagged(
    provider_env: dict[str, str], tinyfish: Any, workdir: Path
) -> None:
    load_runs(providers=["tinyfish"])
    rows = read_runs(workdir / "agent-runs.duckdb")
    gone = next(run_id for (name, run_id), row in rows.items() if row["status"] == "running")
    tinyfish.removed.add(gone)
    tinyfish.clock.advance(600)
    summary = load_runs(providers=["tinyfish"])
    assert summary.open_runs_refresh["tinyfish"]["missing"] == 1
    after = read_runs(workdir / "agent-runs.duckdb")
    kept = after["tinyfish", gone]
    assert {column: kept[column] for column in RUNS_COLUMNS if column != "missing_from_api_at"} == {
        column: rows["tinyfish", gone][column] for column in RUNS_COLUMNS if column != "missing_from_api_at"
    }  # kept as last seen
    assert kept["missing_from_api_at"] is not None
    assert [key for key, row in after.items() if row["missing_from_api_at"] is not None] == [("tinyfish", gone)]
    tinyfish.requests.clear()
    load_runs(providers=["tinyfish"])
    assert not any(gone in request.path for request in tinyfish.requests)  # no longer followed


def test_open_runs_older_than_the_age_limit_are_given_up_keeping_their_last_seen_row(
    provider_env: dict[str, str], browserbase: Any, workdir: Path
) -> None:
    limit_days = 0.1  # 2.4 hours before the newest run the API has listed
    load_runs(providers=["browserbase"], open_runs_max_age_days=limit_days)
    first = read_runs(workdir / "agent-runs.duckdb")
    browserbase.clock.advance(3 * 3600)
    summary = load_runs(providers=["browserbase"], open_runs_max_age_days=limit_days)

    newest_loaded = max(row["created_at"] for row in first.values())  # the refresh runs before the listing
    cutoff = newest_loaded - timedelta(days=limit_days)
    given_up = {
        key for key, row in first.items() if row["status"] not in TERMINAL_STATUSES and row["created_at"] < cutoff
    }
    report = summary.open_runs_refresh["browserbase"]
    # Every load leaves out the open rows older than the limit, and says how many.
    assert given_up and report["open"] == open_count(first, "browserbase") - len(given_up)
    assert report["given_up"] == len(given_up) and report["by_listing"] + report["by_id"] == report["open"]
    after = read_runs(workdir / "agent-runs.duckdb")
    assert all(after[key] == first[key] for key in given_up)  # not asked again, row kept as last seen


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_a_run_open_for_weeks_is_followed_until_it_ends_and_the_state_keeps_nothing_per_open_run(
    provider: str, provider_env: dict[str, str], simulators: dict[str, Any], workdir: Path
) -> None:
    simulator = simulators[provider]
    load_runs(providers=[provider])
    zombies = [run for run in simulator.visible_runs() if run.finished_us is None]
    assert zombies, "the scenario needs runs that never end by themselves"
    for days in (10, 40):  # weeks pass: new runs, more loads; then a janitor cancels the zombies
        simulator.clock.advance(days * 86400)
        simulator.add_runs([simulator.clock.now_us - 60_000_000])
        summary = load_runs(providers=[provider])
        assert_table_equals_api(workdir, provider, simulator)
    for zombie in zombies:
        simulator.end_run(zombie.run_id, "cancelled")
    summary = load_runs(providers=[provider])
    rows = assert_table_equals_api(workdir, provider, simulator)
    assert all(rows[provider, zombie.run_id]["status"] == "cancelled" for zombie in zombies)
    open_now = {run.run_id for run in simulator.visible_runs() if run.phase(simulator.clock.now_us) in OPEN_PHASES}
    assert summary.open_runs_refresh[provider]["following"] == len(open_now)
    assert f"following {len(open_now):,} open runs until they end" in str(summary)

    # The runs to follow are the open rows themselves: the state holds only the ids of the
    # re-read window, all created within it.
    state = make_pipeline("duckdb", DATASET_NAME)[0].state["sources"]["agent_runs"]["resources"][f"{provider}_runs"]
    assert set(state) <= {"incremental", "newest_created_at", "recent_runs", "last_refresh", "listed_open"}
    window_start = max(row["created_at"] for row in rows.values()) - RELIST_LAG
    assert all(parse_timestamp(created) >= window_start for created in state["recent_runs"].values())


def test_a_refreshed_row_is_written_again_only_when_it_differs_from_the_loaded_one() -> None:
    record = {
        "run_id": "r1",
        "status": "RUNNING",
        "created_at": "2026-01-01T00:00:00Z",
        "num_of_steps": 3,
        "result": {"a": 1, "b": [1, 2]},
    }
    fields = PROVIDERS["tinyfish"].lists[0].fields
    loaded = to_table("tinyfish", fields, [record, {**record, "run_id": "r2"}, {**record, "run_id": "r3"}])
    # As a warehouse may give JSON back: the same value, written another way.
    loaded = loaded.set_column(
        loaded.schema.get_field_index("result"), "result", pa.array(['{"b": [1, 2], "a": 1}'] * 3, pa.string())
    )
    fresh = to_table(
        "tinyfish",
        fields,
        [
            record,  # unchanged
            {**record, "run_id": "r2", "num_of_steps": 4},  # a column changed
            {**record, "run_id": "r3", "result": {"a": 1, "b": [2, 1]}},  # the JSON changed
            {**record, "run_id": "r4"},  # never loaded
        ],
    )
    assert changed_rows(fresh, loaded)["run_id"].to_pylist() == ["r2", "r3", "r4"]
    assert changed_rows(fresh, fresh).num_rows == 0
