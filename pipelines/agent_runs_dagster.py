"""Example: agent-runs as Dagster assets with a daily schedule (`pip install "agent-runs[dagster,dbt]"`),
loading into a dataset of its own, then building the dbt package on it:

    dagster dev -f pipelines/agent_runs_dagster.py

(`dagster dev -m agent_runs.integrations.dagster_assets` serves the same assets into the default dataset.)
"""

import dagster as dg
from dagster_dlt import DagsterDltResource

from agent_runs.integrations.dagster_assets import agent_runs_assets, daily_schedule, dbt_step


@dg.definitions
def defs() -> dg.Definitions:
    """Built when Dagster loads the file, so the keys are read then, not at import."""
    assets = agent_runs_assets(destination="duckdb", dataset_name="agent_runs")
    return dg.Definitions(
        assets=[assets, dbt_step(assets, destination="duckdb", dataset_name="agent_runs")],
        resources={"dlt_resource": DagsterDltResource()},
        schedules=[daily_schedule],
    )
