"""Skyvern: workflow runs and the other run types load field for field as the official SDK reads
them, a task-v2 run once; an incremental load walks newest first only until past the cursor, and
runs that arrive during the walk (pushing rows a page down) are neither doubled nor skipped; open
runs are followed until they end; `/v1/runs`'s reach of 10,000 rows is said; request headers and
webhook secrets are never stored; a bad key (403) fails clearly."""

from __future__ import annotations

import logging
from datetime import UTC
from pathlib import Path

import duckdb
import pytest

from agent_runs.loading.pipeline import load_runs
from agent_runs.loading.verify import verify_runs
from agent_runs.providers.skyvern import OPEN_STATUSES, SKYVERN
from agent_runs.rows.schema import RUNS_COLUMNS
from agent_runs.simulators.skyvern import SkyvernSimulator
from tests.sdk_views import skyvern_client, skyvern_task_runs, skyvern_workflow_runs
from tests.utils import SKYVERN_KEY, agent_runs, assert_table_equals_api, read_runs, runs_requests, small_pages

WORKFLOWS, TASKS = SKYVERN.lists


def env_of(simulator: SkyvernSimulator) -> dict[str, str]:
    return {"SKYVERN_API_KEY": simulator.api_key, "SKYVERN_BASE_URL": simulator.base_url}


def test_full_load_equals_what_the_sdk_reads(
    provider_env: dict[str, str], skyvern: SkyvernSimulator, workdir: Path
) -> None:
    summary = load_runs(providers=["skyvern"])
    workflows = skyvern_workflow_runs(skyvern)  # every page validates against the SDK's models
    everything = skyvern_task_runs(skyvern)
    tasks = [run for run in everything if run.task_run_type not in ("workflow_run", "task_v2")]
    rows = read_runs(workdir / "agent-runs.duckdb")
    assert summary.runs_by_provider == {"skyvern": len(workflows) + len(tasks)}
    # A task-v2 run is listed twice by the API (its workflow run, its tsk_v2_ run): loaded once.
    assert any(run.task_run_type == "task_v2" for run in everything)
    assert set(rows) == {("skyvern", run.workflow_run_id) for run in workflows} | {
        ("skyvern", run.run_id) for run in tasks
    }
    for run in workflows:
        row = rows["skyvern", run.workflow_run_id]
        assert (row["run_family"], row["provider_status"], row["task"]) == ("workflows", run.status, run.workflow_title)
        assert (row["agent_id"], row["error_message"], row["session_id"]) == (
            run.workflow_permanent_id,
            run.failure_reason,
            run.browser_session_id,
        )
        # Naive on the wire, UTC in the table.
        assert row["created_at"].replace(tzinfo=None) == run.created_at and row["created_at"].utcoffset().seconds == 0
        assert row["updated_at"].replace(tzinfo=None) == run.modified_at
        # Credits as billed (both counters, each also in `extra`), never USD.
        assert (row["credits"], row["cost_usd"], row["model"]) == (
            run.credits_used + run.cached_credits_used,
            None,
            None,
        )
        assert (row["extra"]["credits_used"], row["extra"]["cached_credits_used"]) == (
            run.credits_used,
            run.cached_credits_used,
        )
        assert not {"extra_http_headers", "cdp_connect_headers", "webhook_callback_url", "totp_identifier"} & set(
            row["extra"]
        )
    client, lagged = skyvern_client(skyvern), 0
    for run in tasks:
        row = rows["skyvern", run.run_id]
        status, started_at, finished_at = run.status, run.started_at, run.finished_at
        if status in OPEN_STATUSES:  # `/v1/runs`' status is a copy: the run's own read says
            own = client.get_run(run.run_id)  # validated by the SDK's models
            lagged += own.status != status
            status, started_at, finished_at = own.status, own.started_at, own.finished_at
        assert (row["run_family"], row["provider_status"], row["task"]) == ("tasks", status, run.title)
        assert (row["started_at"], row["finished_at"]) == tuple(
            None if moment is None else moment.replace(tzinfo=UTC) for moment in (started_at, finished_at)
        )
        assert row["extra"]["task_run_type"] == run.task_run_type
    assert lagged  # the simulator's list kept some ended runs open
    assert {row["status"] for row in rows.values()} >= {"pending", "running", "completed", "failed", "cancelled"}
    assert_table_equals_api(workdir, "skyvern", skyvern)


def test_secrets_a_run_carries_are_stored_nowhere(
    provider_env: dict[str, str], skyvern: SkyvernSimulator, workdir: Path
) -> None:
    load_runs(providers=["skyvern"])
    with duckdb.connect(str(workdir / "agent-runs.duckdb"), read_only=True) as connection:
        query = "SELECT count(*) FROM agent_runs.runs WHERE CAST(extra AS TEXT) LIKE '%secret-%'"
        leaked = connection.execute(query).fetchall()
    assert leaked == [(0,)]
    # Headers, webhook URLs and CDP addresses with their tokens: in no file (dataset, staging, load
    # packages, state, logs).
    leaks = (b"Bearer secret-", b"token=secret-", b"cdp-secret-", b"/devtools/browser/")
    assert not [
        path for path in workdir.rglob("*") if path.is_file() and any(leak in path.read_bytes() for leak in leaks)
    ]


@pytest.mark.runs(skyvern=1300)  # a walk long enough for runs to arrive during it
def test_runs_arriving_during_the_walk_are_neither_doubled_nor_skipped(
    provider_env: dict[str, str], skyvern: SkyvernSimulator, workdir: Path
) -> None:
    load_runs(providers=["skyvern"])
    history = sum(run.family == "workflows" for run in skyvern.visible_runs())
    skyvern.clock.advance(3600)
    now = skyvern.clock.now_us
    added = skyvern.add_runs([now - offset * 5_000_000 for offset in range(1, 401)])  # the last half hour
    new_workflows = sum(run.family == "workflows" for run in added)
    before_load = {run.run_id for run in skyvern.visible_runs()}
    arrived: list[str] = []

    def arrive(path: str, params: dict[str, str]) -> None:
        if path == WORKFLOWS.runs_path and params.get("page") == "2" and not arrived:
            # runs created now: page 2 starts with rows page 1 has already shown
            arrived.extend(run.run_id for run in skyvern.add_runs([now] * 60))

    skyvern.requests.clear()
    skyvern.on_request = arrive
    load_runs(providers=["skyvern"])
    skyvern.on_request = None
    rows = read_runs(workdir / "agent-runs.duckdb")  # fails on a run loaded twice
    assert arrived and before_load <= {run_id for _, run_id in rows}  # nothing that was there is skipped
    walk = [
        request
        for request in skyvern.requests
        if request.path == WORKFLOWS.runs_path and not {"status", "search_key"} & set(request.params)
    ]
    assert [request.params["page"] for request in walk] == [str(page) for page in range(1, len(walk) + 1)]
    # Newest first, only until the page that reaches the cursor; not the whole history again.
    assert new_workflows // 100 + 1 <= len(walk) <= new_workflows // 100 + 3 < (history + new_workflows) // 100 + 1
    load_runs(providers=["skyvern"])  # the runs created during the walk: the next load has them
    assert_table_equals_api(workdir, "skyvern", skyvern)


@pytest.mark.runs(skyvern=1300)  # open runs beyond the first pages of the open-status listings
def test_open_runs_are_followed_until_they_end(
    provider_env: dict[str, str], skyvern: SkyvernSimulator, workdir: Path
) -> None:
    load_runs(providers=["skyvern"])
    stuck = [run for run in skyvern.visible_runs() if run.finished_us is None]
    assert {run.family for run in stuck} == {"workflows", "tasks"}
    skyvern.clock.advance(20 * 86400)
    skyvern.requests.clear()
    load_runs(providers=["skyvern"])
    searches = [request for request in skyvern.requests if "search_key" in request.params]
    assert all(request.records == 1 for request in searches)  # an ended run found by its id
    for run in stuck:
        skyvern.end_run(run.run_id, "timed_out")
    load_runs(providers=["skyvern"])
    rows = assert_table_equals_api(workdir, "skyvern", skyvern)
    assert {rows["skyvern", run.run_id]["status"] for run in stuck} == {"timed_out"}


def test_a_task_its_list_still_shows_open_is_written_as_its_own_read_says(
    provider_env: dict[str, str], skyvern: SkyvernSimulator, workdir: Path
) -> None:
    """`/v1/runs` keeps the last open status of some task runs that ended: the first load, and
    every later one for the runs it follows, confirm open rows with `GET /v1/runs/{run_id}`, one
    request per open task run."""
    load_runs(providers=["skyvern"])
    assert_table_equals_api(workdir, "skyvern", skyvern)
    skyvern.clock.advance(20 * 86400)  # most open runs end; some of them stay open in the list
    before = read_runs(workdir / "agent-runs.duckdb")
    open_tasks = [
        run_id
        for (_, run_id), row in before.items()
        if row["run_family"] == "tasks" and row["status"] in ("pending", "running", "paused")
    ]
    skyvern.requests.clear()
    load_runs(providers=["skyvern"])
    rows = assert_table_equals_api(workdir, "skyvern", skyvern)
    stale = [run for run in skyvern.visible_runs() if skyvern.lags(run) and run.finished_us is not None]
    assert stale and all(rows["skyvern", run.run_id]["status"] == run.outcome for run in stale)
    # One read at most of each run the table had open or the load listed; among them every one the
    # list still shows open.
    reads = runs_requests(skyvern, "skyvern")  # not the reads of steps
    confirmed = [request.path.removeprefix("/v1/runs/") for request in reads if "/v1/runs/" in request.path]
    new = {run_id for _, run_id in rows.keys() - before.keys()}
    assert len(confirmed) == len(set(confirmed)) and set(confirmed) <= set(open_tasks) | new
    assert {run.run_id for run in stale} & set(open_tasks) <= set(confirmed)


def test_the_reach_of_the_all_runs_list_is_said(
    workdir: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    small_pages(monkeypatch, "skyvern", 20)  # a reach of 2,000 rows: a short test
    with SkyvernSimulator(api_key=SKYVERN_KEY, runs=3300, seed=31) as simulator:
        for name, value in env_of(simulator).items():
            monkeypatch.setenv(name, value)
        with caplog.at_level(logging.WARNING, logger="agent_runs"):
            load_runs(providers=["skyvern"])
        rows = read_runs(workdir / "agent-runs.duckdb")
        assert sum(row["run_family"] == "tasks" for row in rows.values()) == 100 * 20  # the newest 2,000
        assert "/v1/runs shows no page beyond page 100 (2,000 runs): older runs of it cannot be listed" in caplog.text
        assert (
            max(int(request.params["page"]) for request in simulator.requests if request.path == TASKS.runs_path) == 100
        )
        # New runs push loaded ones beyond the reach: verify cannot list them, so it does not call them extra.
        now = simulator.clock.now_us
        simulator.add_runs([now - offset * 1_000_000 for offset in range(600, 0, -1)])
        load_runs(providers=["skyvern"])
        report = verify_runs(providers=["skyvern"])
        (tasks,) = [each for each in report.lists if each.run_family == "tasks"]
        assert not report.drifted and tasks.not_compared > 0, str(report)


def test_a_bad_key_fails_the_load_clearly(workdir: Path, skyvern: SkyvernSimulator) -> None:
    result = agent_runs(workdir, "load", env={**env_of(skyvern), "SKYVERN_API_KEY": "sk-wrong"})
    assert result.returncode == 1
    assert "Skyvern rejected the API key (HTTP 403 on /v1/agents/runs)" in result.stderr
    assert "SKYVERN_API_KEY" in result.stderr and "sk-wrong" not in result.stderr


def test_a_page_that_is_not_a_list_fails_clearly(workdir: Path, skyvern: SkyvernSimulator) -> None:
    from agent_runs.simulators import Fault

    skyvern.faults.extend([None, Fault(200, body=b'{"detail": "maintenance"}')])
    result = agent_runs(workdir, "load", env=env_of(skyvern))
    assert result.returncode == 1
    assert "Skyvern: a page that is not a list of runs" in result.stderr


@pytest.mark.parametrize("naming", [30, 400])
def test_a_run_newer_runs_name_is_found_and_never_flagged_gone(
    naming: int,
    provider_env: dict[str, str],
    skyvern: SkyvernSimulator,
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A search for a run also finds the newer runs that name it among their parameters (retries,
    chains), first: an ended run is paged for (30 newer runs, a third of them in its list: a page of 10
    runs or more past the first) or, beyond the search's pages (400 newer runs), read by
    `GET /v1/runs/{run_id}`; it is never flagged gone."""
    small_pages(monkeypatch, "skyvern", 10)
    load_runs(providers=["skyvern"])
    followed = next(run for run in skyvern.visible_runs() if run.finished_us is None and run.family == "workflows")
    now = skyvern.clock.now_us
    for newer in skyvern.add_runs([now - 1000 + index for index in range(naming)]):
        skyvern.names[newer.run_id] = followed.run_id
    skyvern.end_run(followed.run_id, "completed")
    skyvern.requests.clear()
    load_runs(providers=["skyvern"])
    rows = read_runs(workdir / "agent-runs.duckdb")
    truth = skyvern.current_truth()
    assert {run_id for _, run_id in rows} == set(truth)
    # Read by id, a workflow run has no credits: they stay as last listed (`extra` holds the counters).
    stale = {"credits", "extra"} if naming == 400 else set()
    for run_id, want in truth.items():
        got = {column: rows["skyvern", run_id][column] for column in RUNS_COLUMNS}
        if run_id == followed.run_id:
            assert got["status"] == "completed" and got["missing_from_api_at"] is None
            got |= {column: want[column] for column in stale}
        assert got == want, run_id
    searched = [request for request in skyvern.requests if request.params.get("search_key") == followed.run_id]
    by_id = [request for request in skyvern.requests if request.path == f"/v1/runs/{followed.run_id}"]
    if naming == 30:
        assert 1 < len(searched) < WORKFLOWS.lookup_max_pages and not by_id
    else:
        assert (len(searched), len(by_id)) == (WORKFLOWS.lookup_max_pages, 1)
