"""Contract tests: the official SDKs page through the simulators and validate every run; the
documented filters, limits and errors behave as the providers' reference pages say."""

from __future__ import annotations

import time
from datetime import datetime

import browserbase as browserbase_sdk
import pytest
import requests
import tinyfish as tinyfish_sdk
from browser_use_sdk.generated.v2.models import AccountNotFoundError
from tinyfish._utils.exceptions import AuthenticationError, BadRequestError
from tinyfish.runs.types import Run as TinyFishRun

from agent_runs.simulators import BrowserbaseSimulator, Fault, TinyFishSimulator
from agent_runs.simulators.browser_use import BrowserUseSimulator
from agent_runs.simulators.skyvern import CHAIN, SkyvernSimulator
from tests.sdk_views import browserbase_runs, skyvern_client, skyvern_workflow_runs, tinyfish_runs


def test_tinyfish_sdk_reads_every_run_and_filter(tinyfish: TinyFishSimulator) -> None:
    runs = tinyfish_runs(tinyfish)
    visible = len(tinyfish.current_runs())
    assert len(runs) == visible > 100 and len({run.run_id for run in runs}) == visible  # every page
    assert [run.created_at for run in runs] == sorted((run.created_at for run in runs), reverse=True)  # default desc
    ascending = tinyfish_runs(tinyfish, sort_direction="asc")
    assert [run.run_id for run in ascending] == [run.run_id for run in reversed(runs)]
    failed = tinyfish_runs(tinyfish, status="FAILED")
    assert failed and all(run.status == "FAILED" and run.error is not None for run in failed)
    assert {run.run_id for run in tinyfish_runs(tinyfish, goal="LINKEDIN")} == {
        run.run_id for run in runs if "linkedin" in run.goal.lower()
    }
    pivot = runs[100].created_at.isoformat()
    after = tinyfish_runs(tinyfish, created_after=pivot)
    before = tinyfish_runs(tinyfish, created_before=pivot)
    assert all(run.created_at > runs[100].created_at for run in after)  # exclusive
    assert all(run.created_at < runs[100].created_at for run in before)
    at_pivot = sum(run.created_at == runs[100].created_at for run in runs)
    assert len(after) + len(before) + at_pivot == len(runs)


def test_tinyfish_rejects_what_the_api_rejects(tinyfish: TinyFishSimulator) -> None:
    sdk = tinyfish_sdk.TinyFish(api_key=tinyfish.api_key, base_url=tinyfish.base_url)
    with pytest.raises(BadRequestError):
        sdk.runs.list(limit=101)
    with pytest.raises(BadRequestError):
        sdk.runs.list(cursor="bm90LWEtY3Vyc29y")
    with pytest.raises(BadRequestError):
        sdk.runs.list(goal="x" * 501)
    with pytest.raises(AuthenticationError):
        tinyfish_sdk.TinyFish(api_key="wrong", base_url=tinyfish.base_url).runs.list()


def test_browserbase_sdk_reads_every_run_and_filter(browserbase: BrowserbaseSimulator) -> None:
    runs = browserbase_runs(browserbase)
    visible = len(browserbase.current_runs())
    assert len(runs) == visible > 100 and len({run.run_id for run in runs}) == visible  # every page
    paused = browserbase_runs(browserbase, status="PAUSED")
    assert all(run.status == "PAUSED" for run in paused)
    agent = browserbase_runs(browserbase, agent_id="agent_2")
    assert agent and {run.run_id for run in agent} == {run.run_id for run in runs if run.agent_id == "agent_2"}
    pivot = sorted(run.created_at for run in runs)[len(runs) // 2]
    start = browserbase_runs(browserbase, start_at=pivot)
    end = browserbase_runs(browserbase, end_at=pivot)
    assert all(run.created_at >= pivot for run in start) and all(run.created_at <= pivot for run in end)
    assert len(start) + len(end) == len(runs) + sum(run.created_at == pivot for run in runs)  # both inclusive
    ad_hoc = next(record for record in browserbase.current_runs() if "agentId" not in record)
    assert "agentId" not in ad_hoc  # optional keys are absent, not null


def test_browserbase_rejects_what_the_api_rejects(browserbase: BrowserbaseSimulator) -> None:
    client = browserbase_sdk.Browserbase(api_key=browserbase.api_key, base_url=browserbase.base_url)
    with pytest.raises(browserbase_sdk.BadRequestError):
        client.agents.runs.list(limit=1001)
    with pytest.raises(browserbase_sdk.AuthenticationError):
        browserbase_sdk.Browserbase(api_key="wrong", base_url=browserbase.base_url).agents.runs.list()


def test_runs_move_over_simulated_time() -> None:
    with TinyFishSimulator(runs=50, future_runs=20, seed=3) as simulator:
        before = {record["run_id"]: record for record in simulator.current_runs()}
        assert len(before) == 50 and any(record["status"] in ("PENDING", "RUNNING") for record in before.values())
        simulator.clock.advance(2 * 3600)
        after = {record["run_id"]: record for record in simulator.current_runs()}
    assert len(after) == 70
    finished = [run_id for run_id, record in before.items() if record["status"] != after[run_id]["status"]]
    assert finished and all(after[run_id]["finished_at"] for run_id in finished)


def test_cursors_are_opaque_base64_and_timestamps_vary_in_format(tinyfish: TinyFishSimulator) -> None:
    body = requests.get(
        f"{tinyfish.base_url}/v1/runs", params={"limit": 5}, headers={"X-API-Key": tinyfish.api_key}, timeout=5
    ).json()
    assert set("+/=") & set(body["pagination"]["next_cursor"])
    suffixes = {record["created_at"][-6:] for record in tinyfish.current_runs()}
    assert any(s.endswith("+00:00") for s in suffixes) and any(s.endswith("Z") for s in suffixes)
    assert all(datetime.fromisoformat(record["created_at"]) for record in tinyfish.current_runs())


def test_injected_faults_answer_as_configured(tinyfish: TinyFishSimulator) -> None:
    tinyfish.faults.append(Fault(429, retry_after="2"))
    tinyfish.faults.append(Fault(503))
    headers = {"X-API-Key": tinyfish.api_key}
    first = requests.get(f"{tinyfish.base_url}/v1/runs", headers=headers, timeout=5)
    second = requests.get(f"{tinyfish.base_url}/v1/runs", headers=headers, timeout=5)
    third = requests.get(f"{tinyfish.base_url}/v1/runs", headers=headers, timeout=5)
    assert (first.status_code, first.headers["Retry-After"]) == (429, "2")
    assert second.status_code == 503 and third.status_code == 200


def test_a_key_over_its_request_rate_is_refused_at_once_with_retry_after() -> None:
    """A token bucket per key: a second's worth of requests, then 429 with Retry-After, answered
    without the page's latency; the bucket refills at the rate."""
    with TinyFishSimulator(api_key="k", runs=10, rate_limit=5, latency_s=0.05) as simulator:
        session = requests.Session()
        session.headers["X-API-Key"] = "k"
        answers = [session.get(f"{simulator.base_url}/v1/runs", params={"limit": 1}) for _ in range(8)]
        statuses = [answer.status_code for answer in answers]
        assert statuses[:5] == [200] * 5 and 429 in statuses[5:]
        refused = next(answer for answer in answers if answer.status_code == 429)
        assert refused.headers["Retry-After"] == "1" and refused.elapsed.total_seconds() < 0.05
        time.sleep(1.0)
        assert session.get(f"{simulator.base_url}/v1/runs", params={"limit": 1}).status_code == 200


# The fields of a step, as the OpenAPI copy of TinyFish's API lists them (the SDK has no step model).
TINYFISH_STEP_KEYS = {"id", "timestamp", "status", "action", "screenshot", "duration"}


def test_tinyfish_reads_by_id_and_in_batches_add_steps_and_a_presigned_recording(tinyfish: TinyFishSimulator) -> None:
    sdk = tinyfish_sdk.TinyFish(api_key=tinyfish.api_key, base_url=tinyfish.base_url)
    ended = [run for run in tinyfish_runs(tinyfish) if run.finished_at is not None][:150]
    one = sdk.runs.get(ended[0].run_id)  # the SDK's model reads the fuller shape
    assert one.run_id == ended[0].run_id
    headers = {"X-API-Key": tinyfish.api_key}
    raw = requests.get(f"{tinyfish.base_url}/v1/runs/{ended[0].run_id}", headers=headers, timeout=10).json()
    assert raw["steps"] and {frozenset(step) for step in raw["steps"]} == {frozenset(TINYFISH_STEP_KEYS)}
    assert raw["steps"][0]["screenshot"].startswith("data:image/jpeg;base64,")
    assert len(raw["steps"]) == raw["num_of_steps"]
    ids = [run.run_id for run in ended[:99]] + ["not-a-run"]
    batch = requests.post(f"{tinyfish.base_url}/v1/runs/batch", json={"run_ids": ids}, headers=headers, timeout=10)
    body = batch.json()
    assert batch.status_code == 200 and body["not_found"] == ["not-a-run"] and len(body["data"]) == 99
    runs = [TinyFishRun.model_validate(record) for record in body["data"]]
    assert [run.run_id for run in runs] == ids[:99]
    signed = [record["video_url"] for record in body["data"] if record["video_url"]]
    assert signed and all("X-Amz-Expires=900" in url and "X-Amz-Signature=" in url for url in signed)
    too_many = {"run_ids": [run.run_id for run in ended[:101]]}
    assert (
        requests.post(f"{tinyfish.base_url}/v1/runs/batch", json=too_many, headers=headers, timeout=10).status_code
        == 400
    )
    assert (
        requests.post(
            f"{tinyfish.base_url}/v1/runs/batch", json={"run_ids": []}, headers=headers, timeout=10
        ).status_code
        == 400
    )


def test_skyvern_search_finds_the_newer_runs_that_name_a_run_first(skyvern: SkyvernSimulator) -> None:
    client = skyvern_client(skyvern)
    head = next(run for run in skyvern.visible_runs() if run.family == "workflows" and run.index % CHAIN == 0)
    found = client.get_workflow_runs(search_key=head.run_id, page_size=100)  # validated by the SDK's model
    ids = [run.workflow_run_id for run in found]
    assert head.run_id in ids and ids.index(head.run_id) > 0  # runs of its chain come before it
    workflows = skyvern_workflow_runs(skyvern)
    assert any(run.browser_address and "token=" in run.browser_address for run in workflows)
    assert any(run.cached_credits_used for run in workflows)


def test_browser_use_answers_an_account_gone_with_account_not_found(browser_use: BrowserUseSimulator) -> None:
    browser_use.account_gone = True
    answer = requests.get(
        f"{browser_use.base_url}/api/v2/tasks/x", headers={"X-Browser-Use-API-Key": browser_use.api_key}, timeout=10
    )
    assert answer.status_code == 404
    assert AccountNotFoundError.model_validate(answer.json()).detail == "Account not found"
