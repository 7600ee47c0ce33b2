"""One account's failure never holds back the others: with TinyFish's key revoked, or its API down,
Browserbase's new and ended runs still load in the same load; the command exits 4 and names what
failed (never the key); TinyFish's rows and cursor stay as they were, and the first good load
after makes the table exact. With every account failing, the load exits 1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dlt
import pytest

from agent_runs.loading.pipeline import load_runs
from agent_runs.simulators import BrowserbaseSimulator, Fault, TinyFishSimulator
from tests.utils import agent_runs, assert_table_equals_api, read_runs

PIPELINE = "agent_runs_duckdb_agent_runs"


def listing_state(workdir: Path) -> dict[str, Any]:
    pipeline = dlt.attach(PIPELINE, pipelines_dir=str(workdir / "dlt-data" / "pipelines"))
    state = pipeline.state["sources"]["agent_runs"]["resources"]["tinyfish_runs"]
    return {key: value for key, value in state.items() if key != "last_failures"}


def break_it(how: str, tinyfish: TinyFishSimulator) -> None:
    if how == "revoked key":
        tinyfish.api_key = "revoked"  # the API no longer takes the key the connector has: 401
    else:
        tinyfish.faults.extend([Fault(500)] * 200)  # down: 500 to everything, beyond the retries


@pytest.mark.parametrize("how", ["revoked key", "outage"])
def test_one_account_failing_holds_back_no_other(
    how: str,
    provider_env: dict[str, str],
    tinyfish: TinyFishSimulator,
    browserbase: BrowserbaseSimulator,
    workdir: Path,
) -> None:
    env = {**{key: value for key, value in provider_env.items() if "TINYFISH" in key or "BROWSERBASE" in key}}
    env["RUNTIME__REQUEST_MAX_ATTEMPTS"] = "2"
    key = tinyfish.api_key
    assert agent_runs(workdir, "load", env=env).returncode == 0
    before = {k: row for k, row in read_runs(workdir / "agent-runs.duckdb").items() if k[0] == "tinyfish"}
    state_before = listing_state(workdir)
    for simulator in (tinyfish, browserbase):
        simulator.clock.advance(3 * 3600)  # new runs arrive, open ones end, on both
    break_it(how, tinyfish)

    failed = agent_runs(workdir, "load", "--json", "-", env=env)
    assert failed.returncode == 4, failed.stderr
    summary = json.loads(failed.stdout)
    outcomes = {outcome["provider"]: outcome for outcome in summary["accounts"]}
    assert summary["status"] == "partial" and outcomes["browserbase"]["status"] == "ok"
    assert outcomes["browserbase"]["runs_loaded"] > 0 and outcomes["browserbase"]["open_runs_refreshed"] > 0
    assert outcomes["tinyfish"]["status"] == "failed" and outcomes["tinyfish"]["runs_loaded"] == 0
    errors = " ".join(error["reason"] for error in outcomes["tinyfish"]["errors"])
    assert ("401" in errors) if how == "revoked key" else ("500" in errors)
    assert (
        "FAILED: TinyFish (account default) listing /v1/runs" in failed.stderr
    )  # the summary, on stderr with --json -
    assert key not in failed.stdout + failed.stderr
    assert_table_equals_api(workdir, "browserbase", browserbase)  # new and ended runs, in this load
    after = {k: row for k, row in read_runs(workdir / "agent-runs.duckdb").items() if k[0] == "tinyfish"}
    assert after == before and listing_state(workdir) == state_before  # rows and cursor as they were

    tinyfish.api_key, tinyfish.faults[:] = key, []
    recovered = agent_runs(workdir, "load", env=env)
    assert recovered.returncode == 0, recovered.stderr
    assert_table_equals_api(workdir, "tinyfish", tinyfish)
    assert_table_equals_api(workdir, "browserbase", browserbase)


def test_every_account_failing_exits_1_and_python_callers_get_the_failures(
    provider_env: dict[str, str], tinyfish: TinyFishSimulator, workdir: Path
) -> None:
    env = {key: value for key, value in provider_env.items() if "TINYFISH" in key}
    tinyfish.api_key = "revoked"
    failed = agent_runs(workdir, "load", env=env)
    assert failed.returncode == 1 and "TinyFish (account default) listing /v1/runs failed" in failed.stderr
    summary = load_runs(providers=["tinyfish"])
    assert summary.nothing_loaded and [outcome.provider for outcome in summary.failed] == ["tinyfish"]


def test_a_provider_without_a_key_is_not_a_warning_every_hour(
    provider_env: dict[str, str], tinyfish: TinyFishSimulator, workdir: Path
) -> None:
    env = {key: value for key, value in provider_env.items() if "TINYFISH" in key}
    quiet = agent_runs(workdir, "load", env=env)
    assert quiet.returncode == 0 and "Skipping" not in quiet.stderr and "WARNING" not in quiet.stderr
    assert "Skipping Browserbase: no API key" in agent_runs(workdir, "-v", "load", env=env).stderr  # said with -v
