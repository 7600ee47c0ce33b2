"""Example pipelines using the agent-runs source (run one: `python pipelines/agent_runs_pipeline.py`).

Keys come from the environment (TINYFISH_API_KEY, BROWSERBASE_API_KEY, ...) or .dlt/secrets.toml.
"""

import dlt

from agent_runs import agent_runs_source, create_views, finish_interrupted_load, json_text_is_intended, load_runs


def load_everything() -> None:
    """What `agent-runs load` does: new runs of every configured provider, open runs brought up
    to date, into ./agent-runs.duckdb, with the analytics views."""
    print(load_runs())


def load_into_own_pipeline() -> None:
    """The source in a pipeline of your own (named unlike its dataset: DuckDB names the file after it)."""
    pipeline = dlt.pipeline("agent_runs_hourly", destination="duckdb", dataset_name="agent_runs")
    finish_interrupted_load(pipeline)  # else dlt's run would only load what a killed run left
    with json_text_is_intended():  # dlt would warn, per batch, that JSON columns arrive as JSON text
        print(pipeline.run(agent_runs_source()))
    create_views(pipeline)


def backfill_one_provider() -> None:
    """One provider's history from a date, walked as eight created-at windows at once."""
    print(load_runs(providers=["browserbase"], since="2026-01-01", workers=8))


if __name__ == "__main__":
    load_everything()
