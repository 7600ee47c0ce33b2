"""Dagster assets for the agent-runs source, with a daily schedule (`pip install "agent-runs[dagster]"`):

    dagster dev -m agent_runs.integrations.dagster_assets

One asset per dlt resource (each account's listing and its open-runs refresh, materialising the
unified `runs` table, and `run_steps`, the steps they read); the analytics views are refreshed after each run. An account that fails
(a revoked key, an outage) fails the run, naming it, after every other account was loaded. An asset check,
`table_equals_api`, runs `verify_runs` (the table compared with what the APIs say now). A last
step, `agent_runs_dbt`, builds the dbt package after them (`agent-runs transform`; needs the
`[dbt]` extra). Keys and the destination's credentials come from the environment or `.dlt/`, as
for `agent-runs load`.
(No `from __future__ import annotations`: Dagster reads the context annotation at run time.)
"""

from collections.abc import Iterator
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext
from dagster_dlt import DagsterDltResource, dlt_assets

from agent_runs.analytics.transform import transform_runs
from agent_runs.loading.pipeline import as_delta_tables, create_views, finish_interrupted_load, make_pipeline
from agent_runs.loading.summary import account_outcomes, failure_lines
from agent_runs.loading.verify import verify_runs
from agent_runs.resources.source import agent_runs_source
from agent_runs.rows.schema import json_text_is_intended
from agent_runs.settings import DATASET_NAME

DAILY_AT = "0 6 * * *"  # 06:00 every day, in the schedule's time zone (UTC unless set)
GROUP = "agent_runs"


def agent_runs_assets(destination: str = "duckdb", dataset_name: str = DATASET_NAME) -> dg.AssetsDefinition:
    pipeline, _ = make_pipeline(destination, dataset_name)

    @dlt_assets(dlt_source=agent_runs_source(), dlt_pipeline=pipeline, name="agent_runs", group_name=GROUP)
    def assets(context: AssetExecutionContext, dlt_resource: DagsterDltResource) -> Iterator[Any]:
        finish_interrupted_load(pipeline)  # else dlt would load only what a killed run left, and stop
        # A fresh source each run: a dlt source object is spent once it has been extracted.
        source = agent_runs_source()
        as_delta_tables(source.resources.values(), pipeline)  # files keep the merge, as a load's do
        with json_text_is_intended():
            yield from dlt_resource.run(context=context, dlt_source=source)
        create_views(pipeline)
        failed = [outcome for outcome in account_outcomes(pipeline, source, {}) if outcome.failures]
        if failed:  # the others were loaded and committed; the run fails, naming what did not load
            raise dg.Failure(description="\n".join(failure_lines(failed)), metadata={"accounts": len(failed)})

    return assets


def verify_check(
    assets: dg.AssetsDefinition, destination: str = "duckdb", dataset_name: str = DATASET_NAME
) -> dg.AssetChecksDefinition:
    """`table_equals_api` on every asset of the `runs` table: passes when verify finds no drift."""
    specs = [dg.AssetCheckSpec("table_equals_api", asset=key) for key in assets.keys]

    @dg.multi_asset_check(specs=specs, name="agent_runs_table_equals_api")
    def table_equals_api() -> Iterator[dg.AssetCheckResult]:
        report = verify_runs(destination=destination, dataset_name=dataset_name)
        for key in assets.keys:
            yield dg.AssetCheckResult(
                asset_key=key,
                check_name="table_equals_api",
                passed=not report.drifted,
                metadata={"report": dg.MetadataValue.text(str(report)[-4000:])},
            )

    return table_equals_api


def dbt_step(
    assets: dg.AssetsDefinition, destination: str = "duckdb", dataset_name: str = DATASET_NAME
) -> dg.AssetsDefinition:
    """`agent_runs_dbt`: the dbt package's models and tests, after every asset of the `runs` table;
    a failed model or test fails the step, naming it."""

    @dg.asset(name="agent_runs_dbt", deps=list(assets.keys), group_name=GROUP)
    def agent_runs_dbt() -> dg.MaterializeResult:
        report = transform_runs(destination=destination, dataset_name=dataset_name)
        return dg.MaterializeResult(
            metadata={
                "schema": report.schema,
                "models": len(report.models),
                "tests": len(report.tests),
                "warnings": ", ".join(report.warned) or "none",
            }
        )

    return agent_runs_dbt


daily_schedule = dg.ScheduleDefinition(
    name="agent_runs_daily", target=dg.AssetSelection.groups(GROUP), cron_schedule=DAILY_AT
)


@dg.definitions
def defs() -> dg.Definitions:
    """Built when Dagster loads the code location, so the keys are read then, not at import."""
    assets = agent_runs_assets()
    return dg.Definitions(
        assets=[assets, dbt_step(assets)],
        asset_checks=[verify_check(assets)],
        resources={"dlt_resource": DagsterDltResource()},
        schedules=[daily_schedule],
    )
