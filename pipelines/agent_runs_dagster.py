"""Example: agent-runs as Dagster assets with a daily schedule (`pip install "agent-runs[dagster]"`),
loading into a dataset of its own:

    dagster dev -f pipelines/agent_runs_dagster.py

(`dagster dev -m agent_runs.dagster_assets` serves the same assets into the default dataset.)
"""

import dagster as dg
from dagster_dlt import DagsterDltResource

from agent_runs.dagster_assets import agent_runs_assets, daily_schedule


@dg.definitions
def defs() -> dg.Definitions:
    """Built when Dagster loads the file, so the keys are read then, not at import."""
    return dg.Definitions(
        assets=[agent_runs_assets(destination="duckdb", dataset_name="agent_runs")],
        resources={"dlt_resource": DagsterDltResource()},
        schedules=[daily_schedule],
    )
