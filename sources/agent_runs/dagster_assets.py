"""Dagster assets for the agent-runs source, with a daily schedule (`pip install "agent-runs[dagster]"`):

    dagster dev -m agent_runs.dagster_assets

One asset per dlt resource (each provider's listing and its open-runs refresh), all materialising
the unified `runs` table; the analytics views are refreshed after each run. Keys and the
destination's credentials come from the environment or `.dlt/`, as for `agent-runs load`.
(No `from __future__ import annotations`: Dagster reads the context annotation at run time.)
"""

from collections.abc import Iterator
from typing import Any

import dagster as dg
import dlt
from dagster import AssetExecutionContext
from dagster_dlt import DagsterDltResource, dlt_assets

from .pipeline import create_views, finish_interrupted_load, make_pipeline
from .settings import DATASET_NAME
from .source import agent_runs_source

DAILY_AT = "0 6 * * *"  # 06:00 every day, in the schedule's time zone (UTC unless set)
GROUP = "agent_runs"


def agent_runs_assets(destination: str = "duckdb", dataset_name: str = DATASET_NAME) -> dg.AssetsDefinition:
    pipeline, _ = make_pipeline(destination, dataset_name)

    @dlt_assets(dlt_source=agent_runs_source(), dlt_pipeline=pipeline, name="agent_runs", group_name=GROUP)
    def assets(context: AssetExecutionContext, dlt_resource: DagsterDltResource) -> Iterator[Any]:
        dlt.config["normalize.parquet_normalizer.add_dlt_load_id"] = True  # as `agent-runs load` does
        finish_interrupted_load(pipeline)  # else dlt would load only what a killed run left, and stop
        # A fresh source each run: a dlt source object is spent once it has been extracted.
        yield from dlt_resource.run(context=context, dlt_source=agent_runs_source())
        create_views(pipeline)

    return assets


daily_schedule = dg.ScheduleDefinition(
    name="agent_runs_daily", target=dg.AssetSelection.groups(GROUP), cron_schedule=DAILY_AT
)


@dg.definitions
def defs() -> dg.Definitions:
    """Built when Dagster loads the code location, so the keys are read then, not at import."""
    return dg.Definitions(
        assets=[agent_runs_assets()], resources={"dlt_resource": DagsterDltResource()}, schedules=[daily_schedule]
    )
