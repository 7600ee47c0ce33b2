"""Browser Use Cloud: both run families load field for field as the official SDK reads them; an
incremental load asks only for what is new (v2: a frozen window from the cursor, then the re-read
window; v4: newest first until past the cursor); a long v2 walk asks for its pages at once; open
runs are followed until they end; a Zero Data Retention project loads its v2 tasks and skips v4;
a bad key fails clearly."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from agent_runs.errors import ProviderError
from agent_runs.loading.pipeline import load_runs
from agent_runs.providers.browser_use import BROWSER_USE
from agent_runs.rows.from_pages import page_rows
from agent_runs.sending.by_id import fetched_by_id
from agent_runs.sending.transport import runs_client
from agent_runs.settings import RELIST_LAG
from agent_runs.simulators.browser_use import JUDGE_DELAY_S, JUDGED_EVERY, RUNS, TASKS, BrowserUseSimulator
from tests.sdk_views import browser_use_runs, browser_use_tasks
from tests.utils import BROWSER_USE_KEY, agent_runs, assert_table_equals_api, read_runs, small_pages

V2, V4 = BROWSER_USE.lists


def env_of(simulator: BrowserUseSimulator) -> dict[str, str]:
    return {"BROWSER_USE_API_KEY": simulator.api_key, "BROWSER_USE_BASE_URL": simulator.base_url}


def test_full_load_equals_what_the_sdk_reads(
    provider_env: dict[str, str], browser_use: BrowserUseSimulator, workdir: Path
) -> None:
    summary = load_runs(providers=["browser_use"])
    tasks, runs = browser_use_tasks(browser_use), browser_use_runs(browser_use)  # every page validates
    rows = read_runs(workdir / "agent-runs.duckdb")
    assert summary.runs_by_provider == {"browser_use": len(tasks) + len(runs)} and tasks and runs
    assert set(rows) == {("browser_use", str(item.id)) for item in [*tasks, *runs]}
    for task in tasks:
        row = rows["browser_use", str(task.id)]
        assert (row["run_family"], row["provider_status"], row["task"]) == ("v2_tasks", task.status.value, task.task)
        assert row["status"] == {"created": "pending", "started": "running", "finished": "completed"}.get(
            task.status.value, {"stopped": "cancelled"}.get(task.status.value, task.status.value)
        )
        assert (row["created_at"], row["started_at"], row["finished_at"]) == (
            task.created_at,
            task.started_at,
            task.finished_at,
        )
        output = json.loads(task.output) if task.output and task.output.startswith("{") else task.output
        assert (row["result"], row["session_id"], row["updated_at"]) == (output, str(task.session_id), None)
        # What it cost, which model ran it, whether it reached its goal (the judge's verdict where it
        # ruled, else the agent's): as the SDK reads them.
        verdict, by = (task.judge_verdict, "judge") if task.judge_verdict is not None else (task.is_success, "agent")
        assert (row["model"], row["cost_usd"], row["goal_achieved"], row["goal_verdict_by"]) == (
            task.llm,
            Decimal(task.cost.root),
            verdict,
            by if verdict is not None else None,
        )
        assert not {"llm", "cost", "isSuccess", "judgeVerdict"} & set(row["extra"] or {})
    for run in runs:
        row = rows["browser_use", str(run.id)]
        assert (row["run_family"], row["provider_status"], row["task"]) == ("v4_runs", run.status.value, run.task)
        assert (row["created_at"], row["updated_at"], row["started_at"]) == (run.created_at, run.updated_at, None)
        assert (row["result"], row["result_schema"], row["error_message"]) == (run.result, run.output_schema, run.error)
        assert (row["model"], row["cost_usd"], row["goal_achieved"]) == (run.model, Decimal(run.total_cost_usd), None)
        assert (row["input_tokens"], row["output_tokens"]) == (run.total_input_tokens, run.total_output_tokens)
        assert "totalCostUsd" not in row["extra"] and "judgement" in row["extra"]
    assert_table_equals_api(workdir, "browser_use", browser_use)


def test_an_incremental_load_asks_only_for_what_is_new(
    provider_env: dict[str, str], browser_use: BrowserUseSimulator, workdir: Path
) -> None:
    load_runs(providers=["browser_use"])
    newest = {
        family: max(
            row["created_at"]
            for row in read_runs(workdir / "agent-runs.duckdb").values()
            if row["run_family"] == family
        )
        for family in ("v2_tasks", "v4_runs")
    }
    browser_use.requests.clear()
    browser_use.clock.advance(20 * 60)  # the future runs of the fixture appear, open runs move on
    load_runs(providers=["browser_use"])
    assert_table_equals_api(workdir, "browser_use", browser_use)

    v2 = [request for request in browser_use.requests if request.path == V2.runs_path]
    probe, *walks = [request for request in v2 if "filterBy" not in request.params]
    assert probe.params == {"pageSize": "1"}  # the server's clock (its Date header) freezes the walk
    window_from = (newest["v2_tasks"] - RELIST_LAG - timedelta(milliseconds=1)).isoformat().replace("+00:00", "Z")
    assert {request.params["after"] for request in walks} <= {window_from, walks[-1].params["after"]}
    assert walks[0].params["after"] == window_from and "before" in walks[0].params
    assert "before" not in walks[-1].params  # the re-read window before the load: a short walk of its own
    assert len(walks) <= 3  # twenty minutes of tasks: a page, and the re-read window's
    assert {request.params["filterBy"] for request in v2 if "filterBy" in request.params} == {"created", "started"}

    v4 = [request for request in browser_use.requests if request.path == V4.runs_path]
    assert len(v4) == 1 and "cursor" not in v4[0].params  # newest first: the first page already reaches the cursor
    fetched = [request for request in browser_use.requests if request.path.startswith(f"{V4.runs_path}/")]
    assert fetched  # v4 open runs: one request each (no status filter)


def test_a_long_v2_walk_asks_for_its_pages_at_once_and_an_hourly_one_does_not(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The first page says how many tasks the frozen window holds, and it kept us waiting: the
    other pages are asked for at once (several in flight), each once, saying how far they are;
    every task is loaded once."""
    small_pages(monkeypatch, "browser_use", 10)
    monkeypatch.setattr("agent_runs.settings.WALK_PROGRESS_EVERY_S", 0.0)  # every time: the test does not wait
    caplog.set_level(logging.INFO, logger="agent_runs")
    with BrowserUseSimulator(api_key=BROWSER_USE_KEY, runs=400, seed=3) as simulator:
        for name, value in env_of(simulator).items():
            monkeypatch.setenv(name, value)
        simulator.latency_s = 0.05
        load_runs(providers=["browser_use"])
        assert_table_equals_api(workdir, "browser_use", simulator)
        tasks = sum(run.family == TASKS for run in simulator.visible_runs())
        frozen = [
            request
            for request in simulator.requests
            if request.path == V2.runs_path and "before" in request.params and "filterBy" not in request.params
        ]
        numbers = [int(request.params["pageNumber"]) for request in frozen]
        assert sorted(numbers) == list(range(1, len(numbers) + 1))  # each page once
        assert len(numbers) >= tasks // 10 - 1  # a long walk, not cut short
        assert simulator.most_in_flight > 2  # at once
        said = [record.getMessage() for record in caplog.records if "of the pages walked" in record.getMessage()]
        shares = [int(message.split(": ")[-1].split(" %")[0]) for message in said]
        assert shares == sorted(shares) and shares[-1] >= 90 and any("s left" in message for message in said)

        simulator.requests.clear()
        simulator.clock.advance(3600)
        load_runs(providers=["browser_use"])
        assert_table_equals_api(workdir, "browser_use", simulator)
        v2 = [request for request in simulator.requests if request.path == V2.runs_path]
        walks = [request for request in v2 if "filterBy" not in request.params and "after" in request.params]
        assert len(walks) == 2  # an hour of tasks: the frozen window's page and the re-read window's


def test_open_runs_are_followed_until_they_end(
    provider_env: dict[str, str], browser_use: BrowserUseSimulator, workdir: Path
) -> None:
    load_runs(providers=["browser_use"])
    stuck = [run for run in browser_use.visible_runs() if run.finished_us is None]
    assert {run.family for run in stuck} == {"v2_tasks", "v4_runs"}
    browser_use.clock.advance(30 * 86400)
    load_runs(providers=["browser_use"])
    for run in stuck:
        browser_use.end_run(run.run_id, "cancelled")
    load_runs(providers=["browser_use"])
    rows = assert_table_equals_api(workdir, "browser_use", browser_use)
    assert {rows["browser_use", run.run_id]["status"] for run in stuck} == {"cancelled"}


def test_a_zero_data_retention_project_loads_its_tasks_and_skips_v4_runs(
    workdir: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    with BrowserUseSimulator(api_key=BROWSER_USE_KEY, runs=300, seed=21, zdr=True) as simulator:
        for name, value in env_of(simulator).items():
            monkeypatch.setenv(name, value)
        with caplog.at_level(logging.WARNING, logger="agent_runs"):
            summary = load_runs(providers=["browser_use"])
        tasks = [run for run in simulator.visible_runs() if run.family == "v2_tasks"]
        rows = read_runs(workdir / "agent-runs.duckdb")
        assert summary.runs_by_provider == {"browser_use": len(tasks)}
        assert {run_id for _, run_id in rows} == {run.run_id for run in tasks}
        assert "/api/v4/runs answered HTTP 403 although the key works" in caplog.text


def test_a_bad_key_fails_the_load_clearly(workdir: Path, browser_use: BrowserUseSimulator) -> None:
    result = agent_runs(workdir, "load", env={**env_of(browser_use), "BROWSER_USE_API_KEY": "bu_wrong"})
    assert result.returncode == 1
    assert "Browser Use rejected the API key (HTTP 401 on /api/v2/tasks)" in result.stderr
    assert "BROWSER_USE_API_KEY" in result.stderr and "bu_wrong" not in result.stderr


def test_a_page_without_its_runs_fails_clearly(workdir: Path, browser_use: BrowserUseSimulator) -> None:
    from agent_runs.simulators import Fault

    browser_use.faults.extend([None, Fault(200, body=b'{"nextCursor": null, "hasMore": false}')] + [None] * 50)
    result = agent_runs(workdir, "load", env=env_of(browser_use))
    assert result.returncode == 1
    assert "Browser Use: a page without a" in result.stderr


def test_naive_timestamps_read_as_utc() -> None:
    """The v2 spec says "naive UTC": a timestamp without an offset is UTC."""
    table = page_rows(V2, [{"id": "t", "createdAt": "2026-03-01T10:00:00.123456", "status": "created"}], "test")
    assert table["created_at"][0].as_py().isoformat() == "2026-03-01T10:00:00.123456+00:00"


@pytest.mark.parametrize("family", [TASKS, RUNS])
def test_a_verdict_and_a_bill_given_after_the_run_ended_reach_the_table(
    family: str, provider_env: dict[str, str], browser_use: BrowserUseSimulator, workdir: Path
) -> None:
    """A judge rules on a task or run minutes after it ended, and a v4 run's judge is billed to it
    (cost and tokens grow; v4 has no finished time): the load that saw it end has no verdict yet;
    the next ones read runs that ended lately again (LATE_FILL_FOR; v4 by `updated_at`), so the
    table catches both."""
    load_runs(providers=["browser_use"])
    now = browser_use.clock.now_us
    judged = [
        run
        for run in browser_use.history  # runs created later too: they end later
        if run.family == family
        and run.index % JUDGED_EVERY == 1
        and run.outcome == "completed"
        and run.finished_us is not None
        and run.finished_us > now
    ]
    waiting = min(judged, key=lambda run: run.finished_us)  # the next judged run to end
    browser_use.clock.advance((waiting.finished_us - now) / 1_000_000 + 1)
    load_runs(providers=["browser_use"])  # it ended: loaded without a verdict
    before = read_runs(workdir / "agent-runs.duckdb")["browser_use", waiting.run_id]
    assert before["status"] == "completed"
    browser_use.clock.advance(JUDGE_DELAY_S)
    summary = load_runs(providers=["browser_use"])
    rows = assert_table_equals_api(workdir, "browser_use", browser_use)
    after = rows["browser_use", waiting.run_id]
    if family == TASKS:
        assert (before["goal_verdict_by"], after["goal_verdict_by"]) == ("agent", "judge")
    else:
        assert before["extra"]["judgement"] is None and after["extra"]["judgement"] is not None
        assert after["cost_usd"] > before["cost_usd"] and after["input_tokens"] > before["input_tokens"]
    assert summary.open_runs_refresh[f"browser_use_{family}"]["settling"] >= 1


def test_a_404_about_the_account_never_flags_a_run_gone(
    provider_env: dict[str, str], browser_use: BrowserUseSimulator, workdir: Path
) -> None:
    """Browser Use answers 404 `Account not found` (`AccountNotFoundError`) when the key's account
    is gone: a read by id that meets it fails, naming the cause, instead of flagging the run."""
    load_runs(providers=["browser_use"])
    before = read_runs(workdir / "agent-runs.duckdb")
    browser_use.account_gone = True
    task = next(run_id for (_, run_id), row in before.items() if row["run_family"] == TASKS)
    with pytest.raises(ProviderError, match="Account not found"):
        client = runs_client(browser_use.base_url, BROWSER_USE.api_key_header, browser_use.api_key)
        list(fetched_by_id(V2, lambda: client, [task]))
    summary = load_runs(providers=["browser_use"])
    assert summary.nothing_loaded and all(
        "Account not found" in f["reason"] for o in summary.failed for f in o.failures
    )
    after = read_runs(workdir / "agent-runs.duckdb")
    assert after == before and not any(row["missing_from_api_at"] for row in after.values())
