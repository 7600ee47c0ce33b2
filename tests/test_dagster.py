"""The Dagster integration, in process: the assets materialise the `runs` table from the
simulators (and again, incrementally, after runs finish), and the daily schedule targets them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dlt import DagsterDltResource

from agent_runs.dagster_assets import DAILY_AT, agent_runs_assets, daily_schedule, dbt_step, defs, verify_check
from agent_runs.providers import PROVIDERS
from agent_runs.views import VIEWS
from tests.utils import assert_table_equals_api, resource_names


def test_assets_materialise_the_runs_table_and_keep_it_current(
    provider_env: dict[str, str], simulators: dict[str, Any], workdir: Path
) -> None:
    assets = agent_runs_assets()
    assert {key.path[-1] for key in assets.keys} == {
        f"dlt_agent_runs_{name}" for provider in PROVIDERS for name in resource_names(provider)
    }
    for _ in range(2):  # a first load; then runs finish and new ones arrive
        result = dg.materialize([assets], resources={"dlt_resource": DagsterDltResource()})
        assert result.success
        for provider, simulator in simulators.items():
            assert_table_equals_api(workdir, provider, simulator)
            simulator.clock.advance(40 * 60)


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
        materialization.metadata["models"].value == len(VIEWS) and materialization.metadata["warnings"].value == "none"
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
    assert len(materialised) == sum(len(resource_names(provider)) for provider in PROVIDERS)
    assert dg.AssetKey("agent_runs_dbt") in definitions.resolve_all_asset_keys()
