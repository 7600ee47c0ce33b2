"""Runs loaded while open are followed until they end: after every load each row equals the
API's current view, at a cost bounded by new + open runs, surviving a load that fails part-way."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from agent_runs import PROVIDERS
from agent_runs.loading.pipeline import load_runs, make_pipeline
from agent_runs.rows.compare import changed_rows
from agent_runs.rows.mapping import to_table
from agent_runs.rows.schema import RUNS_COLUMNS, TERMINAL_STATUSES, parse_timestamp
from agent_runs.settings import DATASET_NAME, RELIST_LAG
from agent_runs.simulators import Fault
from tests.utils import (
    assert_table_equals_api,
    by_id_requests,
    confirmations,
    listing_state_names,
    open_filter_values,
    read_runs,
    refresh_report,
    small_pages,
)

OPEN_PHASES = ("pending", "running", "paused")


def open_count(rows: dict[tuple[str, str], dict[str, Any]], provider: str) -> int:
    return sum(row["status"] not in TERMINAL_STATUSES for (name, _), row in rows.items() if name == provider)


@pytest.mark.runs(skyvern=1300)  # Skyvern: open runs beyond the first pages of the open-status listings
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
        summary = load_runs(providers=[provider], steps=False)  # the cost of keeping runs current (steps: test_steps)
        rows = assert_table_equals_api(workdir, provider, simulator)
        report = refresh_report(summary, provider)
        assert report["open"] == open_before and report["by_listing"] + report["by_id"] == open_before
        # Cost: a list's pages for the new runs (plus the boundary and a probe of the server's clock),
        # its open-run listings, and at most one request per open run; a list whose status lags
        # confirms each run it lists open by its own read: one more per open run, old or new.
        lists = PROVIDERS[provider].lists
        pages = sum(math.ceil((new_runs + 10) / run_list.page_size) + 2 for run_list in lists)
        confirmed = confirmations(simulator, provider)
        assert len(confirmed) <= open_before + new_runs
        # and a list whose runs gain fields after they end reads the runs that ended lately once more
        settling = report.get("settling", 0)
        assert len(simulator.requests) <= pages + report["listing_pages"] + open_before + len(confirmed) + settling
        by_id = by_id_requests(simulator, provider)
        batch = next((run_list.batch_read for run_list in lists if run_list.batch_read), None)
        if batch is not None:  # many runs a request: the fewest requests that hold them
            wanted = report["by_id"] + settling
            assert len(by_id) == math.ceil(wanted / batch.max_ids) and sum(r.records for r in by_id) <= wanted
        else:
            assert len(by_id) == report["by_id"] + settling and all(request.records == 1 for request in by_id)
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

    report = refresh_report(summary, provider)
    open_now = open_count(first, provider)
    # Open runs in a status the list cannot be asked for (Browserbase's PAUSED; every status of a
    # list without a status filter) are fetched by id; the others come with the open-run listings.
    open_rows = [row for row in first.values() if row["status"] not in TERMINAL_STATUSES]
    unlisted = sum(row["provider_status"] not in open_filter_values(provider, row["run_family"]) for row in open_rows)
    assert report["open"] == open_now >= 10
    assert (report["by_listing"], report["by_id"]) == (open_now - unlisted, unlisted)
    by_status = []
    for run_list in PROVIDERS[provider].lists:
        keys = {key for open_filter in run_list.open_run_filters for key in open_filter}
        asked = [r for r in simulator.requests if r.path == run_list.runs_path and keys & set(r.params)]
        assert {value for r in asked for key in keys for value in r.query.get(key, [])} == open_filter_values(
            provider, run_list.name
        )
        by_status += asked
    pages_per_status = sum(
        len(run_list.open_run_filters) * math.ceil(open_now / run_list.page_size)
        for run_list in PROVIDERS[provider].lists
    )
    # a page of each list (and a probe of the server's clock), the open-status listings, the rest by id: a handful
    lists = len(PROVIDERS[provider].lists)
    # a list whose status lags reads each open run it lists once more (confirmations)
    confirmed = confirmations(simulator, provider)
    assert len(confirmed) <= len(open_rows)
    # and a list whose runs gain fields after they end reads the runs that ended lately once more
    assert len(simulator.requests) <= 2 * lists + len(by_status) + unlisted + len(confirmed) + report["settling"]
    assert len(by_status) <= 2 * pages_per_status
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
    small_pages(monkeypatch, provider, 50)  # more pages to fail between
    load_runs(providers=[provider])
    simulator.clock.advance(40 * 60)
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "2")
    simulator.faults.extend([None, None, None] + [Fault(500)] * 40)  # a few requests succeed, then all fail
    summary = load_runs(providers=[provider])
    assert summary.nothing_loaded and all("HTTP 500" in f["reason"] for o in summary.failed for f in o.failures)
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
    assert refresh_report(summary, provider)["following"] == len(open_now)
    for name, report in summary.open_runs_refresh.items():
        assert f"{name}: " in str(summary) and f"following {report['following']:,} open runs until they end" in str(
            summary
        )

    # The runs to follow are the open rows themselves: the state holds only the ids of the
    # re-read window, all created within it.
    resources = make_pipeline("duckdb", DATASET_NAME)[0].state["sources"]["agent_runs"]["resources"]
    for name, run_list in zip(listing_state_names(provider), PROVIDERS[provider].lists, strict=True):
        state = resources[name]
        assert set(state) <= {
            "incremental",
            "newest_created_at",
            "recent_runs",
            "last_refresh",
            "listed_open",
            "steps_from",
            "steps_read",
        }
        family = [row for (owner, _), row in rows.items() if owner == provider and row["run_family"] == run_list.name]
        window_start = max(row["created_at"] for row in family) - RELIST_LAG
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
