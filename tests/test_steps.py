"""run_steps: each provider's steps as its published models describe them (the SDKs' models are the
oracles of the simulators' shapes), mapped to one row a step; read once a run has ended, written
whole with the run's row, never holding a secret; off with `steps=False`, and backfilled once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from agent_runs.loading.pipeline import load_runs
from agent_runs.providers import PROVIDERS
from agent_runs.rows.from_steps import scrubbed, seconds, step_rows, unsigned
from agent_runs.simulators import Fault
from tests.utils import TERMINAL, assert_steps_equal_api, read_runs, read_steps

EVERY_RUN = "2000-01-01"


def steps_of(simulator: Any, run_list: str, path: str) -> Any:
    """A step endpoint's answer for an ended run of the run list, as the API sends it."""
    run = next(
        run
        for run in simulator.history
        if run.family in ("", run_list)
        and run.phase(simulator.clock.now_us) in ("completed", "failed")
        and run.steps > 3
    )
    return run, path.format(run_id=run.run_id)


def answer(simulator: Any, path: str, params: dict[str, str] | None = None) -> Any:
    import requests

    response = requests.get(
        simulator.base_url + path, params=params or {}, headers={simulator.auth_header: simulator.api_key}, timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_the_simulators_serve_steps_in_the_shapes_the_sdks_read(
    browserbase: Any, browser_use: Any, skyvern: Any, tinyfish: Any
) -> None:
    from browser_use_sdk.generated.v2.models import TaskStepView
    from browser_use_sdk.generated.v4.models import RunEventsResponse
    from browserbase.types.agents.run_list_messages_response import RunListMessagesResponse
    from skyvern.client.types.workflow_run_timeline import WorkflowRunTimeline
    from skyvern.forge.sdk.models import Step

    run, path = steps_of(browserbase, "", "/v1/agents/runs/{run_id}/messages")
    body = RunListMessagesResponse.model_validate(answer(browserbase, path, {"all": "true"}))
    assert [message.id for message in body.data] == browserbase.step_ids(run, browserbase.clock.now_us)
    page = RunListMessagesResponse.model_validate(answer(browserbase, path, {"since": body.data[1].id, "limit": "2"}))
    assert [message.id for message in page.data] == [message.id for message in body.data[2:4]]

    run, path = steps_of(browser_use, "v2_tasks", "/api/v2/tasks/{run_id}")
    steps = [TaskStepView.model_validate(step) for step in answer(browser_use, path)["steps"]]
    assert [step.number for step in steps] == list(range(1, run.steps + 1))
    run, path = steps_of(browser_use, "v4_runs", "/api/v4/runs/{run_id}/events")
    events = RunEventsResponse.model_validate(answer(browser_use, path, {"limit": "3"}))
    assert len(events.events) == 3 and events.has_more and events.next_after == events.events[-1].id

    run, path = steps_of(skyvern, "workflows", "/v1/runs/{run_id}/timeline")
    nodes = [WorkflowRunTimeline.model_validate(node) for node in answer(skyvern, path)]
    thoughts = [child for node in nodes for child in node.children or []]
    assert len(thoughts) == run.steps and all(child.type == "thought" for child in thoughts)
    run, path = steps_of(skyvern, "tasks", "/api/v1/tasks/{run_id}/steps")
    task_steps = [Step.model_validate(step) for step in answer(skyvern, path)]
    assert [step.order for step in task_steps] == list(range(run.steps))

    run, path = steps_of(tinyfish, "", "/v1/runs/{run_id}")
    assert len(answer(tinyfish, path)["steps"]) == run.steps  # `num_of_steps` of the run


def test_a_timeline_is_flattened_with_parents_and_ordered_by_time() -> None:
    run_list = PROVIDERS["skyvern"].lists[0]
    thought = {"thought_id": "oth_1", "created_at": "2026-01-01T00:00:02", "input_token_count": 5, "thought_cost": 0.5}
    later_block = {"workflow_run_block_id": "wrb_2", "label": "b", "created_at": "2026-01-01T00:00:09"}
    first_block = {"workflow_run_block_id": "wrb_1", "label": "a", "status": "failed", "failure_reason": "no form"}
    first_block |= {"created_at": "2026-01-01T00:00:01", "duration": 2.5}
    timeline = [  # newest first, as the API may list it
        {"type": "block", "block": later_block, "children": []},
        {"type": "block", "block": first_block, "children": [{"type": "thought", "thought": thought, "children": []}]},
    ]
    rows = step_rows(run_list, "default", {"wr_1": timeline}).to_pylist()
    by_id = {row["step_id"]: row for row in rows}
    assert [row["step_id"] for row in sorted(rows, key=lambda row: row["step_index"])] == ["wrb_1", "oth_1", "wrb_2"]
    assert by_id["oth_1"]["parent_step_id"] == "wrb_1" and by_id["oth_1"]["kind"] == "thought"
    assert by_id["oth_1"]["input_tokens"] == 5 and str(by_id["oth_1"]["cost_usd"]) == "0.500000000"
    assert by_id["wrb_1"]["error_message"] == "no form" and by_id["wrb_1"]["duration_s"] == 2.5
    assert by_id["wrb_1"]["status"] == "failed" and by_id["wrb_1"]["action"] == "a"


def test_a_step_never_keeps_base64_content_a_signed_url_or_a_declared_secret() -> None:
    signed = "https://bucket.s3.amazonaws.com/shot.png?X-Amz-Expires=900&X-Amz-Signature=abc"
    assert unsigned(signed) == "https://bucket.s3.amazonaws.com/shot.png"
    assert unsigned("https://example.com/search?q=shoes") == "https://example.com/search?q=shoes"
    kept = scrubbed(
        {"file": {"data": "iVBORw0KGgo" + "A" * 600}, "link": signed, "screenshot": "x", "note": "ok"}, ("screenshot",)
    )
    assert kept == {"file": {}, "link": "https://bucket.s3.amazonaws.com/shot.png", "note": "ok"}
    assert seconds("1.2s", "text") == 1.2 and seconds("350ms", "text") == 0.35 and seconds("soon", "text") is None


@pytest.mark.runs(
    tinyfish=300, browserbase=300, browser_use=300, skyvern=300
)  # each run's steps are the point, not how many runs
def test_every_ended_run_has_exactly_its_steps_and_each_step_its_run(
    provider_env: dict[str, str], simulators: dict[str, Any], workdir: Path
) -> None:
    summary = load_runs(steps_since=EVERY_RUN)
    database = workdir / "agent-runs.duckdb"
    assert_steps_equal_api(database, simulators)
    steps = read_steps(database)
    assert {provider for provider, _ in steps} == set(PROVIDERS)
    ended = sum(1 for row in read_runs(database).values() if row["status"] in TERMINAL)
    assert sum(outcome.runs_steps_read for outcome in summary.accounts) == ended
    with duckdb.connect(str(database), read_only=True) as connection:
        extras = " ".join(
            text for (text,) in connection.execute("SELECT extra FROM agent_runs.run_steps").fetchall() if text
        )
        indexes = connection.execute(
            "SELECT count(*) FROM (SELECT run_id, max(step_index) + 1 AS top, count(*) AS n, count(DISTINCT step_id) AS ids"
            " FROM agent_runs.run_steps GROUP BY provider, run_id) WHERE top <> n OR ids <> n"
        ).fetchone()
    assert indexes == (0,), "step_index is 0..n-1 and step_id unique within each run"
    for secret in ("X-Amz-Signature", "iVBORw0KGgo", "screenshotUrl"):
        assert secret not in extras

    for simulator in simulators.values():
        simulator.clock.advance(3 * 3600)  # runs end, new ones arrive
    again = load_runs()
    assert_steps_equal_api(database, simulators)
    newly_ended = sum(outcome.runs_steps_read for outcome in again.accounts)
    assert 0 < newly_ended < ended, "only the runs that ended since are read"
    quiet = load_runs()
    assert sum(outcome.runs_steps_read for outcome in quiet.accounts) == 0


def test_steps_are_read_from_the_first_load_with_steps_on_and_backfilled_once(
    provider_env: dict[str, str], tinyfish: Any, workdir: Path
) -> None:
    database = workdir / "agent-runs.duckdb"
    load_runs(providers=["tinyfish"], steps=False)
    assert (
        not duckdb.connect(str(database), read_only=True)
        .execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'run_steps'")
        .fetchone()[0]
    )
    first = load_runs(providers=["tinyfish"])  # steps from now on: nothing in the history is read
    assert first.accounts[0].runs_steps_read == 0
    tinyfish.clock.advance(3 * 3600)
    load_runs(providers=["tinyfish"])
    ended_since = read_steps(database)
    assert ended_since, "runs that ended after the first load with steps have their steps"
    backfill = load_runs(providers=["tinyfish"], steps_since=EVERY_RUN)
    assert backfill.accounts[0].runs_steps_read > len(ended_since)
    assert_steps_equal_api(database, {"tinyfish": tinyfish})
    repeated = load_runs(providers=["tinyfish"], steps_since=EVERY_RUN)
    assert repeated.accounts[0].runs_steps_read == 0, "a backfill from the same date is done once"


def test_a_failed_steps_read_fails_the_account_and_writes_none_of_its_runs(
    provider_env: dict[str, str], browserbase: Any, tinyfish: Any, workdir: Path
) -> None:
    database = workdir / "agent-runs.duckdb"
    calls = {"n": 0}

    def outage_of_messages(path: str, params: dict[str, str]) -> None:
        if path.endswith("/messages"):
            calls["n"] += 1
            browserbase.faults.append(Fault(500))

    browserbase.on_request = outage_of_messages
    summary = load_runs(steps_since=EVERY_RUN, providers=["tinyfish", "browserbase"])
    failed = {outcome.provider: outcome for outcome in summary.failed}
    assert set(failed) == {"browserbase"} and calls["n"] > 0
    assert "messages" in json.dumps(failed["browserbase"].failures)
    runs = read_runs(database)
    ended_without_steps = [key for key, row in runs.items() if key[0] == "browserbase" and row["status"] in TERMINAL]
    assert not ended_without_steps, "no browserbase run is written ended without its steps"

    browserbase.on_request = None
    load_runs(steps_since=EVERY_RUN, providers=["tinyfish", "browserbase"])
    assert_steps_equal_api(database, {"tinyfish": tinyfish, "browserbase": browserbase})


@pytest.mark.runs(browserbase=150, skyvern=150)  # five reads of every run's steps
def test_verify_finds_steps_that_drifted_and_repairs_them(
    provider_env: dict[str, str], browserbase: Any, skyvern: Any, workdir: Path
) -> None:
    from agent_runs.loading.verify import verify_runs

    load_runs(providers=["browserbase", "skyvern"], steps_since=EVERY_RUN)
    assert not verify_runs(providers=["browserbase", "skyvern"]).drifted
    database = workdir / "agent-runs.duckdb"
    with duckdb.connect(str(database)) as connection:
        (edited,) = connection.execute(
            "SELECT run_id FROM agent_runs.run_steps WHERE provider = 'skyvern' ORDER BY run_id LIMIT 1"
        ).fetchone()
        connection.execute(
            "UPDATE agent_runs.run_steps SET action = 'edited' WHERE run_id = ? AND step_index = 0", [edited]
        )
        (emptied,) = connection.execute(
            "SELECT run_id FROM agent_runs.run_steps WHERE provider = 'browserbase' ORDER BY run_id LIMIT 1"
        ).fetchone()
        connection.execute("DELETE FROM agent_runs.run_steps WHERE run_id = ?", [emptied])
    report = verify_runs(providers=["browserbase", "skyvern"])
    drifts = {drift.run_id for each in report.lists for drift in each.drifts if drift.kind == "steps_differ"}
    assert drifts == {edited, emptied}
    assert verify_runs(providers=["browserbase", "skyvern"], repair=True).repaired == 2
    assert not verify_runs(providers=["browserbase", "skyvern"]).drifted
    assert_steps_equal_api(database, {"browserbase": browserbase, "skyvern": skyvern})
