"""`agent-runs demo`: every provider's simulator on loopback, loaded into ./agent-runs.duckdb, no
keys needed."""

from __future__ import annotations

from contextlib import ExitStack

from .pipeline import LoadSummary, load_runs, make_pipeline
from .providers import PROVIDERS
from .settings import TABLE_NAME
from .simulators import simulator_class
from .source import agent_runs_source

DEMO_RUNS_PER_PROVIDER = 3000
DEMO_DATASET = "agent_runs_demo"


def run_demo(
    runs_per_provider: int = DEMO_RUNS_PER_PROVIDER, dataset_name: str = DEMO_DATASET, progress: bool = False
) -> LoadSummary:
    """Start every provider's simulator on loopback, load them into ./agent-runs.duckdb from scratch.

    Args:
        runs_per_provider: runs of history each simulator generates.
        dataset_name: the dataset to load (its pipeline is the one `agent-runs report` reads).
        progress: report progress on stderr every few seconds.
    """
    with ExitStack() as running:
        simulators = {name: running.enter_context(simulator_class(name)(runs=runs_per_provider)) for name in PROVIDERS}
        source = agent_runs_source(
            api_keys={name: simulator.api_key for name, simulator in simulators.items()},
            base_urls={name: simulator.base_url for name, simulator in simulators.items()},
        )
        return load_runs(
            source=source,
            destination="duckdb",
            dataset_name=dataset_name,
            full_refresh=True,  # the pipeline of `--dataset agent_runs_demo`, so `agent-runs report` finds it
            progress=progress,
        )


def status_counts(summary: LoadSummary) -> list[tuple[str, str, int]]:
    """(provider, status, runs) from the loaded table: the demo's sample query."""
    pipeline, _ = make_pipeline(summary.destination, summary.dataset_name, summary.pipeline_name)
    with pipeline.sql_client() as client:
        rows = client.execute_sql(
            f"SELECT provider, status, count(*) AS runs FROM {TABLE_NAME} GROUP BY 1, 2 ORDER BY 1, 3 DESC"
        )
    return [(provider, status, int(runs)) for provider, status, runs in rows]
