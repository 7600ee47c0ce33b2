"""The load partitioned by account, for Dagster (`pip install "agent-runs[dagster]"`):

    dagster dev -m agent_runs.integrations.dagster_partitions

One partition per configured account (`<provider>.<account>`, `default` for a provider's own
key), so Dagster runs the accounts as separate runs on any executor and machine (multiprocess
here; Kubernetes, Celery or Docker in production) and a failed account fails its partition alone.
Each partition is its own dlt pipeline (`agent_runs_<destination>_<dataset>_<provider>_<account>`:
its own state and cursor) with its own staging dataset, so partitions merging into the one `runs`
table at once never share a staging table. The analytics views are (re)created by one step after
them, `agent_runs_views`. Where the runs go is the run's config (`destination`, `dataset`); the keys
and the destination's credentials come from the environment or `.dlt/`, as for `agent-runs load`.
(No `from __future__ import annotations`: Dagster reads the annotations at run time.)
"""

import dagster as dg

from agent_runs.loading.loaded import has_loaded
from agent_runs.loading.pipeline import create_views, load_runs, make_pipeline
from agent_runs.resources.source import agent_runs_source, configured_accounts
from agent_runs.settings import DATASET_NAME, TABLE_NAME

GROUP = "agent_runs_by_account"


class Where(dg.Config):
    """Where the runs are loaded: a dlt destination and a dataset, as `--destination`, `--dataset`."""

    destination: str = "duckdb"
    dataset: str = DATASET_NAME


def account_keys() -> list[str]:
    """`<provider>.<account>` of every configured account (none configured: none)."""
    try:
        return [f"{account.provider.name}.{account.name}" for account in configured_accounts(None, None)]
    except ValueError:  # no key at all: a code location with no partition yet
        return []


def pipeline_name(where: Where, key: str) -> str:
    """Each account's own pipeline: its own state and cursor."""
    return f"agent_runs_{where.destination}_{where.dataset}_{key.replace('.', '_')}"


def accounts_partitions() -> dg.StaticPartitionsDefinition:
    return dg.StaticPartitionsDefinition(account_keys())


def load_of_one_account(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(name="agent_runs_account", partitions_def=partitions, group_name=GROUP)
    def agent_runs_account(context: dg.AssetExecutionContext, config: Where) -> dg.MaterializeResult:
        """The runs of one account, merged into `runs`: new ones and the open ones brought up to date."""
        provider, account = context.partition_key.split(".", 1)
        summary = load_runs(
            source=agent_runs_source(providers=[provider], account_names=[account]),
            destination=config.destination,
            dataset_name=config.dataset,
            pipeline_name=pipeline_name(config, context.partition_key),
            staging_layout=f"%s_staging_{provider}_{account}",
            views=False,
        )
        if summary.failed:
            raise dg.Failure(description="\n".join(summary.failure_lines()))
        return dg.MaterializeResult(metadata={"runs loaded": summary.total_runs, "seconds": round(summary.seconds, 2)})

    return agent_runs_account


def views_step(load: dg.AssetsDefinition) -> dg.AssetsDefinition:
    @dg.asset(name="agent_runs_views", deps=[load], group_name=GROUP)
    def agent_runs_views(config: Where) -> None:
        """The analytics views beside `runs`, once the accounts' partitions are loaded (through
        the pipeline of an account that has loaded: it knows the table's schema)."""
        for key in account_keys():
            pipeline, _ = make_pipeline(config.destination, config.dataset, pipeline_name(config, key))
            if has_loaded(pipeline, TABLE_NAME):
                create_views(pipeline)
                return

    return agent_runs_views


@dg.definitions
def defs() -> dg.Definitions:
    """Built when Dagster loads the code location, so the accounts are read then, not at import."""
    load = load_of_one_account(accounts_partitions())
    return dg.Definitions(assets=[load, views_step(load)])
