"""`agent-runs demo`: every provider's simulator on loopback, loaded into ./agent-runs.duckdb, no
keys needed."""

from __future__ import annotations

from contextlib import ExitStack

from agent_runs.loading.pipeline import load_runs, make_pipeline
from agent_runs.loading.summary import LoadSummary
from agent_runs.providers import PROVIDERS
from agent_runs.resources.source import agent_runs_source
from agent_runs.settings import TABLE_NAME
from agent_runs.simulators import simulator_class
from agent_runs.simulators.core import Character

DEMO_RUNS_PER_PROVIDER = 3000
DEMO_DATASET = "agent_runs_demo"
# Each platform as its own: a share of the runs (of DEMO_RUNS_PER_PROVIDER), how its runs go, a seed.
DEMO_PLATFORMS = (
    (1.0, Character(failed=0.07, cancelled=0.03, timed_out=0.01, longest_work_s=300), 7),
    (0.5, Character(failed=0.19, cancelled=0.09, timed_out=0.06, longest_work_s=1800), 8),
    (1.4, Character(failed=0.11, cancelled=0.04, timed_out=0.0, longest_work_s=900), 9),
    (0.7, Character(failed=0.24, cancelled=0.05, timed_out=0.08, longest_work_s=3600), 10),
)


def run_demo(
    runs_per_provider: int = DEMO_RUNS_PER_PROVIDER, dataset_name: str = DEMO_DATASET, progress: bool = False
) -> LoadSummary:
    """Start every provider's simulator on loopback, load them into ./agent-runs.duckdb from scratch.
    The providers differ as real ones do: in volume, outcome shares, durations and costs.

    Args:
        runs_per_provider: runs of history a simulator generates (each provider a share of it).
        dataset_name: the dataset to load (its pipeline is the one `agent-runs report` reads).
        progress: report progress on stderr every few seconds.
    """
    with ExitStack() as running:
        simulators = {
            name: running.enter_context(
                simulator_class(name)(runs=max(1, int(runs_per_provider * share)), character=character, seed=seed)
            )
            for name, (share, character, seed) in zip(PROVIDERS, DEMO_PLATFORMS, strict=True)
        }
        source = agent_runs_source(
            api_keys={name: simulator.api_key for name, simulator in simulators.items()},
            base_urls={name: simulator.base_url for name, simulator in simulators.items()},
            steps_since="2000-01-01",  # the steps of every run in the history, not only of those ending from now
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
