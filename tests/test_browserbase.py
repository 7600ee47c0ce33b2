"""Browserbase: a full load equals the API's view, field for field (read through the official
SDK), whatever order the API pages in."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_runs.loading.pipeline import load_runs
from agent_runs.providers.browserbase import BROWSERBASE
from agent_runs.rows.mapping import unified_status
from agent_runs.simulators import BrowserbaseSimulator
from tests.sdk_views import browserbase_runs
from tests.utils import BROWSERBASE_KEY, assert_table_equals_api, read_runs, small_pages

LIST = BROWSERBASE.lists[0]


@pytest.mark.parametrize("order", ["newest_first", "run_id"])
def test_full_load_equals_the_api_field_for_field(workdir: Path, monkeypatch: pytest.MonkeyPatch, order: str) -> None:
    with BrowserbaseSimulator(api_key=BROWSERBASE_KEY, runs=2300, seed=5, order=order, new_fields=True) as simulator:
        monkeypatch.setenv("BROWSERBASE_API_KEY", BROWSERBASE_KEY)
        monkeypatch.setenv("BROWSERBASE_BASE_URL", simulator.base_url)
        summary = load_runs()
        api_runs = browserbase_runs(simulator)
        raw_by_id = {record["runId"]: record for record in simulator.current_runs()}

    rows = read_runs(workdir / "agent-runs.duckdb")
    assert summary.runs_by_provider == {"browserbase": 2300} and len(api_runs) == 2300
    assert set(rows) == {("browserbase", run.run_id) for run in api_runs}
    statuses = {"STOPPED": "cancelled", "TIMED_OUT": "timed_out", "PAUSED": "paused"}
    for run in api_runs:
        row = rows["browserbase", run.run_id]
        assert row["provider_status"] == run.status
        assert row["status"] == statuses.get(run.status, run.status.lower())
        assert row["task"] == run.task
        assert row["created_at"] == run.created_at
        assert row["updated_at"] == run.updated_at
        assert row["started_at"] == run.started_at
        assert row["finished_at"] == run.ended_at
        assert row["result"] == run.result
        assert row["result_schema"] == run.result_schema
        assert row["error_code"] == (run.cause.code if run.cause else None)
        assert row["error_message"] == (run.cause.message if run.cause else None)
        assert row["agent_id"] == run.agent_id
        assert row["session_id"] == run.session_id
        assert row["sandbox_id"] == run.sandbox_id
        assert (row["num_steps"], row["error_category"], row["streaming_url"], row["proxy_enabled"]) == (None,) * 4
        if run.started_at and run.ended_at:
            assert row["duration_s"] == (run.ended_at - run.started_at).total_seconds()
        raw = raw_by_id[run.run_id]
        assert row["extra"] == ({key: raw[key] for key in ("priority", "labels") if key in raw} or None)
    assert {row["status"] for row in rows.values()} >= {"completed", "failed", "cancelled", "timed_out", "running"}


@pytest.mark.parametrize("order", ["newest_first", "run_id"])
def test_a_long_first_load_that_looks_newest_first_is_walked_as_windows_back_in_time(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, order: str
) -> None:
    """No flags, pages that keep us waiting: if the first page looks newest first, the range is cut
    into windows back in time from it (no probes), each walked whole; a list in another order is
    one walk. Either way every run once, field for field; an hour later the load is one page."""
    small_pages(monkeypatch, "browserbase", 50)
    with BrowserbaseSimulator(api_key=BROWSERBASE_KEY, runs=2300, seed=8, order=order) as simulator:
        monkeypatch.setenv("BROWSERBASE_API_KEY", BROWSERBASE_KEY)
        monkeypatch.setenv("BROWSERBASE_BASE_URL", simulator.base_url)
        simulator.latency_s = 0.05
        load_runs()
        assert_table_equals_api(workdir, "browserbase", simulator)
        listing = [request for request in simulator.requests if request.path == LIST.runs_path]
        listing = [request for request in listing if "status" not in request.params]
        windows = {(request.params.get("startAt"), request.params.get("endAt")) for request in listing}
        if order == "newest_first":
            assert len(windows) > 8 and not [request for request in listing if request.params["limit"] == "1"]
            # The first page, read again, and runs on a boundary (both of the API's bounds are inclusive)
            assert sum(request.records for request in listing) <= 2300 + 50 + len(windows)
        else:
            assert windows == {(None, None)}  # one walk

        simulator.requests.clear()
        simulator.clock.advance(3600)
        load_runs()
        assert_table_equals_api(workdir, "browserbase", simulator)
        listing = [request for request in simulator.requests if request.path == LIST.runs_path]
        listing = [request for request in listing if "status" not in request.params]
        assert len(listing) == 1 and "endAt" not in listing[0].params


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
    assert unified_status(raw, BROWSERBASE.lists[0].status_map) == unified
