"""The Dagster integration, in process: the assets materialise the `runs` table from the
simulators (and again, incrementally, after runs finish), and the daily schedule targets them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster_dlt import DagsterDltResource

from agent_runs.analytics.views import ALL_VIEWS
from agent_runs.integrations.dagster_assets import (
    DAILY_AT,
    agent_runs_assets,
    daily_schedule,
    dbt_step,
    defs,
    verify_check,
)
from agent_runs.loading.pipeline import make_pipeline
from agent_runs.providers import PROVIDERS
from tests.utils import assert_table_equals_api, cli_env, resource_names

POSTGRES = os.environ.get("AGENT_RUNS_TEST_POSTGRES")


def test_assets_materialise_the_runs_table_and_keep_it_current(
    provider_env: dict[str, str], simulators: dict[str, Any], workdir: Path
) -> None:
    assets = agent_runs_assets()
    assert {key.path[-1] for key in assets.keys} == {f"dlt_agent_runs_{name}" for name in resource_names(PROVIDERS)}
    for _ in range(2):  # a first load; then runs finish and new ones arrive
        result = dg.materialize([assets], resources={"dlt_resource": DagsterDltResource()})
        assert result.success
        for provider, simulator in simulators.items():
            assert_table_equals_api(workdir, provider, simulator)
            simulator.clock.advance(40 * 60)


@pytest.mark.runs(tinyfish=150, browserbase=150, browser_use=150, skyvern=150)
def test_assets_into_files_keep_one_row_a_run_in_a_delta_table(
    provider_env: dict[str, str], simulators: dict[str, Any], workdir: Path
) -> None:
    """Into the filesystem destination the assets merge as `agent-runs load` does: a Delta table,
    upserted (plain Parquet files would only be appended to: a refreshed run twice)."""
    from deltalake import DeltaTable

    assets = agent_runs_assets(destination="filesystem")
    for second in (False, True):  # a first load; then runs finish and new ones arrive
        if second:
            for simulator in simulators.values():
                simulator.clock.advance(40 * 60)
        assert dg.materialize([assets], resources={"dlt_resource": DagsterDltResource()}).success
    rows = DeltaTable(str(workdir / "agent-runs-files" / "agent_runs" / "runs")).to_pyarrow_table(
        columns=["provider", "run_id", "status"]
    )
    keys = list(zip(rows["provider"].to_pylist(), rows["run_id"].to_pylist(), strict=True))
    assert len(keys) == len(set(keys)), "one row a run"
    statuses = dict(zip(keys, rows["status"].to_pylist(), strict=True))
    for provider, simulator in simulators.items():
        truth = simulator.current_truth()
        mine = {run_id: status for (name, run_id), status in statuses.items() if name == provider}
        assert mine == {run_id: want["status"] for run_id, want in truth.items()}, provider


def test_an_account_that_fails_fails_the_run_after_the_others_loaded(
    provider_env: dict[str, str], simulators: dict[str, Any], workdir: Path
) -> None:
    simulators["tinyfish"].api_key = "revoked"
    result = dg.materialize(
        [agent_runs_assets()], resources={"dlt_resource": DagsterDltResource()}, raise_on_error=False
    )
    assert not result.success
    (failure,) = [event for event in result.all_events if event.is_step_failure]
    assert "TinyFish (account default) listing /v1/runs" in str(failure.step_failure_data.error)
    for provider in ("browserbase", "browser_use", "skyvern"):
        assert_table_equals_api(workdir, provider, simulators[provider])


def test_the_dbt_step_builds_the_package_after_the_load(
    provider_env: dict[str, str], simulators: dict[str, Any], workdir: Path
) -> None:
    assets = agent_runs_assets()
    step = dbt_step(assets)
    result = dg.materialize([assets, step], resources={"dlt_resource": DagsterDltResource()})
    assert result.success
    (materialization,) = result.asset_materializations_for_node("agent_runs_dbt")
    assert (
        materialization.metadata["models"].value == len(ALL_VIEWS)
        and materialization.metadata["warnings"].value == "none"
    )


def test_the_asset_check_runs_verify(provider_env: dict[str, str], simulators: dict[str, Any], workdir: Path) -> None:
    """With the assets, `table_equals_api` passes after a load; it fails once the API moved on."""
    assets = agent_runs_assets()
    check = verify_check(assets)
    result = dg.materialize([assets, check], resources={"dlt_resource": DagsterDltResource()})
    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) == len(assets.keys) and all(evaluation.passed for evaluation in evaluations)
    next(iter(simulators.values())).removed.update(
        run.run_id for run in next(iter(simulators.values())).visible_runs()[:3]
    )
    result = dg.materialize(
        [check], resources={"dlt_resource": DagsterDltResource()}, selection=dg.AssetSelection.all_asset_checks()
    )
    evaluations = result.get_asset_check_evaluations()
    assert evaluations and not any(evaluation.passed for evaluation in evaluations)


def test_daily_schedule_and_definitions_load(provider_env: dict[str, str], workdir: Path) -> None:
    assert daily_schedule.cron_schedule == DAILY_AT
    definitions = defs()
    assert definitions.get_schedule_def("agent_runs_daily").cron_schedule == DAILY_AT
    materialised = [key for key in definitions.resolve_all_asset_keys() if key.path[-1].startswith("dlt_agent_runs_")]
    assert len(materialised) == len(resource_names(PROVIDERS))
    assert dg.AssetKey("agent_runs_dbt") in definitions.resolve_all_asset_keys()


@pytest.mark.skipif(not POSTGRES, reason="AGENT_RUNS_TEST_POSTGRES is not set (.ci/run starts a PostgreSQL server)")
@pytest.mark.long
def test_accounts_load_as_partitions_at_once_into_one_table(
    provider_env: dict[str, str], simulators: dict[str, Any], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each account is a partition: four Dagster runs, each its own process, merge into one
    PostgreSQL table at the same time (each its own pipeline and staging dataset); the table then
    equals every API, and a partition whose key was revoked fails alone."""
    dataset = f"agent_runs_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", POSTGRES or "")
    env = cli_env(
        {**provider_env, "DESTINATION__POSTGRES__CREDENTIALS": POSTGRES or "", "DAGSTER_HOME": str(workdir)}, workdir
    )
    (workdir / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    simulators["skyvern"].api_key = "revoked"
    config = json.dumps({"ops": {"agent_runs_account": {"config": {"destination": "postgres", "dataset": dataset}}}})
    dagster = str(Path(sys.executable).with_name("dagster"))
    # The instance's own storage is made once, before the runs share it.
    subprocess.run([dagster, "instance", "migrate"], cwd=workdir, env=env, check=True, capture_output=True)
    runs = {
        key: subprocess.Popen(
            [dagster, "asset", "materialize", "-m", "agent_runs.integrations.dagster_partitions", "--select", "agent_runs_account",
             "--partition", key, "--config-json", config],
            cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for key in (f"{provider}.default" for provider in PROVIDERS)
    }  # fmt: skip
    outputs = {key: run.communicate(timeout=600)[0] for key, run in runs.items()}
    failed = {key for key, run in runs.items() if run.returncode != 0}
    assert failed == {"skyvern.default"}, {key: outputs[key][-2000:] for key in failed}
    assert "Skyvern (account default) listing" in outputs["skyvern.default"]
    try:
        rows = postgres_runs(dataset)
        for provider in ("tinyfish", "browserbase", "browser_use"):
            truth = simulators[provider].current_truth()
            mine = {run_id: row for (name, run_id), row in rows.items() if name == provider}
            assert set(mine) == set(truth) and truth, provider
            assert all(mine[run_id]["status"] == want["status"] for run_id, want in truth.items()), provider
        assert not [key for key in rows if key[0] == "skyvern"]
    finally:
        pipeline, _ = make_pipeline("postgres", dataset)
        with pipeline.sql_client() as client:
            client.drop_dataset()
            for provider in PROVIDERS:
                client.execute_sql(f"DROP SCHEMA IF EXISTS {dataset}_staging_{provider}_default CASCADE")


def postgres_runs(dataset: str) -> dict[tuple[str, str], dict[str, Any]]:
    import psycopg2

    with psycopg2.connect(POSTGRES) as connection, connection.cursor() as cursor:
        cursor.execute(f"SELECT provider, run_id, status FROM {dataset}.runs")
        keyed = {}
        for provider, run_id, status in cursor.fetchall():
            assert (provider, run_id) not in keyed, "a run twice"
            keyed[provider, run_id] = {"status": status}
    return keyed
